/**
 * The inbox over real HTTP on loopback: a Fastify server with the inbox routes, a SQLite inbox, the
 * hub and the in-app channel delivering into them, and the `eventsource` package as the browser's
 * EventSource. Proves live delivery, replay on reconnect (exactly the missed items, in order, none
 * twice), isolation between users, token checks, the list and its interactions, a stalled client
 * that cannot hold up the others, the visitor's token, CORS and the admin view. Time for tokens and
 * expiry is a clock the test sets; only the network is real.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { EventSource } from 'eventsource';
import Fastify, { type FastifyInstance } from 'fastify';
import { SqliteInboxStore } from '../../src/backends/sqlite/sqlite-inbox-store.js';
import { InAppChannel } from '../../src/channels/in-app.js';
import { InboxHub } from '../../src/engine/inbox-hub.js';
import { KeyRing } from '../../src/http/auth.js';
import { installErrorHandler } from '../../src/http/errors.js';
import { inboxAdminRoutes, inboxRoutes, type InboxRouteDeps } from '../../src/http/inbox-routes.js';
import { createUserToken, verifyUserToken } from '../../src/http/user-token.js';
import type { Delivery, RenderedContent } from '../../src/ports/channel.js';
import type { InboxItem, InboxStore } from '../../src/ports/inbox-store.js';
import { eventually } from '../support/timeline.js';

const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const secrets: Record<string, string> = { shop: 'shop-inbox-secret-0123456789abcdef', other: 'other-inbox-secret' };
const adminKey = 'inbox-admin-key';
const keyRing = new KeyRing(
  [
    { id: 'shop', name: 'Shop', writeKeys: ['shop-write-key'] },
    { id: 'other', name: 'Other', writeKeys: ['other-write-key'] },
  ],
  [adminKey],
);
const dir = mkdtempSync(path.join(tmpdir(), 'nudge-inbox-routes-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Profiles of workspace `shop` by profile id, as the ingest pipeline would resolve them. */
const profiles: Record<string, string[]> = {
  ada: ['a:anon-ada', 'u:ada'],
  bob: ['u:bob'],
  visitor: ['a:anon-v'],
  // Ada before she signed in: an item stored under her anonymous key, linked to u:ada since.
  'ada-before': ['a:anon-ada'],
};
const profileOfKey = (key: string): string[] | undefined => Object.entries(profiles).find(([id, keys]) => id !== 'ada-before' && keys.includes(key))?.[1];

