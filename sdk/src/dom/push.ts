/**
 * Web push from the page: asks the user's permission, registers the service worker (nudge-sw.js,
 * which must be served from the site's own origin), subscribes with Nudge's application server
 * key (`GET /v1/push/vapid-public-key`) and registers the subscription with Nudge
 * (`POST /v1/push/subscriptions`, `{writeKey, userId?, anonymousId, subscription}` with the
 * subscription as `PushSubscription.toJSON()` gives it); `unsubscribePush` undoes both. The
 * browser comes in as `PushEnv`, so the requests can be checked against a real server without one.
 *
 * Call `subscribePush` from a user's gesture (a click): browsers ignore permission prompts asked
 * for without one.
 */

export interface PushEnv {
  fetch: typeof fetch;
  /** `window.Notification`; absent where web push is not supported. */
  notification?: { requestPermission(): Promise<NotificationPermission> };
  /** `navigator.serviceWorker`; absent where web push is not supported. */
  serviceWorker?: Pick<ServiceWorkerContainer, 'register' | 'ready' | 'getRegistration'>;
}

export interface PushTarget {
  host: string;
  writeKey: string;
  userId: string | null;
  anonymousId: string;
}

export interface PushOptions {
  /** The service worker's URL on the site. Default `/nudge-sw.js`; its scope must cover the page. */
  serviceWorker?: string;
}

/** `denied` or `default`: the user refused or closed the prompt. */
export type PushResult = 'subscribed' | 'denied' | 'default' | 'unsupported';

export function browserPushEnv(win: Window): PushEnv {
  const supported = 'PushManager' in win && 'serviceWorker' in win.navigator && typeof Notification === 'function';
  return { fetch: win.fetch.bind(win), ...(supported ? { notification: Notification, serviceWorker: win.navigator.serviceWorker } : {}) };
}

/** The bytes of a base64url text (an application server key). */
export function base64UrlBytes(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

export async function subscribePush(env: PushEnv, target: PushTarget, options: PushOptions = {}): Promise<PushResult> {
  const { notification, serviceWorker } = env;
  if (!notification || !serviceWorker) return 'unsupported';
  const permission = await notification.requestPermission();
  if (permission !== 'granted') return permission;
  await serviceWorker.register(options.serviceWorker ?? '/nudge-sw.js');
  const registration = await serviceWorker.ready;
  const key = await env.fetch(`${target.host}/v1/push/vapid-public-key?writeKey=${encodeURIComponent(target.writeKey)}`, { credentials: 'omit' });
  if (!key.ok) throw new Error(`nudge: no push key (${key.status}): ${await key.text()}`);
  const { publicKey } = (await key.json()) as { publicKey: string };
  const subscription =
    (await registration.pushManager.getSubscription()) ??
    (await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64UrlBytes(publicKey) }));
  const body = { writeKey: target.writeKey, ...(target.userId === null ? {} : { userId: target.userId }), anonymousId: target.anonymousId, subscription: subscription.toJSON() };
  const saved = await env.fetch(`${target.host}/v1/push/subscriptions`, { method: 'POST', body: JSON.stringify(body), credentials: 'omit' });
  if (!saved.ok) throw new Error(`nudge: push subscription refused (${saved.status}): ${await saved.text()}`);
  return 'subscribed';
}

/** Forgets this browser's subscription at Nudge and at the push service; false when there was none. */
export async function unsubscribePush(env: PushEnv, target: PushTarget): Promise<boolean> {
  const registration = await env.serviceWorker?.getRegistration();
  const subscription = await registration?.pushManager.getSubscription();
  if (!subscription) return false;
  const body = JSON.stringify({ writeKey: target.writeKey, endpoint: subscription.endpoint });
  const removed = await env.fetch(`${target.host}/v1/push/subscriptions`, { method: 'DELETE', body, credentials: 'omit' });
  if (!removed.ok) throw new Error(`nudge: push subscription not removed (${removed.status}): ${await removed.text()}`);
  return subscription.unsubscribe();
}
