/**
 * Durable timers in SQLite (WAL, one writing process), in tables of their own: by default a file
 * of their own, beside the event store's. Nothing is held in memory per timer: a pending timer
 * is one row and two index entries on disk, and the page cache is bounded (`cacheMiB`).
 *
 * `version` is an AUTOINCREMENT rowid: `INSERT OR REPLACE` gives a rescheduled id a new, never
 * reused version, so a late `complete` of the old version cannot delete the new one.
 * Pending timers are found through a partial index on `(due_at, id)`, expired claims through one
 * on `claimed_until`; every batch is one transaction (one fsync with `synchronous: full`).
 *
 * `SqliteTimerStore.onDatabase` puts the timers into a database another store opened, so that
 * store can schedule, cancel and complete timers in its own transactions (the `*Sync` methods).
 */
import type Database from 'better-sqlite3';
import { migrate, openDatabase, type SharedDatabase } from './database.js';
import {
  assertTimers,
  defaultLeaseMs,
  type ClaimedTimer,
  type ClaimOptions,
  type Timer,
  type TimerStore,
  type TimerVersion,
} from '../../ports/timer-store.js';

export interface SqliteTimerStoreOptions {
  /** Database file, or ':memory:'. May be the event store's file: the tables do not collide. */
  path: string;
  /** `full` fsyncs every batch (default); `normal` survives process crashes, not power loss. */
  synchronous?: 'full' | 'normal';
  /** Page cache in MiB. Default 16. */
  cacheMiB?: number;
}


/** Upgrades of the timer tables; the version applied is kept in `timer_meta`, apart from the event store's. */
const migrations: readonly string[] = [
  `
  CREATE TABLE timers (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    partition_key TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_until INTEGER -- lease end of the current claim; NULL while pending
  );
  CREATE INDEX timers_pending ON timers (due_at, id) WHERE claimed_until IS NULL;
  CREATE INDEX timers_claimed ON timers (claimed_until) WHERE claimed_until IS NOT NULL;
  `,
];

interface TimerRow {
  version: number;
  id: string;
  partition_key: string;
  due_at: number;
  payload: string;
  attempts: number;
}

