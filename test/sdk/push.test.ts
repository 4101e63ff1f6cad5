/**
 * Web push from the snippet, without a browser (headless Chromium has no push service): the page
 * helper against the real push routes on a bare Fastify server, with only the browser's parts
 * faked (permission, service worker container, PushManager handing out a subscription of the push
 * service stand-in); then the real web push channel sends to that subscription, and the service
 * worker's handlers get what the stand-in decrypted, as a browser would hand it over: the
 * notification shown, its click opening the tracked URL. Also the refusals and the unsubscription.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import webPush from 'web-push';
import { MemoryPushSubscriptionStore } from '../../src/backends/memory/memory-push-subscription-store.js';
import { WebPushChannel } from '../../src/channels/web-push.js';
import { KeyRing } from '../../src/http/auth.js';
import { installErrorHandler } from '../../src/http/errors.js';
import { pushRoutes } from '../../src/http/push-routes.js';
import type { Delivery } from '../../src/ports/channel.js';
import { base64UrlBytes, subscribePush, unsubscribePush, type PushEnv, type PushTarget } from '../../sdk/src/dom/push.js';
import { installServiceWorker, notificationOf, type NotificationClickEventLike, type PushEventLike, type ServiceWorkerScope } from '../../sdk/src/service-worker.js';
import { startPushService, type BrowserSubscription, type PushService } from '../support/push-service.js';

const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const vapid = { ...webPush.generateVAPIDKeys(), subject: 'mailto:ops@shop.example' };
const store = new MemoryPushSubscriptionStore();
let app: FastifyInstance;
let host: string;
let service: PushService;
let channel: WebPushChannel;

before(async () => {
  service = await startPushService();
  app = Fastify();
  installErrorHandler(app);
  const keys = new KeyRing([{ id: 'shop', name: 'Shop', writeKeys: ['wk-shop-123'] }], []);
  await app.register((scope, _opts, done) => void pushRoutes(scope, { keys, store, vapidPublicKey: vapid.publicKey, now: () => t0 }).then(() => done(), done));
  host = await app.listen({ port: 0, host: '127.0.0.1' });
  channel = new WebPushChannel({
    vapid,
    subscriptionsOf: (workspaceId, profileId) => store.listFor(workspaceId, [profileId]),
    removeSubscription: async (workspaceId, endpoint) => void (await store.remove(workspaceId, endpoint)),
    allowPrivateNetworks: true,
    trustedCertificates: [service.certificate],
  });
});
after(async () => {
  await channel.close();
  await app.close();
  await service.close();
});

/** The browser's side of push, faked: what the helper asked of it is recorded. */
function fakeBrowser(permission: NotificationPermission) {
  const calls: string[] = [];
  let held: BrowserSubscription | null = null;
  const subscription = () => ({
    endpoint: held!.json.endpoint,
    toJSON: () => held!.json,
    unsubscribe: async () => {
      calls.push('unsubscribe');
      held = null;
      return true;
    },
  });
  const pushManager = {
    getSubscription: async () => (held ? subscription() : null),
    subscribe: async (options: { userVisibleOnly: boolean; applicationServerKey: Uint8Array }) => {
      calls.push(`subscribe userVisibleOnly=${options.userVisibleOnly}`);
      held = service.subscribe(Buffer.from(options.applicationServerKey).toString('base64url'));
      return subscription();
    },
  };
  const registration = { pushManager } as unknown as ServiceWorkerRegistration;
  const env: PushEnv = {
    fetch,
    notification: {
      requestPermission: async () => {
        calls.push('requestPermission');
        return permission;
      },
    },
    serviceWorker: {
      register: async (url: string | URL) => {
        calls.push(`register ${url}`);
        return registration;
      },
      ready: Promise.resolve(registration),
      getRegistration: async () => registration,
    } as unknown as PushEnv['serviceWorker'],
  };
  return { env, calls, subscription: () => held };
}

/** A service worker scope whose notifications and windows are recorded. */
function fakeWorker() {
  const listeners: Record<string, (event: any) => void> = {};
  const shown: { title: string; options: NotificationOptions }[] = [];
  const opened: string[] = [];
  let windows: { focus(): Promise<unknown> }[] = [];
  const scope: ServiceWorkerScope = {
    location: { origin: 'https://shop.example' },
    registration: { showNotification: async (title, options) => void shown.push({ title, options }) },
    clients: {
      openWindow: async (url) => void opened.push(url),
      matchAll: async () => windows,
    },
    addEventListener: (type: string, listener: (event: any) => void) => void (listeners[type] = listener),
  };
  installServiceWorker(scope);
  /** Dispatches an event and waits for what it asked to wait for. */
  const dispatch = async (type: 'push' | 'notificationclick', event: Omit<PushEventLike, 'waitUntil'> | Omit<NotificationClickEventLike, 'waitUntil'>) => {
    const work: Promise<unknown>[] = [];
    listeners[type]!({ ...event, waitUntil: (p: Promise<unknown>) => work.push(p) });
    assert.equal(work.length, 1, `${type}: the worker waits for its work`);
    await Promise.all(work);
  };
  return { dispatch, shown, opened, setWindows: (w: typeof windows) => (windows = w) };
}

function pushDelivery(profileId: string, url: string): Delivery {
  return {
    workspaceId: 'shop',
    channel: 'push',
    idempotencyKey: `shop/${profileId}/run-1/remind`,
    attempt: 1,
    content: { title: 'Still thinking about the boots?', body: 'Your size is in stock', url, icon: 'https://shop.example/icon.png' },
    message: {
      key: `shop/${profileId}/run-1/remind`,
      profileId,
      triggerId: 'product-page-inactivity',
      version: 'v1',
      runId: 'run-1',
      stepId: 'remind',
      channel: 'push',
      fallback: [],
      template: 'product-reminder',
      topic: 'marketing',
      priority: 0,
      variants: {},
      entry: { messageId: 'e-1', type: 'page', name: '', properties: {}, timestamp: t0 },
      at: t0,
    },
  };
}

