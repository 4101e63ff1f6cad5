/**
 * The web push channel against a push service stand-in over TLS on loopback (test/support/
 * push-service.ts), which checks the VAPID JWT as real services do and decrypts each message with
 * the browser's keys: what arrives is what was sent, answers map to delivered / retry / failed
 * with the right reason, gone subscriptions are removed, and a hanging service holds up nobody else.
 */
import assert from 'node:assert/strict';
import https from 'node:https';
import { after, before, describe, test } from 'node:test';
import webPush from 'web-push';
import { MemoryPushSubscriptionStore } from '../../src/backends/memory/memory-push-subscription-store.js';
import { maxPayloadBytes, WebPushChannel, type WebPushOptions } from '../../src/channels/web-push.js';
import type { Delivery, DeliveryOutcome, RenderedContent } from '../../src/ports/channel.js';
import { startPushService, type BrowserSubscription, type PushService } from '../support/push-service.js';

const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const vapid = { ...webPush.generateVAPIDKeys(), subject: 'mailto:ops@shop.example' };
const content: RenderedContent = {
  title: 'Your cart misses you — crème brûlée ✓',
  body: 'Two items are waiting',
  url: 'https://shop.example/cart',
  icon: 'https://shop.example/icon.png',
};

function delivery(profileId: string, key = `shop/${profileId}/run-1/remind`, parts: RenderedContent = content): Delivery {
  return {
    workspaceId: 'shop',
    channel: 'push',
    idempotencyKey: key,
    attempt: 1,
    content: parts,
    message: {
      key,
      profileId,
      triggerId: 'abandoned-cart',
      version: 'v1',
      runId: 'run-1',
      stepId: 'remind',
      channel: 'push',
      fallback: ['email'],
      template: 'cart-push',
      topic: 'marketing',
      priority: 0,
      variants: {},
      entry: { messageId: 'e-1', type: 'track', name: 'Cart Updated', properties: {}, timestamp: t0 },
      at: t0,
    },
  };
}

let service: PushService;
const store = new MemoryPushSubscriptionStore();
/** Identity keys of each profile: a profile is found under all of them, as after a merge. */
const identities: Record<string, string[]> = {};
const channels: WebPushChannel[] = [];

before(async () => (service = await startPushService()));
after(async () => {
  await Promise.all(channels.map((c) => c.close()));
  await service.close();
});

/** A channel trusting the stand-in and allowed to reach it on loopback, closed after the tests. */
function channel(options: Partial<WebPushOptions> = {}): WebPushChannel {
  const c = new WebPushChannel({
    vapid,
    subscriptionsOf: (workspaceId, profileId) => store.listFor(workspaceId, identities[profileId] ?? [profileId]),
    removeSubscription: async (workspaceId, endpoint) => void (await store.remove(workspaceId, endpoint)),
    allowPrivateNetworks: true,
    trustedCertificates: [service.certificate],
    ...options,
  });
  channels.push(c);
  return c;
}

/** A browser of `identityKey` subscribed with the application server key `key`. */
async function subscribe(identityKey: string, key = vapid.publicKey): Promise<BrowserSubscription> {
  const browser = service.subscribe(key);
  await store.register({ workspaceId: 'shop', identityKey, subscription: browser.json, at: t0 });
  return browser;
}

const endpointsOf = async (identityKey: string): Promise<string[]> => (await store.listFor('shop', [identityKey])).map((s) => s.endpoint);

function assertFailed(outcome: DeliveryOutcome, reason: string, error: RegExp): void {
  assert.equal(outcome.status, 'failed', JSON.stringify(outcome));
  assert.equal((outcome as { reason?: string }).reason, reason);
  assert.match((outcome as { error: string }).error, error);
}

