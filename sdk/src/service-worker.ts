/**
 * The web push service worker's handlers (nudge-sw.js). A push from Nudge (src/channels/web-push.ts)
 * carries `{title, body?, url?, icon?, tag}`: it is shown as a notification with that tag, so a
 * repeat replaces it; a click closes it and opens `url`, which is Nudge's click-tracking redirect,
 * so opening it records the click and lands on the message's page. A click on a notification
 * without a URL focuses an open window of the site, or opens its start page.
 *
 * The worker's scope is passed in (`ServiceWorkerScope`), typed by what is used, so the handlers
 * run in tests with fakes. A site with its own service worker adds these handlers to it with
 * `importScripts('https://<nudge>/sdk/nudge-sw.js')`.
 */
import { safeUrl } from './inbox.js';

export interface PushPayload {
  title: string;
  body?: string;
  url?: string;
  icon?: string;
  tag?: string;
}

interface ExtendableEvent {
  waitUntil(work: Promise<unknown>): void;
}

export interface PushEventLike extends ExtendableEvent {
  data: { text(): string } | null;
}

export interface NotificationClickEventLike extends ExtendableEvent {
  notification: { data: unknown; close(): void };
}

export interface WindowClientsLike {
  openWindow(url: string): Promise<unknown>;
  matchAll(options: { type: 'window'; includeUncontrolled: boolean }): Promise<readonly { focus(): Promise<unknown> }[]>;
}

export interface ServiceWorkerScope {
  location: { origin: string };
  registration: { showNotification(title: string, options: NotificationOptions): Promise<void> };
  clients: WindowClientsLike;
  addEventListener(type: 'push', listener: (event: PushEventLike) => void): void;
  addEventListener(type: 'notificationclick', listener: (event: NotificationClickEventLike) => void): void;
}

/** The notification a push shows: the payload's parts, or its text as the title when it is no JSON object. */
export function notificationOf(text: string): { title: string; options: NotificationOptions } {
  let payload: Partial<PushPayload> | null = null;
  try {
    payload = JSON.parse(text) as Partial<PushPayload>;
  } catch {
    // Not ours: shown as it is, as a push must show something.
  }
  if (typeof payload !== 'object' || payload === null) return { title: text, options: {} };
  const { title = '', body, icon, tag, url } = payload;
  return { title, options: { body, icon, tag, data: { url } } };
}

/** Opens the clicked notification's URL, or else brings the site to the front. */
export async function openClicked(clients: WindowClientsLike, data: unknown, origin: string): Promise<void> {
  const url = safeUrl((data as { url?: unknown } | null)?.url, origin);
  if (url) {
    await clients.openWindow(url);
    return;
  }
  const [open] = await clients.matchAll({ type: 'window', includeUncontrolled: true });
  await (open ? open.focus() : clients.openWindow('/'));
}

export function installServiceWorker(scope: ServiceWorkerScope): void {
  scope.addEventListener('push', (event) => {
    const { title, options } = notificationOf(event.data?.text() ?? '');
    event.waitUntil(scope.registration.showNotification(title, options));
  });
  scope.addEventListener('notificationclick', (event) => {
    event.notification.close();
    event.waitUntil(openClicked(scope.clients, event.notification.data, scope.location.origin));
  });
}