const target: PushTarget = { host: '', writeKey: 'wk-shop-123', userId: null, anonymousId: 'anon-1' };

describe('the page helper', () => {
  test('asks permission, registers the worker, subscribes with Nudge\'s key and registers the subscription; the worker shows what is sent and opens its URL', async () => {
    const browser = fakeBrowser('granted');
    const result = await subscribePush(browser.env, { ...target, host }, { serviceWorker: '/push/nudge-sw.js' });
    assert.equal(result, 'subscribed');
    assert.deepEqual(browser.calls, ['requestPermission', 'register /push/nudge-sw.js', 'subscribe userVisibleOnly=true']);
    const held = browser.subscription()!;
    const [stored] = await store.listFor('shop', ['a:anon-1']);
    assert.equal(stored?.endpoint, held.json.endpoint, 'registered under the visitor');
    assert.deepEqual(stored?.keys, held.json.keys);

    assert.equal(await subscribePush(browser.env, { ...target, host }), 'subscribed', 'again: the subscription held is registered again');
    assert.equal(browser.calls.filter((c) => c.startsWith('subscribe')).length, 1);

    const tracked = 'https://nudge.shop.example/t/c/abc123';
    const outcome = await channel.send(pushDelivery('a:anon-1', tracked));
    assert.equal(outcome.status, 'delivered', JSON.stringify(outcome));
    const payload = service.requestsTo(held.json.endpoint).at(-1)!.payload!;

    const worker = fakeWorker();
    await worker.dispatch('push', { data: { text: () => payload } });
    assert.deepEqual(worker.shown, [
      {
        title: 'Still thinking about the boots?',
        options: { body: 'Your size is in stock', icon: 'https://shop.example/icon.png', tag: 'shop/a:anon-1/run-1/remind', data: { url: tracked } },
      },
    ]);
    let closed = false;
    await worker.dispatch('notificationclick', { notification: { data: worker.shown[0]!.options.data, close: () => void (closed = true) } });
    assert.equal(closed, true);
    assert.deepEqual(worker.opened, [tracked], 'the tracked redirect records the click and lands on the page');
  });

  test('a signed-in user registers under the user id', async () => {
    const browser = fakeBrowser('granted');
    assert.equal(await subscribePush(browser.env, { ...target, host, userId: 'ada', anonymousId: 'anon-2' }), 'subscribed');
    assert.equal((await store.listFor('shop', ['u:ada']))[0]?.endpoint, browser.subscription()!.json.endpoint);
    assert.deepEqual(await store.listFor('shop', ['a:anon-2']), []);
  });

  test('unsubscribing removes the subscription at Nudge and at the browser; without one, nothing', async () => {
    const browser = fakeBrowser('granted');
    await subscribePush(browser.env, { ...target, host, anonymousId: 'anon-3' });
    assert.equal((await store.listFor('shop', ['a:anon-3'])).length, 1);
    assert.equal(await unsubscribePush(browser.env, { ...target, host }), true);
    assert.deepEqual(await store.listFor('shop', ['a:anon-3']), []);
    assert.equal(browser.calls.at(-1), 'unsubscribe');
    assert.equal(await unsubscribePush(browser.env, { ...target, host }), false);
  });

  test('a refused or closed prompt, or a browser without push, asks nothing more', async () => {
    for (const permission of ['denied', 'default'] as const) {
      const browser = fakeBrowser(permission);
      assert.equal(await subscribePush(browser.env, { ...target, host }), permission);
      assert.deepEqual(browser.calls, ['requestPermission']);
    }
    assert.equal(await subscribePush({ fetch }, { ...target, host }), 'unsupported');
    assert.equal(await unsubscribePush({ fetch }, { ...target, host }), false);
  });

  test('a wrong write key fails with the server\'s reason', async () => {
    const browser = fakeBrowser('granted');
    await assert.rejects(subscribePush(browser.env, { ...target, host, writeKey: 'wrong-key-000' }), /nudge: no push key \(401\)/);
  });

  test('application server keys decode from base64url, padded or not', () => {
    assert.deepEqual(Buffer.from(base64UrlBytes(vapid.publicKey)), Buffer.from(vapid.publicKey, 'base64url'));
    assert.deepEqual([...base64UrlBytes('-_8')], [0xfb, 0xff]);
    assert.deepEqual([...base64UrlBytes('-_8=')], [0xfb, 0xff]);
  });
});

describe('the service worker', () => {
  test('a click without a URL focuses an open window, else opens the start page; an unsafe URL counts as none', async () => {
    const worker = fakeWorker();
    const close = () => {};
    await worker.dispatch('notificationclick', { notification: { data: { url: 'javascript:alert(1)' }, close } });
    assert.deepEqual(worker.opened, ['/']);
    let focused = 0;
    worker.setWindows([{ focus: async () => void focused++ }]);
    await worker.dispatch('notificationclick', { notification: { data: null, close } });
    assert.deepEqual([worker.opened, focused], [['/'], 1]);
  });

  test('a push that is not our JSON is still shown (a push must show something)', async () => {
    assert.deepEqual(notificationOf('plain words'), { title: 'plain words', options: {} });
    assert.deepEqual(notificationOf('{"body":"no title"}'), { title: '', options: { body: 'no title', icon: undefined, tag: undefined, data: { url: undefined } } });
    const worker = fakeWorker();
    await worker.dispatch('push', { data: null });
    assert.deepEqual(worker.shown, [{ title: '', options: {} }]);
  });
});
