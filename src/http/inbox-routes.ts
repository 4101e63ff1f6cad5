/**
 * The in-app inbox over HTTP, for the user's own pages: list, interactions and a live stream
 * (Server-Sent Events) under /v1/inbox, authenticated by a signed user token (see user-token.ts)
 * sent as `Authorization: Bearer <token>` or `?token=` (EventSource cannot set headers). Also a
 * token for anonymous visitors in exchange for the write key, and, apart, the admin view of a
 * user's inbox under /api/v1.
 *
 * Whose items: a token's identity key and the other keys of the same profile (`identitiesOf`);
 * a visitor's token (`a:`) only the anonymous ones, since anyone holding the public write key can
 * mint one: what was sent to the signed-in user needs a token from the customer's backend.
 *
 * The stream: `retry:` first; then, when the client names the last id it saw (`Last-Event-ID`, which
 * EventSource sends on reconnecting, or `?lastEventId=`, e.g. `latestId` of the list), every item
 * after it that is neither dismissed nor expired, oldest first; then `event: ready` with `id:` the
 * last id sent (without a last id: the user's latest item, so the stream starts now and a client's
 * first reconnect already names where it stood) and `{"replayed":n}`; then new items as they are
 * published. Each item is `id:` its id, `event: message`, the item as JSON. No item goes out twice
 * on one connection, nor out of order: the stream subscribes before it replays and sends a live
 * item only if its id is above the last one sent. A comment every `heartbeatMs` keeps proxies from
 * closing an idle stream. A client that does not read is dropped by the hub (see inbox-hub.ts) and
 * catches up when it reconnects.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { InboxHub } from '../engine/inbox-hub.js';
import { isExpired, maxReplayLimit, type InboxItem, type InboxStore, type InteractionKind } from '../ports/inbox-store.js';
import { ErrorBody, PageQuery, UserParams, WorkspaceQuery } from './api-schemas.js';
import { basicAuthUser, type KeyRing } from './auth.js';
import { installCors } from './cors.js';
import { HttpError } from './errors.js';
import { createUserToken, verifyUserToken, type SecretOf } from './user-token.js';

export interface InboxRouteDeps {
  store: InboxStore;
  hub: InboxHub;
  /** Write keys, for visitors' tokens. */
  keys: KeyRing;
  /** The secret of each workspace's user tokens. */
  secretOf: SecretOf;
  /** Every identity key of the profile an identity key belongs to; `[key]` when it has none. */
  identitiesOf: (workspaceId: string, identityKey: string) => Promise<string[]>;
  now: () => number;
  /**
   * Told of each interaction that changed an item (the first read, show, click, dismissal; a new
   * feedback value, as `detail`), by the identity key of the token; awaited before the answer.
   */
  onInteraction?: (workspaceId: string, identityKey: string, item: InboxItem, kind: InteractionKind, detail: string | undefined, at: number) => void | Promise<void>;
  /** Lifetime of a visitor's token, in ms. Default 30 days. */
  anonymousTokenTtlMs?: number;
  /** Time between heartbeat comments on a stream, in ms. Default 25,000. */
  heartbeatMs?: number;
  /** The reconnection delay a stream suggests to its client, in ms. Default 3,000. */
  retryMs?: number;
}

export interface InboxAdminDeps {
  keys: KeyRing;
  store: InboxStore;
  /** The identity keys of the user a user id, anonymous id or profile id names; null when there is none. */
  identitiesOfUser: (workspaceId: string, userId: string) => Promise<string[] | null>;
}

interface InboxUser {
  workspaceId: string;
  /** The token's identity key. */
  identity: string;
  /** The keys whose items it may see. */
  keys: string[];
}

