/** Schemas of the management API: the source of its validation and of the OpenAPI document. */
import { Type, type Static } from '@sinclair/typebox';
import { eventTypes } from '../core/event.js';

const Json = Type.Record(Type.String(), Type.Unknown());
const Time = Type.String({ format: 'date-time' });

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'Stable machine-readable code.' }),
    message: Type.String(),
    issues: Type.Optional(
      Type.Array(
        Type.Object({
          path: Type.String(),
          message: Type.String(),
          file: Type.Optional(Type.String({ description: 'A problem in a file (a trigger file): the file …' })),
          line: Type.Optional(Type.Integer({ minimum: 1, description: '… the line, 1-based …' })),
          column: Type.Optional(Type.Integer({ minimum: 1, description: '… the column, 1-based …' })),
          field: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: '… and the field, such as `steps[0].send`.' })),
        }),
      ),
    ),
  },
  { $id: 'Error' },
);

export const EventBody = Type.Object(
  {
    messageId: Type.String(),
    type: Type.Union(eventTypes.map((t) => Type.Literal(t))),
    name: Type.String({ description: 'Track event name, or page/screen/group name.' }),
    profileId: Type.String(),
    userId: Type.Union([Type.String(), Type.Null()]),
    anonymousId: Type.Union([Type.String(), Type.Null()]),
    previousId: Type.Union([Type.String(), Type.Null()]),
    groupId: Type.Union([Type.String(), Type.Null()]),
    timestamp: Time,
    receivedAt: Time,
    properties: Json,
    traits: Json,
    context: Json,
  },
  { $id: 'Event' },
);

const EventStats = Type.Object({ count: Type.Integer(), firstAt: Time, lastAt: Time, sums: Type.Record(Type.String(), Type.Number()) });

export const ProfileBody = Type.Object(
  {
    workspace: Type.String(),
    profileId: Type.String({ description: 'Internal id; stable across identify and alias.' }),
    userId: Type.Union([Type.String(), Type.Null()]),
    anonymousIds: Type.Array(Type.String()),
    identities: Type.Optional(Type.Array(Type.String({ description: '`u:<userId>` or `a:<anonymousId>`' }))),
    traits: Json,
    computed: Type.Object({
      firstSeenAt: Time,
      lastSeenAt: Time,
      eventCount: Type.Integer(),
      events: Type.Record(Type.String(), EventStats, { description: 'Per event name; `$page`, `$identify` … for other calls.' }),
      totals: Type.Record(Type.String(), Type.Number()),
      sessionCount: Type.Integer(),
      session: Type.Union([
        Type.Object({
          id: Type.String(),
          startedAt: Time,
          lastEventAt: Time,
          eventCount: Type.Integer(),
          pageCount: Type.Integer(),
          pages: Type.Record(Type.String(), Type.Integer(), { description: 'Page views in this session, by page name.' }),
        }),
        Type.Null(),
      ]),
      lastPage: Type.Union([
        Type.Object({
          url: Type.Union([Type.String(), Type.Null()]),
          path: Type.Union([Type.String(), Type.Null()]),
          title: Type.Union([Type.String(), Type.Null()]),
          name: Type.Union([Type.String(), Type.Null()]),
          enteredAt: Time,
          dwellMs: Type.Union([Type.Number(), Type.Null()]),
        }),
        Type.Null(),
      ]),
      phase: Type.Union([Type.String(), Type.Null()], { description: 'The behavioral phase (nudge.yaml `phases`), as of now; null without phases.' }),
      phaseSince: Type.Union([Time, Type.Null()]),
      latest: Type.Record(Type.String(), Type.Object({ value: Type.Unknown(), at: Time }), { description: 'Values kept by `profiles.latest`.' }),
      timezone: Type.Union([Type.String(), Type.Null()]),
      locale: Type.Union([Type.String(), Type.Null()]),
    }),
    createdAt: Time,
    updatedAt: Time,
  },
  { $id: 'Profile' },
);

export const Page = <T extends ReturnType<typeof Type.Ref>>(item: T) =>
  Type.Object({ items: Type.Array(item), nextCursor: Type.Union([Type.String(), Type.Null()]) });

