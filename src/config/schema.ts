/**
 * nudge.yaml: one schema is the source of the TypeScript type, the validation and the
 * documentation of every option. Durations are strings such as "30m"; sizes are bytes.
 */
import { Type, type Static } from '@sinclair/typebox';
import { CodeKindSchema } from '../core/delivery/discount-codes.js';

const Duration = (description: string, defaultValue: string) =>
  Type.String({ pattern: '^\\d+(\\.\\d+)?\\s*(ms|s|m|h|d|w)$', description, default: defaultValue });

export const WorkspaceSchema = Type.Object(
  {
    id: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$', description: 'Stable id, used in URLs and storage.' }),
    name: Type.Optional(Type.String({ description: 'Shown in the dashboard. Default: the id.' })),
    writeKeys: Type.Array(Type.String({ minLength: 8 }), {
      minItems: 1,
      description: 'Keys that senders put in the Basic auth user, `writeKey` or `api_key`.',
    }),
    inboxSecret: Type.Optional(
      Type.String({
        minLength: 16,
        description: "Key your backend signs users' in-app tokens with; write it as ${NUDGE_INBOX_SECRET}. Default: a random key kept in the data directory (secrets/inbox-<workspace>).",
      }),
    ),
  },
  { additionalProperties: false },
);

export const ConfigSchema = Type.Object(
  {
    workspaces: Type.Array(WorkspaceSchema, { minItems: 1 }),
    admin: Type.Object(
      { keys: Type.Array(Type.String({ minLength: 8 }), { minItems: 1, description: 'Bearer keys of the management API.' }) },
      { additionalProperties: false },
    ),
    storage: Type.Optional(
      Type.Object(
        {
          driver: Type.Optional(Type.Union([Type.Literal('sqlite'), Type.Literal('memory')], { default: 'sqlite' })),
          file: Type.Optional(Type.String({ description: 'SQLite file, relative to the data directory. Default nudge.db.' })),
          synchronous: Type.Optional(
            Type.Union([Type.Literal('full'), Type.Literal('normal')], {
              description: 'full: fsync on every commit (default); normal: survives a crashed process, not power loss.',
            }),
          ),
          cacheMiB: Type.Optional(Type.Integer({ minimum: 2, description: 'SQLite page cache. Default 64.' })),
          writerThread: Type.Optional(Type.Boolean({ description: 'Write SQLite on a thread of its own. Pays off with cores to spare beside the load; default false.' })),
        },
        { additionalProperties: false },
      ),
    ),
    ingest: Type.Optional(
      Type.Object(
        {
          maxEventBytes: Type.Optional(Type.Integer({ minimum: 1024, description: 'Default 32768.' })),
          maxBatchBytes: Type.Optional(Type.Integer({ minimum: 1024, description: 'Largest request body after decompression. Default 512000.' })),
          maxFutureSkew: Type.Optional(Duration('How far in the future a timestamp may lie.', '1h')),
          dedupWindow: Type.Optional(Duration('How long a messageId is remembered.', '24h')),
          dedupMaxEntries: Type.Optional(Type.Integer({ minimum: 1000, description: 'Default 5000000.' })),
        },
        { additionalProperties: false },
      ),
    ),
    profiles: Type.Optional(
      Type.Object(
        {
          sessionTimeout: Type.Optional(Duration('Inactivity that ends a session.', '30m')),
          sumProperties: Type.Optional(Type.Array(Type.String(), { description: 'Numeric properties summed. Default revenue, value, quantity.' })),
          pageLeaveEvents: Type.Optional(Type.Array(Type.String(), { description: 'Track events that end a page visit.' })),
          latest: Type.Optional(
            Type.Record(
              Type.String({ pattern: '^[a-z][a-z0-9_]*$' }),
              Type.Object(
                {
                  event: Type.String({ minLength: 1, description: "The event that sets it: a track event's name, or $page, $screen, $identify (as in user.computed.events)." }),
                  property: Type.String({ minLength: 1, description: 'Its property whose value is kept; an event without it changes nothing.' }),
                  clearedBy: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Events that set it to null. Default none.' })),
                },
                { additionalProperties: false },
              ),
              { description: 'Values kept from the latest event that carries them, by name: user.computed.latest.<name>.value (null once cleared) and .at (when). Default none.' },
            ),
          ),
          cacheMaxProfiles: Type.Optional(Type.Integer({ minimum: 100, description: 'Profiles kept in memory. Default 100000.' })),
          checkpointInterval: Type.Optional(Duration('Longest time profile changes stay unwritten behind the event log.', '5s')),
        },
        { additionalProperties: false },
      ),
    ),
    phases: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 64, description: 'The phase, as user.computed.phase shows it.' }),
            when: Type.Optional(Type.String({ minLength: 1, description: 'A condition over `user` and `now` (docs/conditions.md). Every phase but the last has one.' })),
          },
          { additionalProperties: false },
        ),
        {
          minItems: 1,
          description: "Behavioral phases, in order: a user is in the first whose `when` holds, else in the last (which has no `when`). Kept live in user.computed.phase and phaseSince; each change is shown on the user's timeline. Default: none.",
        },
      ),
    ),
    triggers: Type.Optional(
      Type.Object(
        {
          dir: Type.Optional(Type.String({ description: 'Folder of trigger files, relative to this file. Default triggers.' })),
          watch: Type.Optional(Type.Boolean({ description: 'Apply changed trigger files without a restart. Default true.' })),
        },
        { additionalProperties: false },
      ),
    ),
    templates: Type.Optional(
      Type.Object(
        {
          dir: Type.Optional(Type.String({ description: 'Folder of message templates (`<id>.yaml`), relative to this file. Default templates.' })),
          watch: Type.Optional(Type.Boolean({ description: 'Use changed template files without a restart. Default true.' })),
        },
        { additionalProperties: false },
      ),
    ),
    codes: Type.Optional(
      Type.Record(Type.String({ pattern: '^[a-z][a-z0-9_]*$' }), CodeKindSchema, {
        description: 'Personal discount codes, by kind: a template with `code: <kind>` gets one reserved per message (`message.code`), single-use, expiring.',
      }),
    ),
    publicUrl: Type.Optional(
      Type.String({
        pattern: '^https?://[^/]+(/.*)?$',
        description: 'The address people reach this server at, for links in messages (click tracking, open pixel, unsubscribe). Default: the address it listens on.',
      }),
    ),
    tracking: Type.Optional(
      Type.Object(
        {
          clicks: Type.Optional(Type.Boolean({ description: 'Send links in messages through signed click-tracking redirects. Default true.' })),
          opens: Type.Optional(Type.Boolean({ description: 'Put an open pixel into HTML emails. Default true.' })),
          utm: Type.Optional(
            Type.Union([
              Type.Literal(false),
              Type.Object(
                {
                  source: Type.Optional(Type.String({ description: 'utm_source. Default nudge.' })),
                  medium: Type.Optional(Type.String({ description: 'utm_medium. Default {channel}.' })),
                  campaign: Type.Optional(Type.String({ description: 'utm_campaign. Default {trigger}.' })),
                  content: Type.Optional(Type.String({ description: 'utm_content. Default {step}.' })),
                },
                { additionalProperties: false },
              ),
            ], { description: 'UTM parameters added to links (kept where a link has its own); {channel}, {trigger}, {step} and {template} are replaced. false: none.' }),
          ),
          secret: Type.Optional(
            Type.String({ minLength: 32, description: 'Key that signs tracking and unsubscribe links; write it as ${NUDGE_LINK_SECRET}. Default: a random key kept in the data directory.' }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    channels: Type.Optional(
      Type.Record(
        Type.String({ pattern: '^[a-z][a-z0-9_]*$' }),
        Type.Object(
          {
            log: Type.Optional(Type.Boolean({ description: 'Write each message to the server log and count it delivered (for trying triggers out).' })),
            smtp: Type.Optional(
              Type.Object(
                {
                  host: Type.String({ minLength: 1 }),
                  port: Type.Integer({ minimum: 1, maximum: 65535 }),
                  secure: Type.Optional(Type.Boolean({ description: 'TLS from the start. Default: true on port 465, else STARTTLS when offered.' })),
                  user: Type.Optional(Type.String()),
                  pass: Type.Optional(Type.String({ description: 'Write it as ${SMTP_PASSWORD}: read from the environment.' })),
                  from: Type.String({ minLength: 3, description: 'Sender address.' }),
                  replyTo: Type.Optional(Type.String()),
                  timeout: Type.Optional(Duration('Longest wait for the server at each step.', '30s')),
                },
                { additionalProperties: false },
              ),
            ),
            inApp: Type.Optional(
              Type.Object(
                { ttl: Type.Optional(Duration('How long a message stays in the inbox.', '30d')) },
                { additionalProperties: false, description: "The user's inbox in your app or site, with a live stream (see the README's In-app)." },
              ),
            ),
            twilio: Type.Optional(
              Type.Object(
                {
                  baseUrl: Type.Optional(Type.String({ pattern: '^https?://', description: 'The API of Twilio or a compatible provider. Default https://api.twilio.com.' })),
                  accountSid: Type.String({ pattern: '^AC[0-9a-fA-F]{32}$', description: 'Account SID (AC…).' }),
                  authToken: Type.String({ minLength: 1, description: 'Write it as ${TWILIO_AUTH_TOKEN}. Also checks the signatures of incoming messages.' }),
                  from: Type.Optional(Type.String({ minLength: 1, description: 'Sender: a number in E.164, a short code or an alphanumeric id.' })),
                  messagingServiceSid: Type.Optional(Type.String({ pattern: '^MG[0-9a-fA-F]{32}$', description: 'Or a Messaging Service (MG…) picks the sender.' })),
                  statusCallback: Type.Optional(Type.Boolean({ description: 'Ask Twilio to report delivery to {publicUrl}/v1/sms/{workspace}/status. Default true when publicUrl is set.' })),
                  maxSegments: Type.Optional(Type.Integer({ minimum: 1, maximum: 20, description: 'Longest text in SMS parts; longer ones fail. Default 10.' })),
                  timeout: Type.Optional(Duration('How long to wait for the API.', '15s')),
                  helpText: Type.Optional(Type.String({ description: 'The answer to HELP or INFO. Default none (Twilio answers by itself).' })),
                },
                { additionalProperties: false },
              ),
            ),
            webPush: Type.Optional(
              Type.Object(
                {
                  subject: Type.String({ pattern: '^(mailto:|https://)', description: 'A mailto: or https: URL push services may contact about the traffic (VAPID `sub`).' }),
                  vapidPublicKey: Type.Optional(Type.String({ description: 'VAPID public key, base64url. Default: a key pair made once and kept in the data directory.' })),
                  vapidPrivateKey: Type.Optional(Type.String({ description: 'VAPID private key, base64url; write it as ${VAPID_PRIVATE_KEY}. Give both keys or neither.' })),
                  ttl: Type.Optional(Duration('How long a push service keeps a message for an offline browser.', '1d')),
                  urgency: Type.Optional(Type.Union([Type.Literal('very-low'), Type.Literal('low'), Type.Literal('normal'), Type.Literal('high')], { description: 'Default normal.' })),
                  timeout: Type.Optional(Duration("How long to wait for a push service's answer.", '10s')),
                  allowPrivateNetworks: Type.Optional(Type.Boolean({ description: 'Allow push endpoints on loopback and private addresses. Default false.' })),
                  ca: Type.Optional(Type.String({ description: "A PEM file of certificates to trust besides Node's own, for a push service behind a private CA. Relative to this file." })),
                },
                { additionalProperties: false },
              ),
            ),
            webhook: Type.Optional(Type.Object(
              {
                url: Type.String({ pattern: '^https?://', description: 'Where each message is POSTed as JSON.' }),
                headers: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'Extra request headers.' })),
                timeout: Type.Optional(Duration('How long to wait for an answer.', '10s')),
                secret: Type.Optional(
                  Type.String({ pattern: '^whsec_', description: 'Standard Webhooks signing secret: whsec_ + base64 of 24-64 random bytes. Default none: unsigned.' }),
                ),
                allowPrivateNetworks: Type.Optional(
                  Type.Boolean({ description: 'Allow targets on loopback, private and link-local addresses (refused by default against SSRF). Default false.' }),
                ),
              },
              { additionalProperties: false },
            )),
          },
          { additionalProperties: false },
        ),
        { description: 'Provider of each channel (in_app, push, email, sms, webhook): `smtp: { host, port, from }`, `inApp: {}`, `webPush: { subject }`, `twilio: { accountSid, authToken, from }`, `webhook: { url }` or `log: true`. The email address is the `email` trait of the user, the phone number the `phone` trait (E.164). A channel without one cannot deliver: its fallbacks are tried.' },
      ),
    ),
    delivery: Type.Optional(
      Type.Object(
        {
          maxAttempts: Type.Optional(Type.Integer({ minimum: 1, description: 'Attempts on one channel before its fallbacks. Default 5.' })),
          backoff: Type.Optional(Duration('First retry delay, doubled on each attempt.', '1s')),
          caps: Type.Optional(
            Type.Array(
              Type.Object(
                {
                  max: Type.Integer({ minimum: 0, description: 'At most this many messages…' }),
                  per: Duration('…in any window this long.', '1h'),
                  channel: Type.Optional(Type.String({ description: "Only this channel's messages. Default: all channels." })),
                  trigger: Type.Optional(Type.String({ description: "Only this trigger's messages. Default: all triggers." })),
                },
                { additionalProperties: false },
              ),
              { description: 'Frequency caps per user, checked when a message is about to go out; transactional messages are exempt. Default: none.' },
            ),
          ),
          quietHours: Type.Optional(
            Type.Object(
              {
                from: Type.String({ pattern: '^([01]\\d|2[0-3]):[0-5]\\d$', description: "Start, HH:MM in the user's time zone." }),
                to: Type.String({ pattern: '^([01]\\d|2[0-3]):[0-5]\\d$', description: 'End, HH:MM.' }),
                channels: Type.Optional(Type.Array(Type.String(), { description: 'Channels it applies to. Default: all.' })),
                action: Type.Optional(Type.Union([Type.Literal('defer'), Type.Literal('drop')], { description: 'defer (default): send when they end; drop: do not send.' })),
              },
              { additionalProperties: false },
            ),
          ),
          consent: Type.Optional(
            Type.Union([Type.Literal('granted'), Type.Literal('denied')], {
              description: "For topics a user's `consent` trait says nothing about (transactional is always allowed): granted (default) or denied (opt-in only).",
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    demo: Type.Optional(
      Type.Object(
        {
          site: Type.String({ minLength: 1, description: 'Folder of the demo shop, served at /shop/; relative to this file.' }),
          mail: Type.Optional(
            Type.String({
              pattern: '^[a-z][a-z0-9_]*$',
              description: "An smtp channel whose mail server the demo stands in for: it listens on the channel's host (loopback) and port and shows what arrives at /shop/mail. Default none.",
            }),
          ),
        },
        { additionalProperties: false, description: "The example project's demo shop; leave it out of a real project. Default: none." },
      ),
    ),
  },
  { additionalProperties: false },
);

export type ConfigFile = Static<typeof ConfigSchema>;