describe('delivery', () => {
  test("every browser of the user decrypts exactly the payload sent, under a verified VAPID JWT", async () => {
    identities['p-ann'] = ['u:ann', 'a:ann-phone'];
    const laptop = await subscribe('u:ann');
    const phone = await subscribe('a:ann-phone');
    const outcome = await channel({ urgency: 'high', ttlSeconds: 600 }).send(delivery('p-ann'));
    assert.equal(outcome.status, 'delivered');
    assert.match((outcome as { providerId?: string }).providerId ?? '', new RegExp(`^${service.origin}/message/\\d+$`));

    for (const browser of [laptop, phone]) {
      const [request] = service.requestsTo(browser.json.endpoint);
      assert.ok(request, 'the push service got the message');
      assert.equal(request.status, 201);
      assert.deepEqual(JSON.parse(request.payload!), { ...content, tag: 'shop/p-ann/run-1/remind' });
      assert.deepEqual(request.vapid && { aud: request.vapid.aud, sub: request.vapid.sub }, { aud: service.origin, sub: 'mailto:ops@shop.example' });
      assert.equal(request.headers.ttl, '600');
      assert.equal(request.headers.urgency, 'high');
      assert.match(String(request.headers.topic), /^[A-Za-z0-9_-]{32}$/);
    }
  });

  test('a repeat of a message carries the same tag and Topic, so it replaces rather than adds', async () => {
    const browser = await subscribe('u:repeat');
    const c = channel();
    const key = 'shop/u:repeat/run-9/remind';
    assert.equal((await c.send(delivery('u:repeat', key))).status, 'delivered');
    assert.equal((await c.send({ ...delivery('u:repeat', key), attempt: 2 })).status, 'delivered');
    assert.equal((await c.send(delivery('u:repeat', 'another message'))).status, 'delivered');
    const [first, second, other] = service.requestsTo(browser.json.endpoint);
    assert.equal(first?.headers.topic, second?.headers.topic);
    assert.notEqual(first?.headers.topic, other?.headers.topic);
    assert.deepEqual([first, second, other].map((r) => (JSON.parse(r!.payload!) as { tag: string }).tag), [key, key, 'another message']);
  });

  test('content without a title, or too large a payload, fails rejected before any request', async () => {
    const browser = await subscribe('u:content');
    const c = channel();
    const before = service.requests.length;
    assertFailed(await c.send(delivery('u:content', 'k', { body: 'no title' })), 'rejected', /no title/);
    assertFailed(await c.send(delivery('u:content', 'k', { title: ' ', body: 'blank title' })), 'rejected', /no title/);
    const fits = { title: 'x'.repeat(maxPayloadBytes - JSON.stringify({ title: '', tag: 'k' }).length) };
    assert.equal((await c.send(delivery('u:content', 'k', fits))).status, 'delivered', 'the largest payload is accepted by the service');
    assertFailed(await c.send(delivery('u:content', 'k', { title: `${fits.title}é` })), 'rejected', new RegExp(`${maxPayloadBytes + 2} bytes, more than the ${maxPayloadBytes}`));
    assert.equal(service.requests.length - before, 1);
    assert.equal(service.requestsTo(browser.json.endpoint)[0]?.status, 201);
  });

  test('no subscription: failed no_recipient; a failing lookup: retry', async () => {
    assertFailed(await channel().send(delivery('u:nobody')), 'no_recipient', /no push subscription/);
    const failing = channel({ subscriptionsOf: async () => Promise.reject(new Error('store closed')) });
    assert.deepEqual(await failing.send(delivery('u:nobody')), { status: 'retry', error: 'looking up push subscriptions: store closed' });
  });
});