export const WorkspaceQuery = Type.Object({
  workspace: Type.Optional(Type.String({ description: 'Workspace id. Default: the first in nudge.yaml.' })),
});

export const PageQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
  cursor: Type.Optional(Type.String({ description: '`nextCursor` of the previous page.' })),
});

export const UserParams = Type.Object({
  userId: Type.String({ description: 'A user id, an anonymous id or a profile id.' }),
});

export const EventsQuery = Type.Composite([
  WorkspaceQuery,
  PageQuery,
  Type.Object({
    userId: Type.Optional(Type.String()),
    type: Type.Optional(Type.Union(eventTypes.map((t) => Type.Literal(t)))),
    name: Type.Optional(Type.String()),
    since: Type.Optional(Type.String({ format: 'date-time', description: 'Inclusive.' })),
    until: Type.Optional(Type.String({ format: 'date-time', description: 'Exclusive.' })),
  }),
]);

/** Most profiles read for one page of a search by trait. */
export const profileScanLimit = 5000;

export const UsersQuery = Type.Composite([
  WorkspaceQuery,
  PageQuery,
  Type.Object({
    query: Type.Optional(Type.String({ description: 'Prefix of a user id, anonymous id or email.' })),
    trait: Type.Optional(Type.String({ minLength: 1, description: 'Only profiles with this trait (a dotted path such as `address.city`) …' })),
    value: Type.Optional(Type.String({ description: '… equal to this value (strings compared without case). Needs `trait`.' })),
  }),
], {
  description: `\`query\` is answered from indexes. \`trait\` is applied as the profiles are read, most recently active first: a page reads at most ${profileScanLimit} profiles, so it may hold fewer than limit (even none) and still have a nextCursor.`,
});

export const WorkspaceBody = Type.Object({
  id: Type.String(),
  name: Type.String(),
  events: Type.Integer(),
  profiles: Type.Integer(),
});

export const ErasureBody = Type.Object({
  profiles: Type.Integer(),
  identities: Type.Integer(),
  events: Type.Integer(),
  triggerStates: Type.Integer(),
  messages: Type.Integer({ description: 'Outbox entries.' }),
  timers: Type.Integer({ description: 'Pending trigger steps.' }),
  channels: Type.Record(Type.String(), Type.Integer(), { description: 'What the channels kept, by kind: inbox items, push subscriptions, SMS opt-outs, discount codes.' }),
});

const StepCounts = Type.Record(Type.String(), Type.Integer());

/** A trigger's counters (engine/trigger-report.ts), since it was first applied. */
export const TriggerReportBody = Type.Object({
  entered: Type.Integer(),
  completed: Type.Integer({ description: 'Runs that went through all their steps.' }),
  goals: Type.Integer(),
  exited: Type.Record(Type.String(), Type.Integer(), { description: 'Runs ended early, by reason: exit_on, merged, step_removed, step_limit.' }),
  assigned: Type.Record(Type.String(), Type.Integer(), { description: 'Runs per `experiment=variant`.' }),
  goalsByVariant: Type.Record(Type.String(), Type.Integer(), { description: "Goals by variant label ('' without an experiment)." }),
  sent: Type.Array(Type.Object({ stepId: Type.String(), channel: Type.String(), variant: Type.String(), count: Type.Integer() })),
  deliveries: Type.Record(Type.String(), Type.Integer(), { description: 'By outcome: `delivered:<channel>`, `failed`, `suppressed:<reason>`.' }),
  waiting: Type.Record(Type.String(), Type.Integer({ minimum: 1 }), {
    description:
      'Runs waiting now at a `wait` or `wait_for` step, by step id (its `id`, else its path such as `1` or `0.on_timeout.1`), runs on older versions included; steps where none wait are left out. A live gauge kept by the engine, not a scan of the runs.',
  }),
});

