/**
 * The trigger engine's store in process memory, for tests and trials: the whole `EngineStore`
 * contract except durability. Lists are scanned and sorted on every read, which is fine for the
 * sizes tests use.
 *
 * States and messages go in and out as JSON copies, so the caller keeps its objects and what the
 * store holds is exactly what a durable store would read back. As in the SQLite store, a new
 * outbox entry is due from `message.at`, in the engine's time, whatever the clock stamping `createdAt`.
 */
import type { TriggerState } from '../../core/triggers/state.js';
import {
  OutboxStatus,
  userRefKey,
  erasureCounters,
  type CounterKey,
  type DeliveryResult,
  type EngineCommit,
  type EngineStore,
  type MergeRecord,
  type OutboxEntry,
  type OutboxQuery,
  type TriggerVersionRecord,
  type UserRef,
  mergeMemoryMs,
} from '../../ports/engine-store.js';
import { systemClock, type Clock } from '../../ports/clock.js';
import { clampLimit, cursorKey, encodeCursor, type Page } from '../../ports/pagination.js';
import { assertTimers, type Timer } from '../../ports/timer-store.js';
import { MemoryTimerStore } from './memory-timer-store.js';
import { findEach } from '../find-each.js';

export interface MemoryEngineStoreOptions {
  /** Stamps `createdAt` of the outbox entries a commit adds. Default: the system clock. */
  clock?: Clock;
}

interface Row {
  entry: OutboxEntry;
  profileId: string;
  /** Lease end of the current claim; null while not claimed. */
  claimedUntil: number | null;
}

/**
 * `MemoryTimerStore` that also knows the partition of each id it scheduled, so that erasing a
 * user can cancel that user's timers. An id completed by version stays in the map until it is
 * scheduled again or cancelled: harmless, as cancelling an id that is gone is a no-op.
 */
class PartitionedMemoryTimerStore extends MemoryTimerStore {
  private readonly partitionOf = new Map<string, string>();

  // Neither override awaits before calling the base, whose bodies do not await either: a caller
  // that does not await has the change applied before its next statement (commit relies on it).
  override async schedule(timers: readonly Timer[]): Promise<void> {
    assertTimers(timers);
    for (const t of timers) this.partitionOf.set(t.id, t.partitionKey);
    return super.schedule(timers);
  }

  override async cancel(ids: readonly string[]): Promise<number> {
    for (const id of ids) this.partitionOf.delete(id);
    return super.cancel(ids);
  }

  cancelPartition(partitionKey: string): Promise<number> {
    const ids = [...this.partitionOf].filter(([, p]) => p === partitionKey).map(([id]) => id);
    return this.cancel(ids);
  }
}

const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
const counterId = (k: CounterKey): string => JSON.stringify([k.workspaceId, k.triggerId, k.kind, k.stepId, k.channel, k.variant]);
const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
/** The order `counters` lists them in, as the SQLite store's primary key does. */
const counterFields = ['triggerId', 'kind', 'stepId', 'channel', 'variant'] as const;
/** Newest first; ties by key, descending (the cursor is `[createdAt, key]`). */
const newestFirst = (a: Row, b: Row): number => b.entry.createdAt - a.entry.createdAt || compare(b.entry.message.key, a.entry.message.key);

export class MemoryEngineStore implements EngineStore {
  readonly timers: PartitionedMemoryTimerStore = new PartitionedMemoryTimerStore();
  private readonly clock: Clock;
  private readonly states = new Map<string, string>();
  private readonly outbox = new Map<string, Row>();
  private readonly counterMap = new Map<string, { key: CounterKey; count: number }>();
  private readonly versionMap = new Map<string, TriggerVersionRecord>();
  /** Merged-away profile -> the merge, in the order recorded (re-recorded ones last). */
  private readonly merges = new Map<string, MergeRecord>();
  private applied = 0;

  constructor(options: MemoryEngineStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
  }

  async loadStates(users: readonly UserRef[]): Promise<Map<string, TriggerState>> {
    return findEach(
      users,
      (u) => {
        const json = this.states.get(userRefKey(u));
        return json === undefined ? undefined : (JSON.parse(json) as TriggerState);
      },
      userRefKey,
    );
  }

