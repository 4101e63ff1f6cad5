/** Schemas of the management API: the source of its validation and of the OpenAPI document. */
import { Type, type Static } from '@sinclair/typebox';
import { eventTypes } from '../core/event.js';

const Json = Type.Record(Type.String(), Type.Unknown());
const Time = Type.String({ format: 'date-time' });

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'Stable machine-readable code.' }),
    message: Type.String(),
    issues: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
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
        Type.Object({ id: Type.String(), startedAt: Time, lastEventAt: Time, eventCount: Type.Integer(), pageCount: Type.Integer() }),
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

export const UsersQuery = Type.Composite([
  WorkspaceQuery,
  PageQuery,
  Type.Object({ query: Type.Optional(Type.String({ description: 'Prefix of a user id, anonymous id or email.' })) }),
]);

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
});

export type EventsQuery = Static<typeof EventsQuery>;
export type UsersQuery = Static<typeof UsersQuery>;
export type WorkspaceQuery = Static<typeof WorkspaceQuery>;
export type PageQuery = Static<typeof PageQuery>;
export type UserParams = Static<typeof UserParams>;