const Time = Type.String({ format: 'date-time' });
const MaybeTime = Type.Union([Time, Type.Null()]);
const InboxItemBody = Type.Object({
  id: Type.Integer({ description: 'Increasing; the stream event id.' }),
  triggerId: Type.String(),
  content: Type.Record(Type.String(), Type.String(), { description: 'The parts the template rendered: title, body, cta_label, cta_url …' }),
  createdAt: Time,
  expiresAt: MaybeTime,
  readAt: MaybeTime,
  shownAt: MaybeTime,
  clickedAt: MaybeTime,
  dismissedAt: MaybeTime,
  feedback: Type.Union([Type.String(), Type.Null()]),
});
const AdminInboxItemBody = Type.Composite([InboxItemBody, Type.Object({ identityKey: Type.String(), messageKey: Type.String() })]);
const TokenQuery = Type.Object({ token: Type.Optional(Type.String({ description: 'The user token, when it cannot be sent as `Authorization: Bearer`.' })) });
type TokenQuery = Static<typeof TokenQuery>;
const ListQuery = Type.Composite([
  TokenQuery,
  PageQuery,
  Type.Object({ includeDismissed: Type.Optional(Type.Boolean({ default: false })) }),
]);
type ListQuery = Static<typeof ListQuery>;
const StreamQuery = Type.Composite([
  TokenQuery,
  Type.Object({ lastEventId: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$', description: 'Replay the items after this id. `Last-Event-ID` wins.' })) }),
]);
type StreamQuery = Static<typeof StreamQuery>;
const ItemParams = Type.Object({ id: Type.Integer({ minimum: 1 }) });
type ItemParams = Static<typeof ItemParams>;
const FeedbackBody = Type.Object({ value: Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$', description: 'e.g. `not_relevant`.' }) }, { additionalProperties: false });
type FeedbackBody = Static<typeof FeedbackBody>;
const TokenBody = Type.Object(
  {
    anonymousId: Type.String({ minLength: 1, maxLength: 256, description: 'The visitor\'s anonymous id, as the SDK sends it.' }),
    writeKey: Type.Optional(Type.String({ description: 'Or as the Basic auth user.' })),
  },
  { additionalProperties: false },
);
type TokenBody = Static<typeof TokenBody>;

const errors = { 400: Type.Ref(ErrorBody), 401: Type.Ref(ErrorBody), 404: Type.Ref(ErrorBody) };
const userSecurity = [{ userToken: [] }];
const interactionRoutes = [
  { path: 'read', kind: 'read', summary: 'Mark an inbox item read' },
  { path: 'shown', kind: 'shown', summary: 'Record that an inbox item was shown' },
  { path: 'clicked', kind: 'clicked', summary: 'Record a click on an inbox item (it is read too)' },
  { path: 'dismiss', kind: 'dismissed', summary: 'Dismiss an inbox item: it leaves the list and the replays' },
] as const;
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function presentInboxItem(item: InboxItem): Static<typeof InboxItemBody> {
  return {
    id: item.id,
    triggerId: item.triggerId,
    content: item.content,
    createdAt: iso(item.createdAt)!,
    expiresAt: iso(item.expiresAt),
    readAt: iso(item.readAt),
    shownAt: iso(item.shownAt),
    clickedAt: iso(item.clickedAt),
    dismissedAt: iso(item.dismissedAt),
    feedback: item.feedback,
  };
}

export async function inboxRoutes(app: FastifyInstance, deps: InboxRouteDeps): Promise<void> {
  const { store, hub, now } = deps;
  const heartbeatMs = deps.heartbeatMs ?? 25_000;
  const retryMs = deps.retryMs ?? 3_000;
  const anonymousTokenTtlMs = deps.anonymousTokenTtlMs ?? 30 * 24 * 3600_000;
  const streams = new Set<ServerResponse>();
  app.addSchema(ErrorBody);
  installCors(app);
  // navigator.sendBeacon, for a click as the page unloads, posts JSON as text/plain.
  app.addContentTypeParser('text/plain', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, body === '' ? undefined : JSON.parse(body as string));
    } catch {
      done(new HttpError(400, 'invalid_request', 'body: not valid JSON'), undefined);
    }
  });
  app.addHook('preClose', async () => {
    for (const res of streams) res.end();
  });

  const authenticate = async (request: FastifyRequest<{ Querystring: TokenQuery }>): Promise<InboxUser> => {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
    const token = bearer ?? request.query.token;
    if (token === undefined) throw new HttpError(401, 'unauthorized', 'token: missing; send "Authorization: Bearer <token>" or ?token=', [{ path: 'token', message: 'missing' }]);
    const { workspaceId, identity } = verifyUserToken(token, deps.secretOf, now());
    const resolved = await deps.identitiesOf(workspaceId, identity);
    const keys = resolved.includes(identity) ? resolved : [identity];
    return { workspaceId, identity, keys: identity.startsWith('a:') ? keys.filter((k) => k.startsWith('a:')) : keys };
  };

  app.route<{ Querystring: ListQuery }>({
    method: ['GET', 'OPTIONS'],
    url: '/v1/inbox',
    schema: {
      summary: "The signed-in user's inbox, newest first, with the unread count",
      tags: ['inbox'],
      security: userSecurity,
      querystring: ListQuery,
      response: {
        200: Type.Object({
          items: Type.Array(InboxItemBody),
          nextCursor: Type.Union([Type.String(), Type.Null()]),
          unread: Type.Integer(),
          latestId: Type.Integer({ description: 'Open the stream with `lastEventId` set to this to miss nothing after this list.' }),
        }),
        ...errors,
      },
    },
    handler: async (request) => {
      const user = await authenticate(request);
      const { limit, cursor, includeDismissed } = request.query;
      const page = await store.list(user.workspaceId, user.keys, { limit, cursor, includeDismissed, now: now() });
      return { ...page, items: page.items.map(presentInboxItem) };
    },
  });

  const interact = async (request: FastifyRequest<{ Params: ItemParams; Querystring: TokenQuery }>, kind: InteractionKind, value?: string) => {
    const user = await authenticate(request);
    const at = now();
    const interaction = kind === 'feedback' ? { kind, value: value! } : { kind };
    const recorded = await store.record(user.workspaceId, user.keys, request.params.id, interaction, at);
    if (!recorded) throw new HttpError(404, 'not_found', `id: no inbox item ${request.params.id}`, [{ path: 'id', message: 'no such item' }]);
    if (recorded.changed) await deps.onInteraction?.(user.workspaceId, user.identity, recorded.item, kind, value, at);
    const { unread } = await store.list(user.workspaceId, user.keys, { limit: 1, now: at });
    return { item: presentInboxItem(recorded.item), unread };
  };
  const InteractionAnswer = Type.Object({ item: InboxItemBody, unread: Type.Integer() });

  for (const { path, kind, summary } of interactionRoutes) {
    app.route<{ Params: ItemParams; Querystring: TokenQuery }>({
      method: ['POST', 'OPTIONS'],
      url: `/v1/inbox/:id/${path}`,
      schema: { summary, description: 'The first time counts.', tags: ['inbox'], security: userSecurity, params: ItemParams, querystring: TokenQuery, response: { 200: InteractionAnswer, ...errors } },
      handler: (request) => interact(request, kind),
    });
  }
  app.route<{ Params: ItemParams; Querystring: TokenQuery; Body: FeedbackBody }>({
    method: ['POST', 'OPTIONS'],
    url: '/v1/inbox/:id/feedback',
    schema: { summary: "The user's feedback on an item, e.g. not_relevant", tags: ['inbox'], security: userSecurity, params: ItemParams, querystring: TokenQuery, body: FeedbackBody, response: { 200: InteractionAnswer, ...errors } },
    handler: (request) => interact(request, 'feedback', request.body.value),
  });

  app.route<{ Querystring: StreamQuery }>({
    method: ['GET', 'OPTIONS'],
    url: '/v1/inbox/stream',
    schema: {
      summary: 'New inbox items as Server-Sent Events, after a replay of those missed since Last-Event-ID',
      tags: ['inbox'],
      security: userSecurity,
      querystring: StreamQuery,
      response: { 200: Type.String({ description: 'text/event-stream' }), ...errors },
    },
    handler: async (request, reply) => {
      const user = await authenticate(request);
      const after = lastEventIdOf(request);
      reply.hijack();
      openStream(reply, user, after);
    },
  });

  app.route<{ Body: TokenBody }>({
    method: ['POST', 'OPTIONS'],
    url: '/v1/inbox/token',
    schema: {
      summary: "A token for an anonymous visitor's inbox, for the write key",
      tags: ['inbox'],
      security: [],
      body: TokenBody,
      response: { 200: Type.Object({ token: Type.String(), identity: Type.String(), expiresAt: Time }), ...errors },
    },
    handler: async (request) => {
      const workspace = deps.keys.workspaceOfWriteKey(basicAuthUser(request) ?? request.body.writeKey ?? null);
      const secret = deps.secretOf(workspace.id);
      if (secret === undefined) throw new HttpError(500, 'invalid_config', `workspace "${workspace.id}" has no inbox token secret`);
      const identity = `a:${request.body.anonymousId}`;
      const expiresAt = now() + anonymousTokenTtlMs;
      return { token: createUserToken({ workspaceId: workspace.id, identity, expiresAt }, secret), identity, expiresAt: iso(expiresAt)! };
    },
  });

  function openStream(reply: FastifyReply, user: InboxUser, after: number | null): void {
    const res = reply.raw;
    const stream = new EventStream(res, after ?? 0);
    res.writeHead(200, {
      ...(reply.getHeaders() as OutgoingHttpHeaders),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // nginx and others buffer responses unless told not to.
      'x-accel-buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    streams.add(res);
    void stream.write(`retry: ${retryMs}\n\n`);

    // Subscribed before the replay reads the store: what is published meanwhile waits for it.
    let live = false;
    let replayed: Promise<void> | undefined;
    // A repeat publish (a retried send) of an item the user has dismissed meanwhile stays hidden.
    const sendLive = (item: InboxItem) => (item.dismissedAt === null && !isExpired(item, now()) ? stream.send(item) : undefined);
    const unsubscribe = hub.subscribe(user.workspaceId, user.keys, (item) => (live ? sendLive(item) : replayed!.then(() => sendLive(item))), {
      onDropped: () => res.destroy(),
    });
    replayed = replay(stream, user, after).then((count) => stream.ready(count));
    replayed.then(
      () => (live = true),
      () => res.destroy(),
    );
    const heartbeat = setInterval(() => {
      if (!res.writableNeedDrain) void stream.write(': heartbeat\n\n');
    }, heartbeatMs);
    const close = (): void => {
      clearInterval(heartbeat);
      unsubscribe();
      streams.delete(res);
    };
    res.on('close', close);
    // A client gone while it was being authenticated closed the response before anyone listened.
    if (res.destroyed) close();
  }

  /** Sends what the client missed; without a last id, starts it after the user's latest item. Returns how many were sent. */
  async function replay(stream: EventStream, user: InboxUser, after: number | null): Promise<number> {
    if (after === null) {
      stream.lastSentId = (await store.list(user.workspaceId, user.keys, { limit: 1 })).latestId;
      return 0;
    }
    let sent = 0;
    for (;;) {
      const batch = await store.since(user.workspaceId, user.keys, stream.lastSentId, { now: now(), limit: maxReplayLimit });
      for (const item of batch) await stream.send(item);
      sent += batch.length;
      if (batch.length < maxReplayLimit || stream.closed) return sent;
    }
  }
}

/** The inbox of any user, for support and the dashboard: dismissed and expired items included. */
export async function inboxAdminRoutes(app: FastifyInstance, deps: InboxAdminDeps): Promise<void> {
  app.addSchema(ErrorBody);
  app.addHook('onRequest', async (request) => deps.keys.checkAdmin(request));

  app.get<{ Params: UserParams; Querystring: WorkspaceQuery & PageQuery }>('/users/:userId/inbox', {
    schema: {
      summary: "A user's in-app inbox, newest first",
      tags: ['users'],
      params: UserParams,
      querystring: Type.Composite([WorkspaceQuery, PageQuery]),
      response: {
        200: Type.Object({ items: Type.Array(AdminInboxItemBody), nextCursor: Type.Union([Type.String(), Type.Null()]), unread: Type.Integer() }),
        ...errors,
      },
    },
  }, async (request) => {
    const w = deps.keys.workspace(request.query.workspace);
    const keys = await deps.identitiesOfUser(w.id, request.params.userId);
    if (!keys) throw new HttpError(404, 'not_found', `userId: no user "${request.params.userId}" in workspace "${w.id}"`);
    const page = await deps.store.list(w.id, keys, { limit: request.query.limit, cursor: request.query.cursor, includeDismissed: true });
    return {
      items: page.items.map((i) => ({ ...presentInboxItem(i), identityKey: i.identityKey, messageKey: i.messageKey })),
      nextCursor: page.nextCursor,
      unread: page.unread,
    };
  });
}

/** `Last-Event-ID` (sent by EventSource on reconnecting) or else `?lastEventId=`; null without either. */
function lastEventIdOf(request: FastifyRequest<{ Querystring: StreamQuery }>): number | null {
  const header = request.headers['last-event-id'];
  if (header === undefined || header === '') return request.query.lastEventId === undefined ? null : Number(request.query.lastEventId);
  if (typeof header !== 'string' || !/^[0-9]{1,15}$/.test(header.trim())) {
    throw new HttpError(400, 'invalid_request', 'Last-Event-ID: expected the id of an inbox item', [{ path: 'headers.last-event-id', message: 'expected a non-negative integer' }]);
  }
  return Number(header.trim());
}

/**
 * One SSE response: frames written in order, an item never twice or below the last id sent.
 * A write the socket cannot take yet returns a promise that settles when it can (or closed).
 */
class EventStream {
  lastSentId: number;

  constructor(
    private readonly res: ServerResponse,
    after: number,
  ) {
    this.lastSentId = after;
  }

  get closed(): boolean {
    return this.res.destroyed || this.res.writableEnded;
  }

  /** Replay done: the id tells the client where it stands, so even a first reconnect replays what it missed. */
  ready(replayed: number): void | Promise<void> {
    return this.write(`id: ${this.lastSentId}\nevent: ready\ndata: ${JSON.stringify({ replayed })}\n\n`);
  }

  send(item: InboxItem): void | Promise<void> {
    if (item.id <= this.lastSentId) return;
    this.lastSentId = item.id;
    return this.write(`id: ${item.id}\nevent: message\ndata: ${JSON.stringify(presentInboxItem(item))}\n\n`);
  }

  write(frame: string): void | Promise<void> {
    if (this.closed || this.res.write(frame)) return;
    return new Promise((resolve) => {
      const done = (): void => {
        this.res.off('drain', done).off('close', done);
        resolve();
      };
      this.res.on('drain', done).on('close', done);
    });
  }
}
