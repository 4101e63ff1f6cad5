/**
 * Web push subscriptions: where each browser of a user can be sent a push message.
 *
 * Glossary
 * - subscription: what a browser's `PushSubscription.toJSON()` gives: the push service's
 *   `endpoint` URL, the keys a message is encrypted for (`p256dh`, the browser's P-256 public key,
 *   and `auth`, a 16-byte secret, both base64url) and `expirationTime` (ms since the epoch, or null).
 *   The endpoint names the subscription: it is unique within a workspace.
 * - identity key: the user it belongs to, `u:<userId>` or `a:<anonymousId>`. Subscriptions are
 *   kept by identity key, not by profile, since profiles merge and identity keys do not change:
 *   a profile's subscriptions are those of all its identity keys.
 *
 * Guarantees
 * - `register` of an endpoint already held moves it to the given identity key and replaces its
 *   keys, expiration and user agent (a browser re-subscribing, or another user signing in on it);
 *   `createdAt` stays, `updatedAt` becomes `at`.
 * - An identity key holds at most `maxSubscriptionsPerIdentity`; registering one more drops its
 *   least recently registered, so a public write key cannot pile up endpoints for one user.
 * - `remove` deletes one endpoint: the user unsubscribed, or the push service answered 404/410.
 * - `listFor`, `exportUser` return subscriptions most recently registered first (ties by endpoint).
 * - Every call is applied durably (for durable stores) before it resolves; a reopened durable
 *   store holds everything it held.
 */

export interface PushSubscriptionKeys {
  /** The browser's P-256 public key: base64url of a 65-byte uncompressed point. */
  readonly p256dh: string;
  /** The browser's authentication secret: base64url of 16 bytes. */
  readonly auth: string;
}

/** A subscription as `PushSubscription.toJSON()` gives it. */
export interface PushSubscription {
  readonly endpoint: string;
  readonly keys: PushSubscriptionKeys;
  /** When the browser lets it lapse, in ms since the epoch; null (most browsers) when it does not. */
  readonly expirationTime: number | null;
}

export interface PushRegistration {
  readonly workspaceId: string;
  /** `u:<userId>` or `a:<anonymousId>`. */
  readonly identityKey: string;
  readonly subscription: PushSubscription;
  /** The registering browser's User-Agent, to tell a user's devices apart. */
  readonly userAgent?: string | null;
  /** The time of the registration, in ms since the epoch. */
  readonly at: number;
}

export interface PushSubscriptionRecord extends PushSubscription {
  readonly workspaceId: string;
  readonly identityKey: string;
  readonly userAgent: string | null;
  /** When the endpoint was first registered, in ms since the epoch. */
  readonly createdAt: number;
  /** When it was last registered. */
  readonly updatedAt: number;
}

export const maxSubscriptionsPerIdentity = 20;

export interface PushSubscriptionStoreCapabilities {
  /** Subscriptions survive a restart of the process. */
  durable: boolean;
}

export interface PushSubscriptionStore {
  readonly capabilities: PushSubscriptionStoreCapabilities;
  /** Adds the endpoint, or moves and refreshes it. `created` is false when it was held already. */
  register(registration: PushRegistration): Promise<{ created: boolean }>;
  /** Deletes the endpoint; false when it was not held. */
  remove(workspaceId: string, endpoint: string): Promise<boolean>;
  /** The subscriptions of these identity keys (all of one profile's, to send to it). */
  listFor(workspaceId: string, identityKeys: readonly string[]): Promise<PushSubscriptionRecord[]>;
  /** Subscriptions held, in every workspace. */
  count(): Promise<number>;
  /** Everything held about the user with these identity keys. */
  exportUser(workspaceId: string, identityKeys: readonly string[]): Promise<PushSubscriptionRecord[]>;
  /** Deletes every subscription of these identity keys; returns how many. */
  eraseUser(workspaceId: string, identityKeys: readonly string[]): Promise<number>;
  close(): Promise<void>;
}

/** Newest registration first, then by endpoint: the order `listFor` and `exportUser` return. */
export function byRecency(a: PushSubscriptionRecord, b: PushSubscriptionRecord): number {
  return b.updatedAt - a.updatedAt || (a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0);
}