describe('VAPID', () => {
  /** POSTs a message built by web-push, after `tamper`, straight to the stand-in; returns what it answered. */
  async function postTampered(tamper: (headers: Record<string, string | number>) => void): Promise<{ status: number | null; refusal?: string }> {
    const browser = service.subscribe(vapid.publicKey);
    const details = webPush.generateRequestDetails(browser.json, 'hello', { vapidDetails: vapid, contentEncoding: 'aes128gcm' });
    const headers: Record<string, string | number> = { ...details.headers };
    tamper(headers);
    await new Promise<void>((resolve, reject) => {
      const req = https.request(browser.json.endpoint, { method: 'POST', headers, ca: service.certificate }, (res) => res.resume().on('end', resolve));
      req.on('error', reject);
      req.end(details.body);
    });
    const [request] = service.requestsTo(browser.json.endpoint);
    return { status: request?.status ?? null, ...(request?.refusal ? { refusal: request.refusal } : {}) };
  }
  const vapidHeader = (audience: string, expiration?: number): string =>
    webPush.getVapidHeaders(audience, vapid.subject, vapid.publicKey, vapid.privateKey, 'aes128gcm', expiration).Authorization;

  test('the stand-in checks the JWT as a real push service does', async () => {
    assert.deepEqual(await postTampered(() => {}), { status: 201 }, 'an untouched message is accepted');
    const flipped = await postTampered((h) => {
      const auth = String(h['Authorization']);
      const at = auth.indexOf(',') - 2; // a character inside the signature
      h['Authorization'] = auth.slice(0, at) + (auth[at] === 'A' ? 'B' : 'A') + auth.slice(at + 1);
    });
    assert.deepEqual(flipped, { status: 403, refusal: 't: bad signature' });
    const otherAudience = await postTampered((h) => (h['Authorization'] = vapidHeader('https://push.elsewhere.example')));
    assert.deepEqual(otherAudience, { status: 403, refusal: `aud: https://push.elsewhere.example, expected ${service.origin}` });
    const expired = await postTampered((h) => (h['Authorization'] = vapidHeader(service.origin, Math.floor(Date.now() / 1000) - 60)));
    assert.equal(expired.status, 403);
    assert.match(expired.refusal ?? '', /^exp: \d+, expected within 24 h from now$/);
    assert.deepEqual(await postTampered((h) => delete h['Authorization']), { status: 401, refusal: 'no VAPID authorization' });
    assert.deepEqual(await postTampered((h) => delete h['TTL']), { status: 400, refusal: 'TTL: missing or not a number of seconds' });
  });

  test('a message signed with another key is refused by the push service (403) and fails rejected', async () => {
    const browser = await subscribe('u:vapid');
    const other = { ...webPush.generateVAPIDKeys(), subject: 'https://shop.example/contact' };
    const outcome = await channel({ vapid: other }).send(delivery('u:vapid'));
    assertFailed(outcome, 'rejected', /^push https:\/\/127\.0\.0\.1:\d+: HTTP 403: k: not the application server key of this subscription$/);
    assert.deepEqual(service.requestsTo(browser.json.endpoint).map((r) => r.status), [403]);
    assert.deepEqual(await endpointsOf('u:vapid'), [browser.json.endpoint], 'a refusal is not an expiry: the subscription stays');
  });

  test('keys that are not a matching P-256 pair, or a subject that is not mailto: or https:, are refused when the channel is built', () => {
    const other = webPush.generateVAPIDKeys();
    const build = (v: Partial<typeof vapid>) => () => new WebPushChannel({ vapid: { ...vapid, ...v }, subscriptionsOf: async () => [], removeSubscription: async () => {} });
    assert.throws(build({ publicKey: other.publicKey }), /web push vapid publicKey: not the public key of privateKey/);
    assert.throws(build({ privateKey: 'too-short' }), /web push vapid privateKey: expected base64url of 32 bytes/);
    assert.throws(build({ publicKey: `${vapid.publicKey}=` }), /web push vapid publicKey: expected base64url of 65 bytes/);
    assert.throws(build({ subject: 'ops@shop.example' }), /web push vapid subject: expected a mailto: or https: URL/);
    assert.throws(build({ subject: 'http://shop.example' }), /web push vapid subject/);
  });
});

describe('gone subscriptions', () => {
  test('410 and 404 remove the subscription; when none is left: failed expired_subscription', async () => {
    const [a, b, c] = [await subscribe('u:gone'), await subscribe('u:gone'), await subscribe('u:gone')];
    service.answer(a.json.endpoint, { status: 410 });
    const first = await channel().send(delivery('u:gone'));
    assert.equal(first.status, 'delivered', 'the other browsers still got it');
    assert.deepEqual((await endpointsOf('u:gone')).sort(), [b.json.endpoint, c.json.endpoint].sort());

    service.answer(b.json.endpoint, { status: 404 });
    service.answer(c.json.endpoint, { status: 410 });
    assertFailed(await channel().send(delivery('u:gone')), 'expired_subscription', /HTTP 404.*; .*HTTP 410|HTTP 410.*; .*HTTP 404/);
    assert.deepEqual(await endpointsOf('u:gone'), []);
    assertFailed(await channel().send(delivery('u:gone')), 'no_recipient', /no push subscription/);
  });

  test('a subscription past its expirationTime is removed without being sent to', async () => {
    const browser = service.subscribe(vapid.publicKey);
    const json = { ...browser.json, expirationTime: t0 + 1000 };
    await store.register({ workspaceId: 'shop', identityKey: 'u:lapsed', subscription: json, at: t0 });
    assertFailed(await channel({ now: () => t0 + 1000 }).send(delivery('u:lapsed')), 'expired_subscription', /past its expirationTime/);
    assert.deepEqual(service.requestsTo(browser.json.endpoint), []);
    assert.deepEqual(await endpointsOf('u:lapsed'), []);
  });
});

