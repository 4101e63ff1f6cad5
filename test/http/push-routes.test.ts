/**
 * The push subscription routes on a bare Fastify server over real HTTP: write-key auth as for
 * ingestion, registration of what a browser's `PushSubscription.toJSON()` gives, a 400 naming the
 * field for anything else, re-registration moving an endpoint, unsubscribe, CORS preflights, and
 * the admin listing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { MemoryPushSubscriptionStore } from '../../src/backends/memory/memory-push-subscription-store.js';
import { KeyRing } from '../../src/http/auth.js';
import { HttpError, installErrorHandler } from '../../src/http/errors.js';
import { pushAdminRoutes, pushRoutes } from '../../src/http/push-routes.js';
import { browserSubscription } from '../support/push-service.js';

const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const vapidPublicKey = browserSubscription('https://push.nudge.test/x').json.keys.p256dh; // any P-256 public key
const keys = new KeyRing(
  [
    { id: 'shop', name: 'Shop', writeKeys: ['wk-shop'] },
    { id: 'blog', name: 'Blog', writeKeys: ['wk-blog'] },
  ],
  ['admin-key'],
);
const identities: Record<string, string[]> = { ann: ['u:ann', 'a:device-1'] };
const store = new MemoryPushSubscriptionStore();
let app: FastifyInstance;
let base: string;
let now = t0;

before(async () => {
  app = Fastify();
  installErrorHandler(app);
  await app.register((scope, _opts, done) => void pushRoutes(scope, { keys, store, vapidPublicKey, now: () => now }).then(() => done(), done));
  await app.register(
    (scope, _opts, done) => {
      const identitiesOf = async (_workspaceId: string, userId: string): Promise<string[]> => {
        const found = identities[userId];
        if (!found) throw new HttpError(404, 'not_found', `userId: no user "${userId}"`);
        return found;
      };
      pushAdminRoutes(scope, { keys, store, identitiesOf }).then(() => done(), done);
    },
    { prefix: '/api/v1' },
  );
  base = await app.listen({ port: 0, host: '127.0.0.1' });
});
after(() => app.close());

const basic = (writeKey: string): string => `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = { authorization: basic('wk-shop') }): Promise<Answer> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

const subscribe = (body: unknown, headers?: Record<string, string>) => call('POST', '/v1/push/subscriptions', body, headers);
const endpointsOf = async (workspaceId: string, identityKey: string): Promise<string[]> => (await store.listFor(workspaceId, [identityKey])).map((s) => s.endpoint);

describe('the application server key', () => {
  test('is given for a write key, as Basic auth user or in the query', async () => {
    assert.deepEqual((await call('GET', '/v1/push/vapid-public-key')).body, { publicKey: vapidPublicKey });
    assert.deepEqual((await call('GET', '/v1/push/vapid-public-key?writeKey=wk-blog', undefined, {})).body, { publicKey: vapidPublicKey });
  });

  test('is refused without a known write key', async () => {
    assert.equal((await call('GET', '/v1/push/vapid-public-key', undefined, {})).status, 401);
    const unknown = await call('GET', '/v1/push/vapid-public-key', undefined, { authorization: basic('nope') });
    assert.deepEqual([unknown.status, unknown.body.message], [401, 'unknown write key']);
  });
});

describe('registering', () => {
  test("a browser's PushSubscription.toJSON() is stored for the user, with the browser's User-Agent", async () => {
    const { json } = browserSubscription('https://push.nudge.test/send/ann-laptop');
    const res = await subscribe({ userId: 'ann', subscription: json }, { authorization: basic('wk-shop'), 'user-agent': 'Firefox/140' });
    assert.deepEqual([res.status, res.body], [201, { created: true }]);
    const [record] = await store.listFor('shop', ['u:ann']);
    assert.deepEqual(record, {
      workspaceId: 'shop',
      identityKey: 'u:ann',
      endpoint: json.endpoint,
      keys: json.keys,
      expirationTime: null,
      userAgent: 'Firefox/140',
      createdAt: t0,
      updatedAt: t0,
    });
  });

  test('the write key may come in a text/plain body (no preflight), and picks the workspace', async () => {
    const { json } = browserSubscription('https://push.nudge.test/send/blog-reader');
    const res = await subscribe(JSON.stringify({ writeKey: 'wk-blog', anonymousId: 'reader-1', subscription: json }), { 'content-type': 'text/plain' });
    assert.deepEqual([res.status, res.body], [201, { created: true }]);
    assert.deepEqual(await endpointsOf('blog', 'a:reader-1'), [json.endpoint]);
    assert.deepEqual(await endpointsOf('shop', 'a:reader-1'), []);
  });

  test('registering the endpoint again refreshes it and moves it to the user now named', async () => {
    const { json } = browserSubscription('https://push.nudge.test/send/shared-tablet');
    assert.equal((await subscribe({ anonymousId: 'tablet', subscription: json })).status, 201);
    now = t0 + 60_000;
    const fresh = { ...json, keys: browserSubscription(json.endpoint).json.keys };
    const res = await subscribe({ userId: 'bea', anonymousId: 'tablet', subscription: fresh });
    assert.deepEqual([res.status, res.body], [200, { created: false }]);
    assert.deepEqual(await endpointsOf('shop', 'a:tablet'), []);
    const [record] = await store.listFor('shop', ['u:bea']);
    assert.deepEqual([record?.endpoint, record?.keys, record?.createdAt, record?.updatedAt], [json.endpoint, fresh.keys, t0, t0 + 60_000]);
  });

  test('without a known write key: 401, nothing stored', async () => {
    const { json } = browserSubscription('https://push.nudge.test/send/stranger');
    assert.equal((await subscribe({ userId: 'x', subscription: json }, {})).status, 401);
    assert.equal((await subscribe({ userId: 'x', subscription: json, writeKey: 'nope' }, {})).status, 401);
    assert.deepEqual(await endpointsOf('shop', 'u:x'), []);
  });
});

describe('bad registrations: 400 naming the field', () => {
  const good = browserSubscription('https://push.nudge.test/send/good').json;
  const point = Buffer.from(good.keys.p256dh, 'base64url');
  const offCurve = Buffer.from(point);
  offCurve[64] = offCurve[64]! ^ 1;
  const cases: [string, unknown, string, RegExp][] = [
    ['not an object', [good], 'body', /expected a JSON object/],
    ['no user', { subscription: good }, 'userId', /either userId or anonymousId is required/],
    ['an empty user id', { userId: '', subscription: good }, 'userId', /either userId or anonymousId/],
    ['no subscription', { userId: 'ann' }, 'subscription', /PushSubscription\.toJSON\(\)/],
    ['a plain-http endpoint', { userId: 'ann', subscription: { ...good, endpoint: 'http://push.nudge.test/x' } }, 'subscription.endpoint', /https URL/],
    ['an endpoint that is no URL', { userId: 'ann', subscription: { ...good, endpoint: 'push service' } }, 'subscription.endpoint', /https URL/],
    ['no p256dh', { userId: 'ann', subscription: { endpoint: good.endpoint, keys: { auth: good.keys.auth } } }, 'subscription.keys.p256dh', /65-byte uncompressed P-256/],
    ['a short p256dh', { userId: 'ann', subscription: { ...good, keys: { ...good.keys, p256dh: point.subarray(0, 64).toString('base64url') } } }, 'subscription.keys.p256dh', /65-byte/],
    ['a compressed p256dh', { userId: 'ann', subscription: { ...good, keys: { ...good.keys, p256dh: Buffer.concat([Buffer.from([2]), point.subarray(1, 33)]).toString('base64url') } } }, 'subscription.keys.p256dh', /uncompressed/],
    ['a p256dh off the curve', { userId: 'ann', subscription: { ...good, keys: { ...good.keys, p256dh: offCurve.toString('base64url') } } }, 'subscription.keys.p256dh', /P-256/],
    ['a p256dh that is not base64url', { userId: 'ann', subscription: { ...good, keys: { ...good.keys, p256dh: `${good.keys.p256dh.slice(1)}+` } } }, 'subscription.keys.p256dh', /base64url/],
    ['an auth of 15 bytes', { userId: 'ann', subscription: { ...good, keys: { ...good.keys, auth: Buffer.alloc(15).toString('base64url') } } }, 'subscription.keys.auth', /16 bytes/],
    ['an expirationTime that is no time', { userId: 'ann', subscription: { ...good, expirationTime: 'soon' } }, 'subscription.expirationTime', /ms since the epoch/],
  ];
  for (const [what, body, field, message] of cases) {
    test(what, async () => {
      const res = await subscribe(body);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error, 'invalid_subscription');
      assert.deepEqual(res.body.issues.map((i: { path: string }) => i.path), [field]);
      assert.match(res.body.issues[0].message, message);
      assert.ok(res.body.message.startsWith(`${field}: `), res.body.message);
    });
  }

  test('every bad field is named at once, and nothing is stored', async () => {
    const before = await store.count();
    const res = await subscribe({ subscription: { endpoint: 'http://x', keys: { p256dh: 'AAAA', auth: 'AAAA' } } });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body.issues.map((i: { path: string }) => i.path), ['userId', 'subscription.endpoint', 'subscription.keys.p256dh', 'subscription.keys.auth']);
    assert.equal(await store.count(), before);
  });

  test('a body that is not JSON, or too large, is refused', async () => {
    const broken = await subscribe('{"userId":');
    assert.deepEqual([broken.status, broken.body.error], [400, 'invalid_json']);
    const huge = await subscribe({ userId: 'ann', subscription: good, padding: 'x'.repeat(10_000) });
    assert.equal(huge.status, 413);
  });
});

describe('unsubscribing', () => {
  test('DELETE removes the endpoint; again, or an unknown one: removed false', async () => {
    const { json } = browserSubscription('https://push.nudge.test/send/leaving');
    await subscribe({ userId: 'cai', subscription: json });
    assert.deepEqual((await call('DELETE', '/v1/push/subscriptions', { endpoint: json.endpoint })).body, { removed: true });
    assert.deepEqual(await endpointsOf('shop', 'u:cai'), []);
    assert.deepEqual((await call('DELETE', '/v1/push/subscriptions', { endpoint: json.endpoint })).body, { removed: false });
  });

  test('only in the workspace of the write key; without an endpoint: 400 naming it; without a key: 401', async () => {
    const { json } = browserSubscription('https://push.nudge.test/send/staying');
    await subscribe({ userId: 'dan', subscription: json });
    assert.deepEqual((await call('DELETE', '/v1/push/subscriptions', { endpoint: json.endpoint }, { authorization: basic('wk-blog') })).body, { removed: false });
    assert.deepEqual(await endpointsOf('shop', 'u:dan'), [json.endpoint]);
    const missing = await call('DELETE', '/v1/push/subscriptions', {});
    assert.deepEqual([missing.status, missing.body.issues], [400, [{ path: 'endpoint', message: 'expected the subscription endpoint, a URL' }]]);
    assert.equal((await call('DELETE', '/v1/push/subscriptions', { endpoint: json.endpoint }, {})).status, 401);
  });
});

describe('CORS', () => {
  test('a preflight for DELETE from any origin is allowed', async () => {
    const res = await call('OPTIONS', '/v1/push/subscriptions', undefined, {
      origin: 'https://shop.example',
      'access-control-request-method': 'DELETE',
      'access-control-request-headers': 'content-type, authorization',
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://shop.example');
    assert.match(res.headers.get('access-control-allow-methods') ?? '', /\bDELETE\b/);
    assert.equal(res.headers.get('access-control-allow-headers'), 'content-type, authorization');
    const key = await call('OPTIONS', '/v1/push/vapid-public-key', undefined, { origin: 'https://shop.example', 'access-control-request-method': 'GET' });
    assert.equal(key.status, 204);
  });

  test('answers, errors included, carry the origin', async () => {
    const { json } = browserSubscription('https://push.nudge.test/send/cors');
    const ok = await subscribe({ userId: 'eve', subscription: json }, { authorization: basic('wk-shop'), origin: 'https://shop.example' });
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://shop.example');
    const bad = await subscribe({ userId: 'eve' }, { authorization: basic('wk-shop'), origin: 'https://shop.example' });
    assert.equal(bad.headers.get('access-control-allow-origin'), 'https://shop.example');
  });
});

describe('admin listing', () => {
  test("a user's subscriptions under all their identities, newest first, without their keys", async () => {
    const laptop = browserSubscription('https://push.nudge.test/send/ann-admin-laptop').json;
    const phone = { ...browserSubscription('https://push.nudge.test/send/ann-admin-phone').json, expirationTime: t0 + 86_400_000 };
    now = t0 + 1000;
    await subscribe({ userId: 'ann', subscription: laptop }, { authorization: basic('wk-shop'), 'user-agent': 'Chrome/140' });
    now = t0 + 2000;
    await subscribe({ anonymousId: 'device-1', subscription: phone }, { authorization: basic('wk-shop'), 'user-agent': 'Safari/19' });
    const res = await call('GET', '/api/v1/users/ann/push-subscriptions', undefined, { authorization: 'Bearer admin-key' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const mine = res.body.items.filter((s: { endpoint: string }) => s.endpoint.includes('ann-admin'));
    assert.deepEqual(mine, [
      {
        endpoint: phone.endpoint,
        identity: 'a:device-1',
        userAgent: 'Safari/19',
        expirationTime: new Date(t0 + 86_400_000).toISOString(),
        createdAt: new Date(t0 + 2000).toISOString(),
        updatedAt: new Date(t0 + 2000).toISOString(),
      },
      {
        endpoint: laptop.endpoint,
        identity: 'u:ann',
        userAgent: 'Chrome/140',
        expirationTime: null,
        createdAt: new Date(t0 + 1000).toISOString(),
        updatedAt: new Date(t0 + 1000).toISOString(),
      },
    ]);
  });

  test('needs the admin key; an unknown user is a 404', async () => {
    assert.equal((await call('GET', '/api/v1/users/ann/push-subscriptions', undefined, { authorization: basic('wk-shop') })).status, 401);
    const unknown = await call('GET', '/api/v1/users/nobody/push-subscriptions', undefined, { authorization: 'Bearer admin-key' });
    assert.deepEqual([unknown.status, unknown.body.message], [404, 'userId: no user "nobody"']);
  });
});
