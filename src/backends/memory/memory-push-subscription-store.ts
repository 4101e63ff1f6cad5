/**
 * Push subscriptions in a Map, for tests and trials: the whole `PushSubscriptionStore` contract
 * except durability. Lookups by identity scan every subscription, which is fine at test sizes.
 */
import {
  byRecency,
  maxSubscriptionsPerIdentity,
  type PushRegistration,
  type PushSubscriptionRecord,
  type PushSubscriptionStore,
} from '../../ports/push-subscription-store.js';

/** Keyed by workspace and endpoint: `JSON.stringify([workspaceId, endpoint])`. */
const keyOf = (workspaceId: string, endpoint: string): string => JSON.stringify([workspaceId, endpoint]);

export class MemoryPushSubscriptionStore implements PushSubscriptionStore {
  readonly capabilities = { durable: false };
  private readonly records = new Map<string, PushSubscriptionRecord>();

  async register(r: PushRegistration): Promise<{ created: boolean }> {
    const key = keyOf(r.workspaceId, r.subscription.endpoint);
    const held = this.records.get(key);
    this.records.set(key, {
      workspaceId: r.workspaceId,
      identityKey: r.identityKey,
      endpoint: r.subscription.endpoint,
      keys: { p256dh: r.subscription.keys.p256dh, auth: r.subscription.keys.auth },
      expirationTime: r.subscription.expirationTime,
      userAgent: r.userAgent ?? null,
      createdAt: held?.createdAt ?? r.at,
      updatedAt: r.at,
    });
    const others = this.list(r.workspaceId, [r.identityKey]).filter((s) => s.endpoint !== r.subscription.endpoint);
    for (const s of others.slice(maxSubscriptionsPerIdentity - 1)) this.records.delete(keyOf(s.workspaceId, s.endpoint));
    return { created: held === undefined };
  }

  async remove(workspaceId: string, endpoint: string): Promise<boolean> {
    return this.records.delete(keyOf(workspaceId, endpoint));
  }

  async listFor(workspaceId: string, identityKeys: readonly string[]): Promise<PushSubscriptionRecord[]> {
    return this.list(workspaceId, identityKeys);
  }

  async count(): Promise<number> {
    return this.records.size;
  }

  async exportUser(workspaceId: string, identityKeys: readonly string[]): Promise<PushSubscriptionRecord[]> {
    return this.list(workspaceId, identityKeys);
  }

  async eraseUser(workspaceId: string, identityKeys: readonly string[]): Promise<number> {
    const erased = this.list(workspaceId, identityKeys);
    for (const s of erased) this.records.delete(keyOf(s.workspaceId, s.endpoint));
    return erased.length;
  }

  async close(): Promise<void> {}

  private list(workspaceId: string, identityKeys: readonly string[]): PushSubscriptionRecord[] {
    const wanted = new Set(identityKeys);
    return [...this.records.values()]
      .filter((s) => s.workspaceId === workspaceId && wanted.has(s.identityKey))
      .sort(byRecency)
      .map((s) => ({ ...s, keys: { ...s.keys } }));
  }
}