const triggerSummaryFields = {
  id: Type.String(),
  name: Type.String(),
  version: Type.String({ description: 'Changes whenever the definition does; runs keep the version they started with.' }),
  enabled: Type.Boolean(),
  priority: Type.Integer(),
  file: Type.String({ description: "The trigger's file in the project's trigger folder." }),
  entry: Type.String({ description: 'The entry event.' }),
  report: TriggerReportBody,
  inFlight: Type.Integer({ description: 'Runs under way: entered minus completed and exited (waiting ones included).' }),
  steps: Type.Record(Type.String(), Type.Object({ sent: StepCounts, outcomes: StepCounts }), { description: 'Per send step id: sent by channel, and what became of them by outcome.' }),
};

/** A trigger in force with its numbers, as listed. */
export const TriggerSummaryBody = Type.Object(triggerSummaryFields, { $id: 'TriggerSummary' });

/** One trigger with its numbers, its definition as applied and its file as written. */
export const TriggerDetailBody = Type.Object({
  ...triggerSummaryFields,
  definition: Json,
  source: Type.Union([Type.String(), Type.Null()], { description: 'The file as written; null if it is gone.' }),
});

export const defaultBacktestEvents = 100_000;
export const defaultSampleMessages = 100;

export const BacktestBody = Type.Object(
  {
    since: Type.Optional(Type.String({ format: 'date-time', description: 'Events from this time (inclusive). Default: 7 days before until.' })),
    until: Type.Optional(Type.String({ format: 'date-time', description: 'Events before this time; the simulated clock runs to it. Default: now.' })),
    maxEvents: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1_000_000, default: defaultBacktestEvents, description: 'Most events replayed; beyond them the answer says `truncated`.' }),
    ),
    sampleMessages: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, default: defaultSampleMessages, description: 'How many of the messages to list, first ones first.' })),
    source: Type.Optional(Type.String({ minLength: 1, description: 'A draft of the trigger (YAML or JSON text) to backtest instead of the one in force.' })),
  },
  { additionalProperties: false },
);

const Counts = Type.Record(Type.String(), Type.Integer());

export const BacktestResult = Type.Object({
  trigger: Type.Object({
    id: Type.String(),
    name: Type.String(),
    version: Type.String(),
    entered: Type.Integer(),
    completed: Type.Integer({ description: 'Runs that went through all their steps.' }),
    exited: Type.Record(Type.String(), Type.Integer(), { description: 'Runs ended early, by reason.' }),
    goals: Type.Integer(),
    goalsByVariant: Counts,
    assigned: Type.Record(Type.String(), Counts, { description: 'Experiment id -> variant -> runs.' }),
    messages: Type.Array(Type.Object({ stepId: Type.String(), channel: Type.String(), template: Type.String(), variant: Type.String(), count: Type.Integer() })),
    pendingTimers: Type.Integer({ description: 'Runs still waiting when the clock stopped.' }),
    pendingByStep: Counts,
  }),
  since: Time,
  until: Time,
  truncated: Type.Boolean({ description: 'maxEvents was reached before until: later events were not replayed.' }),
  events: Type.Object({
    read: Type.Integer(),
    applied: Type.Integer(),
    duplicates: Type.Integer({ description: 'Dropped as repeats of a messageId within the dedup window.' }),
    reordered: Type.Boolean(),
  }),
  firstEventAt: Type.Union([Time, Type.Null()]),
  lastEventAt: Type.Union([Time, Type.Null()]),
  clockStoppedAt: Type.Union([Time, Type.Null()]),
  profiles: Type.Integer(),
  timersFired: Type.Integer(),
  timersPending: Type.Integer(),
  messages: Type.Integer({ description: 'Messages the trigger would have handed to the dispatcher.' }),
  sample: Type.Array(
    Type.Object({
      profileId: Type.String(),
      runId: Type.String(),
      stepId: Type.String(),
      channel: Type.String(),
      template: Type.String(),
      variants: Type.Record(Type.String(), Type.String()),
      dueAt: Time,
    }),
  ),
  seconds: Type.Number({ description: 'How long the replay took.' }),
});

export type BacktestBody = Static<typeof BacktestBody>;
export type EventsQuery = Static<typeof EventsQuery>;
export type UsersQuery = Static<typeof UsersQuery>;
export type WorkspaceQuery = Static<typeof WorkspaceQuery>;
export type PageQuery = Static<typeof PageQuery>;
export type UserParams = Static<typeof UserParams>;
