/**
 * The trigger file format: one schema is the source of the TypeScript type, of the validation
 * and of the published JSON Schema (`schemas/trigger.schema.json`) that editors use.
 *
 *   id: abandoned-cart
 *   entry: { event: cart_updated, when: event.properties.item_count > 0 }
 *   reentry: 24h                      # never | always | a cooldown
 *   exit_on: [ { event: order_completed } ]
 *   goal: { event: order_completed, within: 72h }
 *   steps:
 *     - send: in_app
 *       template: cart-reminder
 *     - wait: 15m
 *     - send: push
 *       template: cart-push
 *       fallback: [email]
 *       fallback_if_unopened: 1h      # delivered by push but not opened in 1h: email
 *
 * Conditions (`when`) are CEL over `event`, `user` and `now` (docs/conditions.md).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

export const channels = ['in_app', 'push', 'email', 'sms', 'webhook'] as const;
export type Channel = (typeof channels)[number];

const durationPattern = '^\\d+(\\.\\d+)?\\s*(ms|s|m|h|d|w)$';
const Duration = (description: string) => Type.String({ pattern: durationPattern, description });
const Condition = (description: string) => Type.String({ minLength: 1, description: `${description} A CEL expression over event, user and now.` });
const Id = (description: string) => Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$', description });
const ChannelName = Type.Unsafe<Channel>({ type: 'string', enum: [...channels] });

export const EventMatch = Type.Object(
  {
    event: Type.String({ minLength: 1, description: 'Event name (track), or page, screen, identify.' }),
    when: Type.Optional(Condition('Only events for which this is true.')),
  },
  { additionalProperties: false },
);

/** One schema per kind of step, keyed by the keyword that names the kind; `Step` is a nested step. */
export const stepKindSchemas = <T extends TSchema>(Step: T) => {
  const Steps = Type.Array(Step, { minItems: 1 });
  return {
    send: Type.Object(
      {
        id: Type.Optional(Id('Stable step id, kept across edits so runs in flight stay on their step. Default: the position.')),
        send: ChannelName,
        template: Type.String({ minLength: 1, description: 'Template id.' }),
        fallback: Type.Optional(Type.Array(ChannelName, { description: 'Channels tried in order when the first cannot deliver.' })),
        fallback_if_unopened: Type.Optional(
          Duration(
            'If the message is delivered on this step\'s channel but neither opened nor clicked within this long (e.g. 1h), it goes out once more on the first fallback channel (the others are that message\'s fallbacks). Needs a non-empty fallback. Default: off.',
          ),
        ),
        topic: Type.Optional(Type.String({ description: 'Consent topic. Default: marketing.' })),
      },
      { additionalProperties: false, dependencies: { fallback_if_unopened: { required: ['fallback'], properties: { fallback: { minItems: 1 } } } } },
    ),
    wait: Type.Object(
      {
        id: Type.Optional(Id('Stable step id.')),
        wait: Type.Union(
          [
            Duration('How long to wait.'),
            Type.Object(
              { until: Type.String({ pattern: '^([01]\\d|2[0-3]):[0-5]\\d$', description: 'Local time of day (HH:MM) in the user\'s time zone.' }) },
              { additionalProperties: false },
            ),
          ],
          { description: 'a duration such as 15m, or { until: "09:00" } (local time of day)' },
        ),
      },
      { additionalProperties: false },
    ),
    wait_for: Type.Object(
      {
        id: Type.Optional(Id('Stable step id.')),
        wait_for: Type.Array(EventMatch, { minItems: 1, description: 'Any of these events ends the wait.' }),
        timeout: Duration('How long to wait for them.'),
        lookback: Type.Optional(Duration('An awaited event up to this long before the wait began counts (never one before the run\'s entry event). Default 5s.')),
        on_event: Type.Optional(Steps),
        on_timeout: Type.Optional(Steps),
      },
      { additionalProperties: false },
    ),
    branch: Type.Object(
      {
        id: Type.Optional(Id('Stable step id.')),
        branch: Type.Array(
          Type.Union([
            Type.Object({ when: Condition('The first branch whose condition holds is taken.'), steps: Steps }, { additionalProperties: false }),
            Type.Object({ else: Steps }, { additionalProperties: false }),
          ]),
          { minItems: 1 },
        ),
      },
      { additionalProperties: false },
    ),
    experiment: Type.Object(
      {
        id: Type.Optional(Id('Stable step id.')),
        experiment: Type.Object(
          {
            id: Id('Experiment id, used in metrics.'),
            holdout: Type.Optional(Type.Number({ minimum: 0, maximum: 100, description: 'Percent of users who get nothing. Default 0.' })),
            variants: Type.Array(
              Type.Object(
                { name: Id('Variant name.'), weight: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Default 1.' })), steps: Steps },
                { additionalProperties: false },
              ),
              { minItems: 1 },
            ),
          },
          { additionalProperties: false },
        ),
      },
      { additionalProperties: false },
    ),
  };
};

export type StepKind = keyof ReturnType<typeof stepKindSchemas>;
export const stepKinds = Object.keys(stepKindSchemas(Type.Unknown())) as StepKind[];

export const StepSchema = Type.Recursive((Step) => {
  const kinds = stepKindSchemas(Step);
  return Type.Union([kinds.send, kinds.wait, kinds.wait_for, kinds.branch, kinds.experiment]);
}, { $id: 'Step' });

export const TriggerSchema = Type.Object(
  {
    id: Id('Stable trigger id.'),
    name: Type.Optional(Type.String({ description: 'Shown in the dashboard. Default: the id.' })),
    enabled: Type.Optional(Type.Boolean({ description: 'Default true.' })),
    priority: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, description: 'Wins when a frequency cap allows only one message. Default 50.' })),
    entry: Type.Object(
      {
        event: Type.String({ minLength: 1, description: 'The event that starts a run.' }),
        when: Type.Optional(Condition('Only events for which this is true start a run.')),
      },
      { additionalProperties: false },
    ),
    reentry: Type.Optional(
      Type.Union([Type.Literal('never'), Type.Literal('always'), Duration('A cooldown after the last run started.')], {
        description: 'never, always, or a cooldown such as 24h (may a user start another run? default never)',
      }),
    ),
    exit_on: Type.Optional(Type.Array(EventMatch, { description: 'Events that end the run and cancel what is pending.' })),
    goal: Type.Optional(
      Type.Object({ event: Type.String({ minLength: 1 }), when: Type.Optional(Condition('')), within: Duration('Conversion window.') }, { additionalProperties: false }),
    ),
    steps: Type.Array(StepSchema, { minItems: 1 }),
  },
  { additionalProperties: false, $id: 'trigger.schema.json', title: 'Nudge trigger' },
);

export type TriggerDefinition = Static<typeof TriggerSchema>;
export type StepDefinition = Static<typeof StepSchema>;