interface Harness {
  app: FastifyInstance;
  url: string;
  port: number;
  store: InboxStore;
  hub: InboxHub;
  clock: { now: number };
  interactions: unknown[][];
  /** The server side of each stream connection, in order. */
  streamSockets: net.Socket[];
  deliver(profileId: string, key: string, content?: RenderedContent, options?: { ttlMs?: number }): Promise<InboxItem>;
  token(identity: string, options?: { workspaceId?: string; expiresAt?: number; secret?: string }): string;
  stream(token: string, options?: { query?: string }): TestStream;
  get(pathAndQuery: string, token?: string, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  post(pathAndQuery: string, token?: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
}

interface TestStream {
  es: EventSource;
  /** Every `message` event: its id and parsed data. */
  events: { id: string; data: any }[];
  /** Every `ready` event: the id it set and its data. */
  readies: { id: string; data: any }[];
  errors: { code: number | undefined }[];
  /** Headers of each connection attempt, in order. */
  requests: Headers[];
  /** While set, connection attempts wait for it. */
  gate: Promise<void> | null;
}

async function harness(t: TestContext, options: Partial<InboxRouteDeps> & { wrapStore?: (store: InboxStore) => InboxStore; maxQueued?: number } = {}): Promise<Harness> {
  const sqlite = new SqliteInboxStore({ path: path.join(dir, `${t.name.replace(/\W+/g, '-').slice(0, 60)}-${Date.now()}.db`), synchronous: 'normal' });
  const store = options.wrapStore ? options.wrapStore(sqlite) : sqlite;
  const hub = new InboxHub({ maxQueued: options.maxQueued ?? 8 });
  const clock = { now: t0 };
  const interactions: unknown[][] = [];
  const streamSockets: net.Socket[] = [];
  const app = Fastify();
  installErrorHandler(app);
  app.addHook('onRequest', async (request) => {
    if (request.url.startsWith('/v1/inbox/stream') && request.method === 'GET') streamSockets.push(request.raw.socket);
  });
  await app.register(async (scope) =>
    inboxRoutes(scope, {
      store,
      hub,
      keys: keyRing,
      secretOf: (workspaceId) => secrets[workspaceId],
      identitiesOf: async (workspaceId, key) => (workspaceId === 'shop' ? profileOfKey(key) : undefined) ?? [key],
      now: () => clock.now,
      onInteraction: (...args) => void interactions.push(args),
      retryMs: 20,
      ...options,
    }),
  );
  await app.register(
    async (scope) =>
      inboxAdminRoutes(scope, {
        keys: keyRing,
        store,
        identitiesOfUser: async (workspaceId, userId) => (workspaceId === 'shop' ? (profileOfKey(`u:${userId}`) ?? profileOfKey(`a:${userId}`) ?? null) : null),
      }),
    { prefix: '/api/v1' },
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const sources: EventSource[] = [];
  t.after(async () => {
    for (const es of sources) es.close();
    await app.close();
    await sqlite.close();
  });

  const published = new Map<string, InboxItem>();
  const publish = (item: InboxItem) => {
    published.set(item.messageKey, item);
    hub.publish(item);
  };
  const channel = (ttlMs?: number) =>
    new InAppChannel({ inbox: store, published: publish, identitiesOf: async (_w, profileId) => profiles[profileId] ?? [], now: () => clock.now, ttlMs });
  const defaultChannel = channel();

  return {
    app,
    url,
    port,
    store,
    hub,
    clock,
    interactions,
    streamSockets,
    async deliver(profileId, key, content = { title: `Title ${key}`, body: `Body of ${key}` }, deliverOptions = {}) {
      const outcome = await (deliverOptions.ttlMs === undefined ? defaultChannel : channel(deliverOptions.ttlMs)).send(delivery(profileId, key, content));
      assert.equal(outcome.status, 'delivered', JSON.stringify(outcome));
      return published.get(key)!;
    },
    token: (identity, tokenOptions = {}) =>
      createUserToken(
        { workspaceId: tokenOptions.workspaceId ?? 'shop', identity, expiresAt: tokenOptions.expiresAt ?? clock.now + 3600_000 },
        tokenOptions.secret ?? secrets[tokenOptions.workspaceId ?? 'shop']!,
      ),
    stream(token, streamOptions = {}) {
      const s: TestStream = { es: undefined as unknown as EventSource, events: [], readies: [], errors: [], requests: [], gate: null };
      s.es = new EventSource(`${url}/v1/inbox/stream?token=${encodeURIComponent(token)}${streamOptions.query ?? ''}`, {
        fetch: async (input, init) => {
          s.requests.push(new Headers(init?.headers));
          if (s.gate) await s.gate;
          return fetch(input, init);
        },
      });
      s.es.addEventListener('message', (e) => s.events.push({ id: e.lastEventId, data: JSON.parse(e.data) }));
      s.es.addEventListener('ready', (e) => s.readies.push({ id: e.lastEventId, data: JSON.parse(e.data) }));
      s.es.addEventListener('error', (e) => s.errors.push({ code: e.code }));
      sources.push(s.es);
      return s;
    },
    async get(pathAndQuery, token, headers = {}) {
      const res = await fetch(`${url}${pathAndQuery}`, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
    },
    async post(pathAndQuery, token, body, headers = {}) {
      const res = await fetch(`${url}${pathAndQuery}`, {
        method: 'POST',
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
  };
}

function delivery(profileId: string, key: string, content: RenderedContent): Delivery {
  return {
    workspaceId: 'shop',
    channel: 'in_app',
    idempotencyKey: key,
    attempt: 1,
    content,
    message: {
      key,
      profileId,
      triggerId: 'abandoned-cart',
      version: 'v1',
      runId: `run-${key}`,
      stepId: 'remind',
      channel: 'in_app',
      fallback: [],
      template: 'cart-reminder',
      topic: 'marketing',
      priority: 0,
      variants: {},
      entry: { messageId: 'e-1', type: 'track', name: 'cart_updated', properties: {}, timestamp: t0 },
      at: t0,
    },
  };
}

const opened = (s: TestStream) => eventually(async () => assert.equal(s.es.readyState, EventSource.OPEN));
const eventIds = (s: TestStream): number[] => s.events.map((e) => Number(e.id));
const titles = (s: TestStream): string[] => s.events.map((e) => e.data.content.title);

describe('the live stream', () => {
  test('a delivered message arrives at once, as the item; another user sees nothing of it', async (t) => {
    const h = await harness(t);
    const ada = h.stream(h.token('u:ada'));
    const bob = h.stream(h.token('u:bob'));
    await Promise.all([opened(ada), opened(bob)]);
    await eventually(async () => assert.equal(h.hub.subscribers, 2));

    const item = await h.deliver('ada', 'm-1', { title: 'Your cart misses you', body: 'Crème brûlée ✓', cta_label: 'Back', cta_url: 'https://shop.example/cart', style: 'toast' });
    await h.deliver('bob', 'b-1');
    await eventually(async () => assert.deepEqual([ada.events.length, bob.events.length], [1, 1]));
    assert.deepEqual(ada.events[0], {
      id: String(item.id),
      data: {
        id: item.id,
        triggerId: 'abandoned-cart',
        content: { title: 'Your cart misses you', body: 'Crème brûlée ✓', cta_label: 'Back', cta_url: 'https://shop.example/cart', style: 'toast' },
        createdAt: new Date(t0).toISOString(),
        expiresAt: new Date(t0 + 30 * 24 * 3600_000).toISOString(),
        readAt: null,
        shownAt: null,
        clickedAt: null,
        dismissedAt: null,
        feedback: null,
      },
    });
    assert.deepEqual(titles(bob), ['Title b-1'], "bob's stream carries only bob's message");
  });

  test('a reconnect with Last-Event-ID replays exactly the missed items, in order, none twice, then goes live', async (t) => {
    const h = await harness(t);
    const ada = h.stream(h.token('u:ada'));
    await opened(ada);
    const m1 = await h.deliver('ada', 'm-1');
    const m2 = await h.deliver('ada', 'm-2');
    await eventually(async () => assert.equal(ada.events.length, 2));

    // The connection breaks; the client's next attempt waits until the test lets it through.
    let release!: () => void;
    ada.gate = new Promise((resolve) => (release = resolve));
    h.streamSockets.at(-1)!.destroy();
    await eventually(async () => assert.equal(ada.requests.length, 2));
    await eventually(async () => assert.equal(h.hub.subscribers, 0));

    const m3 = await h.deliver('ada-before', 'm-3');
    await h.deliver('bob', 'b-1');
    await h.deliver('ada', 'm-expiring', undefined, { ttlMs: 1000 });
    const dismissed = await h.deliver('ada', 'm-dismissed');
    assert.equal((await h.post(`/v1/inbox/${dismissed.id}/dismiss`, h.token('u:ada'))).status, 200);
    h.clock.now += 2000;
    const m4 = await h.deliver('ada', 'm-4');
    release();

    await eventually(async () => assert.equal(ada.events.length, 4));
    assert.equal(ada.requests[1]!.get('last-event-id'), String(m2.id), 'EventSource sent the last id it saw');
    const m5 = await h.deliver('ada', 'm-5');
    await eventually(async () => assert.equal(ada.events.length, 5));
    assert.deepEqual(eventIds(ada), [m1.id, m2.id, m3.id, m4.id, m5.id]);
    assert.deepEqual(titles(ada), ['Title m-1', 'Title m-2', 'Title m-3', 'Title m-4', 'Title m-5']);
    assert.equal(h.hub.subscribers, 1, 'the broken connection left no subscriber behind');
  });

  test('?lastEventId= (the latestId of the list) opens a fresh stream with nothing lost in between', async (t) => {
    const h = await harness(t);
    const token = h.token('u:ada');
    await h.deliver('ada', 'm-1');
    const { latestId } = (await h.get('/v1/inbox', token)).body;
    const m2 = await h.deliver('ada', 'm-2');
    const ada = h.stream(token, { query: `&lastEventId=${latestId}` });
    await eventually(async () => assert.equal(ada.events.length, 1));
    assert.deepEqual(eventIds(ada), [m2.id]);
    assert.equal((await h.get('/v1/inbox/stream?lastEventId=x', token)).status, 400);
    const badHeader = await h.get('/v1/inbox/stream', token, { 'last-event-id': 'yesterday' });
    assert.deepEqual([badHeader.status, badHeader.body.issues[0].path], [400, 'headers.last-event-id']);
  });

  test('an item published while the replay is still being read is sent once, in order', async (t) => {
    let releaseReplay!: () => void;
    const held = new Promise<void>((resolve) => (releaseReplay = resolve));
    let replayStarted!: () => void;
    const started = new Promise<void>((resolve) => (replayStarted = resolve));
    const h = await harness(t, {
      wrapStore: (inner) => ({
        capabilities: inner.capabilities,
        add: (item) => inner.add(item),
        list: (...args) => inner.list(...args),
        since: async (...args) => {
          replayStarted();
          await held;
          return inner.since(...args);
        },
        record: (...args) => inner.record(...args),
        purgeExpired: (now) => inner.purgeExpired(now),
        exportUser: (...args) => inner.exportUser(...args),
        eraseUser: (...args) => inner.eraseUser(...args),
        close: () => inner.close(),
      }),
    });
    const m1 = await h.deliver('ada', 'm-1');
    const ada = h.stream(h.token('u:ada'), { query: '&lastEventId=0' });
    await started;
    const m2 = await h.deliver('ada', 'm-2');
    releaseReplay();
    const m3 = await h.deliver('ada', 'm-3');
    await eventually(async () => assert.equal(ada.events.length, 3));
    assert.deepEqual(eventIds(ada), [m1.id, m2.id, m3.id]);
  });

  test('a message sent twice (a retry) arrives once and stays one item', async (t) => {
    const h = await harness(t);
    const ada = h.stream(h.token('u:ada'));
    await opened(ada);
    await h.deliver('ada', 'm-1');
    await h.deliver('ada', 'm-1');
    await h.deliver('ada', 'm-2');
    await eventually(async () => assert.equal(ada.events.length, 2));
    assert.deepEqual(titles(ada), ['Title m-1', 'Title m-2']);
    assert.equal((await h.get('/v1/inbox', h.token('u:ada'))).body.items.length, 2);
  });

  test('a stalled client is dropped; publishing to others never waits for it', async (t) => {
    const h = await harness(t, { maxQueued: 64 });
    const token = h.token('u:ada');
    // A client that sends the request, reads the headers and then never reads again.
    const stalled = net.connect(h.port, '127.0.0.1');
    stalled.on('error', () => {});
    t.after(() => void stalled.destroy());
    stalled.write(`GET /v1/inbox/stream?token=${encodeURIComponent(token)} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
    await new Promise((resolve) => stalled.once('data', resolve));
    stalled.pause();
    const healthy = h.stream(token);
    await opened(healthy);
    await eventually(async () => assert.equal(h.hub.subscribers, 2));

    // 400 items of 64 KiB, sent as a dispatcher would (not all in one tick): far more than the
    // socket buffers of the stalled connection hold.
    const body = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 400; i++) {
      await h.deliver('ada', `big-${i}`, { title: `big-${i}`, body });
      await new Promise((resolve) => setImmediate(resolve));
    }
    await eventually(async () => assert.equal(h.hub.subscribers, 1));
    await eventually(async () => assert.equal(healthy.events.length, 400));
    assert.deepEqual(titles(healthy), Array.from({ length: 400 }, (_, i) => `big-${i}`));
    assert.equal(healthy.requests.length, 1, 'the healthy client kept its one connection');
  });

  test('a client dropped before its first message (a burst) catches up on reconnect from the ready id', async (t) => {
    const h = await harness(t, { maxQueued: 2 });
    const early = await h.deliver('ada', 'early');
    const ada = h.stream(h.token('u:ada'));
    await eventually(async () => assert.deepEqual(ada.readies, [{ id: String(early.id), data: { replayed: 0 } }]));
    const body = 'y'.repeat(256 * 1024);
    const burst = await Promise.all(Array.from({ length: 60 }, (_, i) => h.deliver('ada', `burst-${i}`, { title: `burst-${i}`, body })));
    await eventually(async () => assert.equal(ada.events.length, 60));
    assert.ok(ada.requests.length >= 2, 'the burst overflowed the queue and the connection was dropped');
    assert.equal(ada.requests[1]!.get('last-event-id'), String(early.id));
    assert.deepEqual(eventIds(ada), burst.map((i) => i.id));
  });

  test('the stream is text/event-stream with a retry hint, CORS headers and heartbeats; a disconnect unsubscribes', async (t) => {
    const h = await harness(t, { heartbeatMs: 30, retryMs: 1500 });
    const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http.get(`${h.url}/v1/inbox/stream?token=${encodeURIComponent(h.token('u:ada'))}`, { headers: { origin: 'https://shop.example' } }, resolve).on('error', reject),
    );
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(res.headers['cache-control'], 'no-cache, no-transform');
    assert.equal(res.headers['x-accel-buffering'], 'no');
    assert.equal(res.headers['access-control-allow-origin'], 'https://shop.example');
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (text += chunk));
    await eventually(async () => assert.ok(text.split(': heartbeat\n\n').length > 2, text));
    assert.ok(text.startsWith('retry: 1500\n\n'), text);
    assert.equal(h.hub.subscribers, 1);
    res.destroy();
    await eventually(async () => assert.equal(h.hub.subscribers, 0));
  });

  test('a client gone before its stream opened leaves nothing subscribed', async (t) => {
    let resolve!: () => void;
    const lookup = new Promise<void>((r) => (resolve = r));
    let asked!: () => void;
    const lookedUp = new Promise<void>((r) => (asked = r));
    const h = await harness(t, {
      identitiesOf: async (_workspaceId, key) => {
        asked();
        await lookup;
        return [key];
      },
    });
    const request = http.get(`${h.url}/v1/inbox/stream?token=${encodeURIComponent(h.token('u:ada'))}`);
    request.on('error', () => {});
    await lookedUp;
    request.destroy();
    await eventually(async () => assert.ok(h.streamSockets[0]?.destroyed));
    let subscribedMeanwhile = false;
    const subscribe = h.hub.subscribe.bind(h.hub);
    h.hub.subscribe = (...args) => ((subscribedMeanwhile = true), subscribe(...args));
    resolve();
    await eventually(async () => assert.ok(subscribedMeanwhile, 'the stream went on to open'));
    assert.equal(h.hub.subscribers, 0);
  });

  test('closing the server ends open streams instead of waiting for them', async (t) => {
    const h = await harness(t);
    const ada = h.stream(h.token('u:ada'));
    await opened(ada);
    await eventually(async () => assert.equal(h.hub.subscribers, 1));
    ada.gate = new Promise(() => {});
    await h.app.close();
    assert.equal(h.hub.subscribers, 0);
    await eventually(async () => assert.equal(ada.requests.length, 2), 2000);
  });
});

describe('user tokens', () => {
  test('a bad, forged, tampered, expired or missing token is a 401 naming the token', async (t) => {
    const h = await harness(t);
    const refused = async (token: string | undefined, message: RegExp) => {
      const res = await h.get('/v1/inbox', token);
      assert.equal(res.status, 401, JSON.stringify(res.body));
      assert.match(res.body.message, message);
      assert.match(res.body.message, /^token: /);
    };
    await refused(undefined, /missing/);
    await refused('not-a-token', /malformed/);
    await refused(`${Buffer.from('{"workspace":"shop"}').toString('base64url')}.abc`, /malformed payload/);
    await refused(h.token('u:ada', { secret: 'guessed-secret' }), /bad signature/);
    const [bobPayload, bobSignature] = h.token('u:bob').split('.');
    const [adaPayload] = h.token('u:ada').split('.');
    assert.ok(bobPayload && bobSignature && adaPayload);
    await refused(`${adaPayload}.${bobSignature}`, /bad signature/);
    await refused(h.token('u:ada', { expiresAt: h.clock.now }), /expired/);
    await refused(h.token('u:ada', { workspaceId: 'nope', secret: 'x' }), /no workspace "nope"/);
    await refused(h.token('u:ada', { workspaceId: 'other' }).replace(/^[^.]+/, adaPayload), /bad signature/);
    assert.equal((await h.get(`/v1/inbox?token=${encodeURIComponent(h.token('u:ada'))}`)).status, 200);
  });

  test('EventSource with an expired token gets a 401 and does not reconnect', async (t) => {
    const h = await harness(t);
    const s = h.stream(h.token('u:ada', { expiresAt: h.clock.now - 1000 }));
    await eventually(async () => assert.deepEqual(s.errors, [{ code: 401 }]));
    assert.equal(s.es.readyState, EventSource.CLOSED);
    assert.equal(s.requests.length, 1);
  });

  test('a token minted by hand as the README shows is accepted, and carries its claims', () => {
    const secret = secrets['shop']!;
    const exp = Math.floor(t0 / 1000) + 3600;
    const payload = Buffer.from(JSON.stringify({ workspace: 'shop', identity: 'u:ada', exp })).toString('base64url');
    const token = `${payload}.${createHmac('sha256', secret).update(payload).digest('base64url')}`;
    assert.deepEqual(verifyUserToken(token, secret, t0), { workspaceId: 'shop', identity: 'u:ada', expiresAt: exp * 1000 });
    assert.equal(createUserToken({ workspaceId: 'shop', identity: 'u:ada', expiresAt: exp * 1000 + 999 }, secret), token);
    const padded = (bytes: Buffer) => bytes.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
    const paddedPayload = padded(Buffer.from(JSON.stringify({ workspace: 'shop', identity: 'a:anon-1', exp })));
    const paddedToken = `${paddedPayload}.${padded(createHmac('sha256', secret).update(paddedPayload).digest())}`;
    assert.ok(paddedToken.includes('='), 'as Go base64.URLEncoding writes it');
    assert.equal(verifyUserToken(paddedToken, secret, t0).identity, 'a:anon-1');
    assert.throws(() => verifyUserToken(token, secret, exp * 1000), /token: expired/);
    assert.throws(() => verifyUserToken(token, () => undefined, t0), /token: no workspace "shop"/);
    assert.throws(() => verifyUserToken(`${token}.x`, secret, t0), /token: malformed/);
    assert.throws(() => verifyUserToken(createUserToken({ workspaceId: 'shop', identity: 'ada', expiresAt: exp * 1000 }, secret), secret, t0), /malformed payload/);
  });
});

describe('the inbox', () => {
  test("lists the items of all the user's identity keys, newest first, paged, with the unread count", async (t) => {
    const h = await harness(t);
    const token = h.token('u:ada');
    const m1 = await h.deliver('ada-before', 'm-1');
    await h.deliver('ada', 'm-2');
    const m3 = await h.deliver('ada', 'm-3');
    await h.deliver('bob', 'b-1');
    const first = await h.get('/v1/inbox?limit=2', token);
    assert.equal(first.status, 200);
    assert.deepEqual(first.body.items.map((i: { content: { title: string } }) => i.content.title), ['Title m-3', 'Title m-2']);
    assert.deepEqual([first.body.unread, first.body.latestId], [3, m3.id]);
    const second = await h.get(`/v1/inbox?limit=2&cursor=${first.body.nextCursor}`, token);
    assert.deepEqual([second.body.items.map((i: { id: number }) => i.id), second.body.nextCursor], [[m1.id], null]);
    assert.equal((await h.get('/v1/inbox?cursor=nonsense', token)).status, 400);
    assert.equal((await h.get('/v1/inbox?limit=0', token)).status, 400);
  });

  test('read, shown, clicked, dismiss and feedback change the item once, tell the timeline once, and keep the unread count', async (t) => {
    const h = await harness(t);
    const token = h.token('u:ada');
    const [m1, m2, m3, m4] = [await h.deliver('ada', 'm-1'), await h.deliver('ada', 'm-2'), await h.deliver('ada', 'm-3'), await h.deliver('ada-before', 'm-4')];
    const at = (offset: number) => new Date(t0 + offset).toISOString();

    h.clock.now = t0 + 1;
    const read = await h.post(`/v1/inbox/${m1.id}/read`, token);
    assert.deepEqual([read.status, read.body.item.readAt, read.body.unread], [200, at(1), 3]);
    h.clock.now = t0 + 2;
    assert.deepEqual((await h.post(`/v1/inbox/${m1.id}/read`, token)).body.item.readAt, at(1), 'the first read counts');
    const clicked = await h.post(`/v1/inbox/${m2.id}/clicked`, token);
    assert.deepEqual([clicked.body.item.clickedAt, clicked.body.item.readAt, clicked.body.unread], [at(2), at(2), 2]);
    assert.equal((await h.post(`/v1/inbox/${m3.id}/shown?token=${encodeURIComponent(token)}`)).body.item.shownAt, at(2));
    const dismissed = await h.post(`/v1/inbox/${m3.id}/dismiss`, token);
    assert.deepEqual([dismissed.body.item.dismissedAt, dismissed.body.unread], [at(2), 1]);
    // As navigator.sendBeacon posts it: JSON labelled text/plain.
    const feedback = await h.post(`/v1/inbox/${m4.id}/feedback`, token, JSON.stringify({ value: 'not_relevant' }), { 'content-type': 'text/plain;charset=UTF-8' });
    assert.deepEqual([feedback.status, feedback.body.item.feedback], [200, 'not_relevant']);
    assert.equal((await h.post(`/v1/inbox/${m4.id}/feedback`, token, { value: 'not_relevant' })).status, 200);

    const list = await h.get('/v1/inbox', token);
    assert.deepEqual(list.body.items.map((i: { id: number }) => i.id), [m4.id, m2.id, m1.id], 'a dismissed item leaves the list');
    assert.equal(list.body.unread, 1);
    assert.deepEqual((await h.get('/v1/inbox?includeDismissed=true', token)).body.items.map((i: { id: number }) => i.id), [m4.id, m3.id, m2.id, m1.id]);

    assert.deepEqual(
      h.interactions.map(([workspaceId, identity, item, kind, detail, time]) => [workspaceId, identity, (item as InboxItem).id, kind, detail, time]),
      [
        ['shop', 'u:ada', m1.id, 'read', undefined, t0 + 1],
        ['shop', 'u:ada', m2.id, 'clicked', undefined, t0 + 2],
        ['shop', 'u:ada', m3.id, 'shown', undefined, t0 + 2],
        ['shop', 'u:ada', m3.id, 'dismissed', undefined, t0 + 2],
        ['shop', 'u:ada', m4.id, 'feedback', 'not_relevant', t0 + 2],
      ],
    );
  });

  test("another user's item and an unknown one are 404; a bad id or feedback value is a 400 naming the field", async (t) => {
    const h = await harness(t);
    const bobs = await h.deliver('bob', 'b-1');
    const token = h.token('u:ada');
    const foreign = await h.post(`/v1/inbox/${bobs.id}/dismiss`, token);
    assert.deepEqual([foreign.status, foreign.body.message], [404, `id: no inbox item ${bobs.id}`]);
    assert.equal((await h.post('/v1/inbox/999999/read', token)).status, 404);
    const badId = await h.post('/v1/inbox/abc/read', token);
    assert.deepEqual([badId.status, badId.body.issues[0].path], [400, 'params.id']);
    const badValue = await h.post(`/v1/inbox/${bobs.id}/feedback`, h.token('u:bob'), { value: 'Not relevant!' });
    assert.deepEqual([badValue.status, badValue.body.issues[0].path], [400, 'body.value']);
    const noBody = await h.post(`/v1/inbox/${bobs.id}/feedback`, h.token('u:bob'));
    assert.equal(noBody.status, 400);
    assert.equal((await h.post(`/v1/inbox/${bobs.id}/feedback`, h.token('u:bob'), '{not json', { 'content-type': 'text/plain' })).status, 400);
    assert.equal((await h.get('/v1/inbox', h.token('u:bob'))).body.items[0].dismissedAt, null);
    assert.deepEqual(h.interactions, []);
  });
});

describe("a visitor's token", () => {
  test('is given for the write key and an anonymous id, and opens only the anonymous part of the inbox', async (t) => {
    const h = await harness(t);
    await h.deliver('visitor', 'v-1');
    await h.deliver('ada-before', 'm-anon');
    await h.deliver('ada', 'm-signed-in');
    const basic = `Basic ${Buffer.from('shop-write-key:').toString('base64')}`;

    const visitor = await h.post('/v1/inbox/token', undefined, { anonymousId: 'anon-v' }, { authorization: basic });
    assert.equal(visitor.status, 200, JSON.stringify(visitor.body));
    assert.deepEqual([visitor.body.identity, visitor.body.expiresAt], ['a:anon-v', new Date(t0 + 30 * 24 * 3600_000).toISOString()]);
    assert.deepEqual((await h.get('/v1/inbox', visitor.body.token)).body.items.map((i: { content: { title: string } }) => i.content.title), ['Title v-1']);

    const anonAda = await h.post('/v1/inbox/token', undefined, { anonymousId: 'anon-ada', writeKey: 'shop-write-key' });
    assert.equal(anonAda.status, 200);
    const seen = (await h.get('/v1/inbox', anonAda.body.token)).body.items.map((i: { content: { title: string } }) => i.content.title);
    assert.deepEqual(seen, ['Title m-anon'], "what was sent to the signed-in user needs the user's token");
    assert.deepEqual(
      (await h.get('/v1/inbox', h.token('u:ada'))).body.items.map((i: { content: { title: string } }) => i.content.title),
      ['Title m-signed-in', 'Title m-anon'],
    );

    const other = await h.post('/v1/inbox/token', undefined, { anonymousId: 'anon-v', writeKey: 'other-write-key' });
    assert.deepEqual((await h.get('/v1/inbox', other.body.token)).body.items, [], 'a token is for the workspace of its write key');
  });

  test('a wrong or missing write key is a 401; a missing anonymous id a 400 naming it', async (t) => {
    const h = await harness(t);
    assert.equal((await h.post('/v1/inbox/token', undefined, { anonymousId: 'anon-v', writeKey: 'wrong' })).status, 401);
    assert.equal((await h.post('/v1/inbox/token', undefined, { anonymousId: 'anon-v' })).status, 401);
    const missing = await h.post('/v1/inbox/token', undefined, { writeKey: 'shop-write-key' });
    assert.deepEqual([missing.status, missing.body.issues[0].path], [400, 'body.anonymousId']);
  });
});

describe('browsers and admins', () => {
  test('CORS: preflights are answered and answers name the origin', async (t) => {
    const h = await harness(t);
    const preflight = await fetch(`${h.url}/v1/inbox/stream`, {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization,last-event-id' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://shop.example');
    assert.equal(preflight.headers.get('access-control-allow-headers'), 'authorization,last-event-id');
    assert.equal((await fetch(`${h.url}/v1/inbox/1/feedback`, { method: 'OPTIONS', headers: { origin: 'https://shop.example' } })).status, 204);
    const list = await h.get('/v1/inbox', h.token('u:ada'), { origin: 'https://shop.example' });
    assert.equal(list.headers.get('access-control-allow-origin'), 'https://shop.example');
  });

  test("the admin API shows a user's whole inbox, dismissed items and keys included", async (t) => {
    const h = await harness(t);
    const m1 = await h.deliver('ada-before', 'm-1');
    const m2 = await h.deliver('ada', 'm-2');
    await h.post(`/v1/inbox/${m2.id}/dismiss`, h.token('u:ada'));
    const admin = { authorization: `Bearer ${adminKey}` };
    const res = await h.get('/api/v1/users/ada/inbox', undefined, admin);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(
      res.body.items.map((i: { id: number; identityKey: string; messageKey: string; dismissedAt: string | null }) => [i.id, i.identityKey, i.messageKey, i.dismissedAt !== null]),
      [[m2.id, 'u:ada', 'm-2', true], [m1.id, 'a:anon-ada', 'm-1', false]],
    );
    assert.equal(res.body.unread, 1);
    assert.equal((await h.get('/api/v1/users/ada/inbox', h.token('u:ada'))).status, 401, 'a user token is no admin key');
    assert.equal((await h.get('/api/v1/users/nobody/inbox', undefined, admin)).status, 404);
  });
});

describe('InboxHub', () => {
  const item = (id: number, identityKey = 'u:ada', workspaceId = 'shop'): InboxItem => ({
    id,
    workspaceId,
    identityKey,
    messageKey: `m-${id}`,
    triggerId: 't',
    content: { title: `m-${id}` },
    createdAt: t0,
    expiresAt: null,
    readAt: null,
    shownAt: null,
    clickedAt: null,
    dismissedAt: null,
    feedback: null,
  });

  test("hands each item to the subscribers of its workspace and identity key only, until they unsubscribe", () => {
    const hub = new InboxHub();
    const ada: number[] = [];
    const bob: number[] = [];
    const stop = hub.subscribe('shop', ['u:ada', 'a:anon-ada', 'u:ada'], (i) => void ada.push(i.id));
    hub.subscribe('shop', ['u:bob'], (i) => void bob.push(i.id));
    hub.publish(item(1));
    hub.publish(item(2, 'a:anon-ada'));
    hub.publish(item(3, 'u:bob'));
    hub.publish(item(4, 'u:ada', 'other'));
    stop();
    stop();
    hub.publish(item(5));
    assert.deepEqual([ada, bob, hub.subscribers], [[1, 2], [3], 1]);
  });

  test('a busy subscriber gets what waited, in order; past maxQueued it is dropped, and others never wait', async () => {
    const hub = new InboxHub({ maxQueued: 3 });
    const slow: number[] = [];
    const fast: number[] = [];
    const dropped: string[] = [];
    let free!: () => void;
    hub.subscribe('shop', ['u:ada'], (i) => {
      slow.push(i.id);
      if (i.id === 1) return new Promise<void>((resolve) => (free = resolve));
    });
    hub.subscribe('shop', ['u:ada'], (i) => void fast.push(i.id));
    const stuck = hub.subscribe('shop', ['u:ada'], () => new Promise<void>(() => {}), { onDropped: (reason) => dropped.push(reason) });
    for (const id of [1, 2, 3, 4]) hub.publish(item(id));
    assert.deepEqual([slow, fast, dropped], [[1], [1, 2, 3, 4], []]);
    free();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(slow, [1, 2, 3, 4]);
    hub.publish(item(5));
    assert.deepEqual(dropped, ['more than 3 items waiting'], 'the fourth item waiting for the stuck one drops it');
    assert.equal(hub.subscribers, 2);
    stuck();
    assert.equal(hub.subscribers, 2, 'unsubscribing a dropped subscriber changes nothing');
  });

  test('a listener that throws or rejects is dropped; the others still get every item', async () => {
    const hub = new InboxHub();
    const reasons: string[] = [];
    const kept: number[] = [];
    hub.subscribe('shop', ['u:ada'], () => {
      throw new Error('socket gone');
    }, { onDropped: (reason) => reasons.push(reason) });
    hub.subscribe('shop', ['u:ada'], async () => Promise.reject(new Error('write failed')), { onDropped: (reason) => reasons.push(reason) });
    hub.subscribe('shop', ['u:ada'], (i) => void kept.push(i.id));
    hub.publish(item(1));
    await new Promise((resolve) => setImmediate(resolve));
    hub.publish(item(2));
    assert.deepEqual(reasons, ['listener failed: socket gone', 'listener failed: write failed']);
    assert.deepEqual([kept, hub.subscribers], [[1, 2], 1]);
  });
});