  async commit(c: EngineCommit): Promise<{ addedSends: string[] }> {
    // Everything that can throw happens before the first change, so a rejected commit changed nothing.
    assertTimers(c.schedule);
    const states = c.states.map((s) => ({ key: userRefKey(s), json: s.state === null ? null : JSON.stringify(s.state) }));
    const sends = c.sends.map((s) => ({ workspaceId: s.workspaceId, message: copy(s.message), claimedUntil: s.claimedUntil ?? null }));
    const counters = c.counters.map((x) => ({ key: copy(x.key), count: x.count }));
    const now = this.clock.now();

    // From here on nothing awaits until every change is made, so no read sees half a commit.
    const timerWork = [this.timers.complete(c.completeTimers), this.timers.cancel(c.cancel), this.timers.schedule(c.schedule)];
    for (const s of states) {
      if (s.json === null) this.states.delete(s.key);
      else this.states.set(s.key, s.json);
    }
    const addedSends: string[] = [];
    for (const { workspaceId, message, claimedUntil } of sends) {
      if (this.outbox.has(message.key)) continue;
      const entry: OutboxEntry = { workspaceId, message, status: OutboxStatus.pending, attempts: 0, notBefore: message.at, createdAt: now, updatedAt: now, deliveredVia: null, lastError: null };
      this.outbox.set(message.key, { entry, profileId: message.profileId, claimedUntil });
      addedSends.push(message.key);
    }
    for (const { key, count } of counters) this.addCounter(key, count);
    if (c.position !== undefined) this.applied = Math.max(this.applied, c.position);
    for (const m of c.merges ?? []) {
      this.merges.delete(userRefKey(m.from));
      this.merges.set(userRefKey(m.from), { from: { ...m.from }, to: { ...m.to }, at: m.at });
    }
    if (c.merges?.length) {
      // Recorded about in time order: the forgotten ones are at the front.
      const horizon = Math.max(...c.merges.map((m) => m.at)) - mergeMemoryMs;
      for (const [key, m] of this.merges) {
        if (m.at >= horizon) break;
        this.merges.delete(key);
      }
    }
    await Promise.all(timerWork);
    return { addedSends };
  }

  async position(): Promise<number> {
    return this.applied;
  }

  async mergedInto(users: readonly UserRef[]): Promise<Map<string, UserRef>> {
    return findEach(
      users,
      (u) => {
        const m = this.merges.get(userRefKey(u));
        return m && { ...m.to };
      },
      userRefKey,
    );
  }

  async claimOutbox(now: number, limit: number, leaseMs: number): Promise<OutboxEntry[]> {
    const claimable = [...this.outbox.values()]
      .filter((r) => r.entry.status === OutboxStatus.pending && (r.claimedUntil === null ? r.entry.notBefore <= now : r.claimedUntil <= now))
      .sort((a, b) => a.entry.notBefore - b.entry.notBefore || compare(a.entry.message.key, b.entry.message.key))
      .slice(0, Math.max(0, limit));
    for (const r of claimable) r.claimedUntil = now + leaseMs;
    return claimable.map((r) => copy(r.entry));
  }

  async settleOutbox(results: readonly DeliveryResult[], now: number): Promise<void> {
    for (const result of results) {
      const row = this.outbox.get(result.key);
      // Delivered and failed are final: a late report from a dispatcher whose lease ran out cannot undo them.
      if (!row || row.entry.status !== OutboxStatus.pending) continue;
      const e = row.entry;
      // Deferring (quiet hours) and suppressing (policy) are no attempt to deliver.
      if (result.status !== 'deferred' && result.status !== 'suppressed') e.attempts += 1;
      e.updatedAt = now;
      e.lastError = result.error ?? e.lastError;
      row.claimedUntil = null;
      if (result.status === 'retry' || result.status === 'deferred') e.notBefore = result.notBefore ?? now;
      else {
        e.status = result.status;
        if (result.status === 'delivered') e.deliveredVia = result.via ?? null;
      }
    }
  }