const columns = 'version, id, partition_key, due_at, payload, attempts';
const byDue = (a: TimerRow, b: TimerRow): number => a.due_at - b.due_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export class SqliteTimerStore implements TimerStore {
  readonly capabilities = { durable: true };
  private readonly db: Database.Database;
  /** False on a shared database: its owner closes it, once. */
  private readonly ownsDatabase: boolean;
  private readonly stmt;
  private readonly scheduleTx: (timers: readonly Timer[]) => void;
  private readonly claimTx: (now: number, limit: number, cutoff: number, leaseMs: number) => ClaimedTimer[];
  private readonly byVersionTx: (claims: readonly TimerVersion[], release: boolean) => number;
  private readonly cancelTx: (ids: readonly string[]) => number;

  /**
   * Timers in the tables of `db`, created if missing. The caller keeps the database: it sets the
   * pragmas, and `close` here leaves it open.
   */
  static onDatabase(db: Database.Database): SqliteTimerStore {
    return new SqliteTimerStore({ database: db });
  }

  constructor(options: SqliteTimerStoreOptions | SharedDatabase) {
    this.ownsDatabase = !('database' in options);
    const db = 'database' in options ? options.database : openDatabase(options);
    this.db = db;
    migrate(db, 'timer_meta', migrations);

    const s = {
      upsert: db.prepare('INSERT OR REPLACE INTO timers (id, partition_key, due_at, payload) VALUES (?, ?, ?, ?)'),
      cancel: db.prepare('DELETE FROM timers WHERE id = ?'),
      cancelPartition: db.prepare('DELETE FROM timers WHERE partition_key = ?'),
      pendingDue: db.prepare(`SELECT ${columns} FROM timers WHERE claimed_until IS NULL AND due_at <= ? ORDER BY due_at, id LIMIT ?`),
      expiredClaims: db.prepare(`SELECT ${columns} FROM timers WHERE claimed_until IS NOT NULL AND claimed_until <= ? ORDER BY due_at, id LIMIT ?`),
      claim: db.prepare('UPDATE timers SET claimed_until = ?, attempts = attempts + 1 WHERE version = ?'),
      complete: db.prepare('DELETE FROM timers WHERE version = ? AND id = ?'),
      release: db.prepare('UPDATE timers SET claimed_until = NULL WHERE version = ? AND id = ? AND claimed_until IS NOT NULL'),
      nextPending: db.prepare('SELECT due_at FROM timers WHERE claimed_until IS NULL ORDER BY due_at LIMIT 1').pluck(),
      nextLeaseEnd: db.prepare('SELECT claimed_until FROM timers WHERE claimed_until IS NOT NULL ORDER BY claimed_until LIMIT 1').pluck(),
      count: db.prepare('SELECT count(*) FROM timers').pluck(),
    };
    this.stmt = s;

    this.scheduleTx = db.transaction((timers: readonly Timer[]) => {
      for (const t of timers) s.upsert.run(t.id, t.partitionKey, t.dueAt, t.payload);
    });
    this.cancelTx = db.transaction((ids: readonly string[]) => {
      let n = 0;
      for (const id of ids) n += s.cancel.run(id).changes;
      return n;
    });
    this.claimTx = db.transaction((now: number, limit: number, cutoff: number, leaseMs: number) => {
      const rows = [...(s.pendingDue.all(cutoff, limit) as TimerRow[]), ...(s.expiredClaims.all(now, limit) as TimerRow[])];
      const chosen = rows.sort(byDue).slice(0, limit);
      return chosen.map((r) => {
        s.claim.run(Math.max(r.due_at, now) + leaseMs, r.version);
        return { id: r.id, partitionKey: r.partition_key, dueAt: r.due_at, payload: r.payload, version: r.version, attempt: r.attempts + 1 };
      });
    });
    this.byVersionTx = db.transaction((claims: readonly TimerVersion[], release: boolean) => {
      const statement = release ? s.release : s.complete;
      let n = 0;
      for (const c of claims) n += statement.run(c.version, c.id).changes;
      return n;
    });
  }

  async schedule(timers: readonly Timer[]): Promise<void> {
    this.scheduleSync(timers);
  }

  async cancel(ids: readonly string[]): Promise<number> {
    return this.cancelSync(ids);
  }

  async claimDue(now: number, limit: number, options: ClaimOptions = {}): Promise<ClaimedTimer[]> {
    if (limit <= 0) return [];
    return this.claimTx(now, limit, now + (options.lookaheadMs ?? 0), options.leaseMs ?? defaultLeaseMs);
  }

  async complete(claims: readonly TimerVersion[]): Promise<number> {
    return this.completeSync(claims);
  }

  async release(claims: readonly TimerVersion[]): Promise<number> {
    return claims.length > 0 ? this.byVersionTx(claims, true) : 0;
  }

  async nextDueAt(): Promise<number | null> {
    const pending = this.stmt.nextPending.get() as number | undefined;
    const leaseEnd = this.stmt.nextLeaseEnd.get() as number | undefined;
    if (pending === undefined) return leaseEnd ?? null;
    return leaseEnd === undefined ? pending : Math.min(pending, leaseEnd);
  }

  async count(): Promise<number> {
    return this.stmt.count.get() as number;
  }

  async close(): Promise<void> {
    if (this.ownsDatabase && this.db.open) this.db.close();
  }

  // Synchronous forms, for a store sharing the database: called inside its transaction they
  // become part of it (better-sqlite3 nests them as savepoints), so they commit or roll back with it.

  scheduleSync(timers: readonly Timer[]): void {
    assertTimers(timers);
    if (timers.length > 0) this.scheduleTx(timers);
  }

  cancelSync(ids: readonly string[]): number {
    return ids.length > 0 ? this.cancelTx(ids) : 0;
  }

  completeSync(claims: readonly TimerVersion[]): number {
    return claims.length > 0 ? this.byVersionTx(claims, false) : 0;
  }

  /** Deletes every timer of a partition (a user being erased); a scan, as erasures are rare. */
  cancelPartitionSync(partitionKey: string): number {
    return this.stmt.cancelPartition.run(partitionKey).changes;
  }
}


