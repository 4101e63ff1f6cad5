/**
 * Timers in a Map, for tests and trials: the whole `TimerStore` contract except durability.
 * `claimDue` and `nextDueAt` scan every timer, which is fine for the sizes tests use.
 */
import {
  assertTimers,
  defaultLeaseMs,
  type ClaimedTimer,
  type ClaimOptions,
  type Timer,
  type TimerStore,
  type TimerVersion,
} from '../../ports/timer-store.js';

interface Entry {
  timer: Timer;
  version: number;
  attempts: number;
  /** Lease end of the current claim, or null while pending. */
  claimedUntil: number | null;
}

const byDue = (a: Entry, b: Entry): number => a.timer.dueAt - b.timer.dueAt || (a.timer.id < b.timer.id ? -1 : a.timer.id > b.timer.id ? 1 : 0);

export class MemoryTimerStore implements TimerStore {
  readonly capabilities = { durable: false };
  private readonly entries = new Map<string, Entry>();
  private lastVersion = 0;

  async schedule(timers: readonly Timer[]): Promise<void> {
    assertTimers(timers);
    for (const t of timers) {
      const timer = { id: t.id, partitionKey: t.partitionKey, dueAt: t.dueAt, payload: t.payload };
      this.entries.set(t.id, { timer, version: ++this.lastVersion, attempts: 0, claimedUntil: null });
    }
  }

  async cancel(ids: readonly string[]): Promise<number> {
    let n = 0;
    for (const id of ids) if (this.entries.delete(id)) n++;
    return n;
  }

  async claimDue(now: number, limit: number, options: ClaimOptions = {}): Promise<ClaimedTimer[]> {
    const cutoff = now + (options.lookaheadMs ?? 0);
    const leaseMs = options.leaseMs ?? defaultLeaseMs;
    const claimable = [...this.entries.values()]
      .filter((e) => (e.claimedUntil === null ? e.timer.dueAt <= cutoff : e.claimedUntil <= now))
      .sort(byDue)
      .slice(0, Math.max(0, limit));
    return claimable.map((e) => {
      e.attempts += 1;
      e.claimedUntil = Math.max(e.timer.dueAt, now) + leaseMs;
      return { ...e.timer, version: e.version, attempt: e.attempts };
    });
  }

  async complete(claims: readonly TimerVersion[]): Promise<number> {
    let n = 0;
    for (const c of claims) {
      const e = this.entries.get(c.id);
      if (e && e.version === c.version && this.entries.delete(c.id)) n++;
    }
    return n;
  }

  async release(claims: readonly TimerVersion[]): Promise<number> {
    let n = 0;
    for (const c of claims) {
      const e = this.entries.get(c.id);
      if (e && e.version === c.version && e.claimedUntil !== null) (e.claimedUntil = null), n++;
    }
    return n;
  }

  /** Makes every claimed timer pending again (see `EngineStore.releaseAllClaims`). */
  async releaseAll(): Promise<number> {
    let n = 0;
    for (const e of this.entries.values()) if (e.claimedUntil !== null) (e.claimedUntil = null), n++;
    return n;
  }

  async nextDueAt(): Promise<number | null> {
    let next: number | null = null;
    for (const e of this.entries.values()) {
      const at = e.claimedUntil ?? e.timer.dueAt;
      if (next === null || at < next) next = at;
    }
    return next;
  }

  async count(): Promise<number> {
    return this.entries.size;
  }

  async close(): Promise<void> {}
}