  async listOutbox(workspaceId: string, q: OutboxQuery): Promise<Page<OutboxEntry>> {
    const limit = clampLimit(q.limit);
    const after = q.cursor ? cursorKey(q.cursor, ['number', 'string']) : null;
    const rows = [...this.outbox.values()]
      .filter(
        (r) =>
          r.entry.workspaceId === workspaceId &&
          (q.status === undefined || r.entry.status === q.status) &&
          (q.profileId === undefined || r.profileId === q.profileId) &&
          (q.triggerId === undefined || r.entry.message.triggerId === q.triggerId) &&
          (after === null || r.entry.createdAt < after[0] || (r.entry.createdAt === after[0] && r.entry.message.key < after[1])),
      )
      .sort(newestFirst)
      .slice(0, limit + 1);
    const items = rows.slice(0, limit).map((r) => copy(r.entry));
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? encodeCursor([last.createdAt, last.message.key]) : null };
  }

  async nextOutboxAt(): Promise<number | null> {
    let next: number | null = null;
    for (const r of this.outbox.values()) {
      if (r.entry.status !== OutboxStatus.pending) continue;
      const at = r.claimedUntil ?? r.entry.notBefore;
      if (next === null || at < next) next = at;
    }
    return next;
  }

  async counters(workspaceId: string, triggerId?: string): Promise<{ key: CounterKey; count: number }[]> {
    return [...this.counterMap]
      .filter(([, c]) => c.key.workspaceId === workspaceId && (triggerId === undefined || c.key.triggerId === triggerId))
      .map(([, c]) => ({ key: { ...c.key }, count: c.count }))
      .sort((a, b) => counterFields.reduce((order, f) => order || compare(a.key[f], b.key[f]), 0));
  }

  async saveVersions(versions: readonly TriggerVersionRecord[]): Promise<void> {
    for (const v of versions) {
      const id = JSON.stringify([v.triggerId, v.version]);
      if (!this.versionMap.has(id)) this.versionMap.set(id, { triggerId: v.triggerId, version: v.version, definition: v.definition, firstSeenAt: v.firstSeenAt });
    }
  }

  async versions(): Promise<TriggerVersionRecord[]> {
    return [...this.versionMap.values()]
      .sort((a, b) => compare(a.triggerId, b.triggerId) || a.firstSeenAt - b.firstSeenAt || compare(a.version, b.version))
      .map((v) => ({ ...v }));
  }

  async exportUser(user: UserRef): Promise<{ state: TriggerState | null; outbox: OutboxEntry[] }> {
    const json = this.states.get(userRefKey(user));
    const outbox = this.rowsOf(user).sort(newestFirst).map((r) => copy(r.entry));
    return { state: json === undefined ? null : (JSON.parse(json) as TriggerState), outbox };
  }

  async releaseAllClaims(): Promise<{ timers: number; outbox: number }> {
    let outbox = 0;
    for (const r of this.outbox.values()) {
      if (r.claimedUntil === null) continue;
      r.claimedUntil = null;
      outbox++;
    }
    return { timers: await this.timers.releaseAll(), outbox };
  }

  async eraseUser(user: UserRef): Promise<{ states: number; outbox: number; timers: number }> {
    const json = this.states.get(userRefKey(user));
    if (json !== undefined) {
      for (const { key, count } of erasureCounters(user.workspaceId, JSON.parse(json) as TriggerState)) this.addCounter(key, count);
    }
    const states = this.states.delete(userRefKey(user)) ? 1 : 0;
    for (const [key, m] of this.merges) if (userRefKey(m.from) === userRefKey(user) || userRefKey(m.to) === userRefKey(user)) this.merges.delete(key);
    const rows = this.rowsOf(user);
    for (const r of rows) this.outbox.delete(r.entry.message.key);
    const timers = await this.timers.cancelPartition(userRefKey(user));
    return { states, outbox: rows.length, timers };
  }

  async close(): Promise<void> {}

  /** Adds `count` (negative for a gauge going down); a counter at 0 stays listed, as in SQLite. */
  private addCounter(key: CounterKey, count: number): void {
    const id = counterId(key);
    const existing = this.counterMap.get(id);
    if (existing) existing.count += count;
    else this.counterMap.set(id, { key, count });
  }

  private rowsOf(user: UserRef): Row[] {
    return [...this.outbox.values()].filter((r) => r.entry.workspaceId === user.workspaceId && r.profileId === user.profileId);
  }
}