describe('retries', () => {
  test('429 is retried after Retry-After, in seconds or as a date', async () => {
    const browser = await subscribe('u:busy');
    service.answer(browser.json.endpoint, { status: 429, retryAfter: '120' });
    assert.deepEqual(await channel().send(delivery('u:busy')), { status: 'retry', error: `push ${service.origin}: HTTP 429`, retryAfterMs: 120_000 });
    const now = Date.UTC(2026, 5, 1, 12, 0, 0);
    service.answer(browser.json.endpoint, { status: 429, retryAfter: new Date(now + 30_000).toUTCString() });
    assert.equal((await channel({ now: () => now }).send(delivery('u:busy'))).status, 'retry');
    assert.equal(((await channel({ now: () => now }).send(delivery('u:busy'))) as { retryAfterMs?: number }).retryAfterMs, 30_000);
    service.answer(browser.json.endpoint, { status: 503 });
    assert.deepEqual(await channel().send(delivery('u:busy')), { status: 'retry', error: `push ${service.origin}: HTTP 503` });
    assert.deepEqual(await endpointsOf('u:busy'), [browser.json.endpoint]);
  });

  test('one browser to retry and one gone: retry, the gone one removed, the longest wait kept', async () => {
    const [busy, slower, gone] = [await subscribe('u:mixed'), await subscribe('u:mixed'), await subscribe('u:mixed')];
    service.answer(busy.json.endpoint, { status: 429, retryAfter: '10' });
    service.answer(slower.json.endpoint, { status: 500, retryAfter: '60' });
    service.answer(gone.json.endpoint, { status: 410 });
    const outcome = await channel().send(delivery('u:mixed'));
    assert.equal(outcome.status, 'retry');
    assert.equal((outcome as { retryAfterMs?: number }).retryAfterMs, 60_000);
    assert.deepEqual((await endpointsOf('u:mixed')).sort(), [busy.json.endpoint, slower.json.endpoint].sort());
  });

  test('other refusals (400, 413, a redirect) fail rejected', async () => {
    const browser = await subscribe('u:refused');
    for (const status of [400, 413, 301]) {
      service.answer(browser.json.endpoint, { status });
      assertFailed(await channel().send(delivery('u:refused')), 'rejected', new RegExp(`HTTP ${status}$`));
    }
    assert.deepEqual(await endpointsOf('u:refused'), [browser.json.endpoint]);
  });

  test("a hanging push service times out as a retry, while another user's send goes through", async () => {
    const hanging = await subscribe('u:hang');
    await subscribe('u:quick');
    service.answer(hanging.json.endpoint, 'hang');
    const c = channel({ timeoutMs: 2000 });
    let hangingSettled = false;
    const slow = c.send(delivery('u:hang')).finally(() => (hangingSettled = true));
    const quick = await c.send(delivery('u:quick'));
    assert.equal(quick.status, 'delivered');
    assert.equal(hangingSettled, false, "the other user's send did not wait for the hanging one");
    assert.deepEqual(await slow, { status: 'retry', error: `push ${service.origin}: no answer within 2000 ms` });
    assert.equal(service.requestsTo(hanging.json.endpoint).length, 1, 'the request did arrive');
  });
});

describe('address check', () => {
  test('an endpoint on a private address is refused by default, before any request', async () => {
    const browser = await subscribe('u:private');
    const outcome = await channel({ allowPrivateNetworks: false }).send(delivery('u:private'));
    assertFailed(outcome, 'rejected', /^refused: 127\.0\.0\.1 resolves to a private address \(127\.0\.0\.1: loopback 127\.0\.0\.0\/8\); allow it with allowPrivateNetworks$/);
    assert.deepEqual(service.requestsTo(browser.json.endpoint), []);
  });

  test('a host name resolving to a private address is refused, also beside a public one', async () => {
    const port = new URL(service.origin).port;
    const endpoint = `https://push.nudge.test:${port}/push/named`;
    await store.register({ workspaceId: 'shop', identityKey: 'u:named', subscription: { ...service.subscribe(vapid.publicKey).json, endpoint }, at: t0 });
    const resolve = async () => [{ address: '8.8.8.8', family: 4 }, { address: '10.0.0.7', family: 4 }];
    const outcome = await channel({ allowPrivateNetworks: false, resolve }).send(delivery('u:named'));
    assertFailed(outcome, 'rejected', /^refused: push\.nudge\.test resolves to a private address \(10\.0\.0\.7: private 10\.0\.0\.0\/8\)/);
  });

  test('an endpoint that is not https fails rejected', async () => {
    await store.register({ workspaceId: 'shop', identityKey: 'u:plain', subscription: { ...service.subscribe(vapid.publicKey).json, endpoint: 'http://push.nudge.test/x' }, at: t0 });
    assertFailed(await channel().send(delivery('u:plain')), 'rejected', /endpoint is not https/);
  });
});
