/**
 * Durable timers in SQLite (WAL, one writing process), in tables of their own: by default a file
 * of their own, beside the event store's. Nothing is held in memory per timer: a pending timer
 * is one row and two index entries on disk, and the page cache is bounded (`cacheMiB`).
 *
 * `version` is an AUTOINCREMENT rowid: `INSERT OR REPLACE` gives a rescheduled id a new, never
 * reused version, so a late `complete` of the old version cannot delete the new one.
 * Pending timers are found through a partial index on `due_at` (ties sorted by id as they are
 * read), expired claims through one on `claimed_until`; every batch is one transaction (one fsync
 * with `synchronous: full`).
 *
 * Scheduling appends. The engine's timer ids lead with their run's start (`timerIdOf`), so the
 * timers of a batch land together at the end of the id index, as they do in the table and, due a
 * step's delay later, in the due index; a batch writes few pages. Rows go in 64 per statement.
 *
 * Cancelling marks, deleting comes later. The timers cancelled together (users who bought) sit
 * all over the id index, the table and the due index: deleting each at once rewrote three random
 * pages per timer. Instead `cancel` finds the versions by id (one statement per batch, ids in
 * order) and adds them to `timer_cancels`, a small table whose pages a batch shares; every read skips
 * the versions there, so a cancelled timer is gone for every caller at once. The row itself is
 * deleted when it would have come due (`claimDue` deletes the cancelled rows in the range it
 * read: in due order, with the timers that fire), or when it is replaced, completed or erased;
 * a trigger deletes its mark with it, so a mark exists exactly while its row does.
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
  // Pending timers by due time alone: an entry is the due time and the rowid, not the id's text
  // too: 12% less disk, and fewer pages to write when due times come in random order.
  `
  DROP INDEX timers_pending;
  CREATE INDEX timers_pending ON timers (due_at) WHERE claimed_until IS NULL;
  `,
  // Cancelled versions, until their rows are deleted (see the header). The trigger runs on every
  // delete of a row, also the one REPLACE makes (with recursive_triggers on, set at open).
  `
  CREATE TABLE timer_cancels (version INTEGER PRIMARY KEY);
  CREATE TRIGGER timers_cancel_gone AFTER DELETE ON timers BEGIN
    DELETE FROM timer_cancels WHERE version = OLD.version;
  END;
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
/** Timers per multi-row INSERT when scheduling. */
const rowsPerInsert = 64;
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

    // The mark's trigger must also run on the delete REPLACE makes: a per-connection setting.
    db.pragma('recursive_triggers = ON');
    const live = 'NOT EXISTS (SELECT 1 FROM timer_cancels c WHERE c.version = timers.version)';
    const s = {
      upsert: db.prepare('INSERT OR REPLACE INTO timers (id, partition_key, due_at, payload) VALUES (?, ?, ?, ?)'),
      // One statement per batch: the ids as a JSON array, looked up in id order, marked in version order.
      cancel: db.prepare('INSERT OR IGNORE INTO timer_cancels (version) SELECT t.version FROM json_each(?) j JOIN timers t ON t.id = j.value ORDER BY 1'),
      livePartition: db.prepare(`SELECT count(*) FROM timers WHERE partition_key = ? AND ${live}`).pluck(),
      cancelPartition: db.prepare('DELETE FROM timers WHERE partition_key = ?'),
      pendingDue: db.prepare(`SELECT ${columns} FROM timers WHERE claimed_until IS NULL AND due_at <= ? AND ${live} ORDER BY due_at, id LIMIT ?`),
      expiredClaims: db.prepare(`SELECT ${columns} FROM timers WHERE claimed_until IS NOT NULL AND claimed_until <= ? AND ${live} ORDER BY due_at, id LIMIT ?`),
      anyCancelled: db.prepare('SELECT EXISTS (SELECT 1 FROM timer_cancels)').pluck(),
      purgePending: db.prepare(`DELETE FROM timers WHERE version IN (SELECT version FROM timers WHERE claimed_until IS NULL AND due_at <= ? AND NOT ${live})`),
      purgeExpired: db.prepare(`DELETE FROM timers WHERE version IN (SELECT version FROM timers WHERE claimed_until IS NOT NULL AND claimed_until <= ? AND NOT ${live})`),
      // One statement per claim: the versions as a JSON array, each leased until max(due, now) + lease.
      claim: db.prepare('UPDATE timers SET claimed_until = max(due_at, ?) + ?, attempts = attempts + 1 WHERE version IN (SELECT value FROM json_each(?))'),
      complete: db.prepare(`DELETE FROM timers WHERE version = ? AND id = ? AND ${live}`),
      purgeCancelled: db.prepare(`DELETE FROM timers WHERE version = ? AND id = ? AND NOT ${live}`),
      release: db.prepare(`UPDATE timers SET claimed_until = NULL WHERE version = ? AND id = ? AND claimed_until IS NOT NULL AND ${live}`),
      nextPending: db.prepare(`SELECT due_at FROM timers WHERE claimed_until IS NULL AND ${live} ORDER BY due_at LIMIT 1`).pluck(),
      nextLeaseEnd: db.prepare(`SELECT claimed_until FROM timers WHERE claimed_until IS NOT NULL AND ${live} ORDER BY claimed_until LIMIT 1`).pluck(),
      count: db.prepare('SELECT (SELECT count(*) FROM timers) - (SELECT count(*) FROM timer_cancels)').pluck(),
    };
    this.stmt = s;

    // Whole groups of rows per statement, the rest one by one: a statement per timer cost a quarter
    // of a schedule's time. Rows apply in order, so within a batch the last timer of an id wins.
    const upsertRows = db.prepare(`INSERT OR REPLACE INTO timers (id, partition_key, due_at, payload) VALUES ${Array(rowsPerInsert).fill('(?, ?, ?, ?)').join(', ')}`);
    const params: unknown[] = new Array(rowsPerInsert * 4);
    this.scheduleTx = db.transaction((timers: readonly Timer[]) => {
      let i = 0;
      for (; i + rowsPerInsert <= timers.length; i += rowsPerInsert) {
        for (let k = 0; k < rowsPerInsert; k++) {
          const t = timers[i + k]!;
          params[4 * k] = t.id;
          params[4 * k + 1] = t.partitionKey;
          params[4 * k + 2] = t.dueAt;
          params[4 * k + 3] = t.payload;
        }
        upsertRows.run(params);
      }
      for (; i < timers.length; i++) {
        const t = timers[i]!;
        s.upsert.run(t.id, t.partitionKey, t.dueAt, t.payload);
      }
    });
    this.claimTx = db.transaction((now: number, limit: number, cutoff: number, leaseMs: number) => {
      const pending = s.pendingDue.all(cutoff, limit) as TimerRow[];
      const rows = [...pending, ...(s.expiredClaims.all(now, limit) as TimerRow[])];
      const chosen = rows.sort(byDue).slice(0, limit);
      if (s.anyCancelled.get() === 1) {
        // The cancelled rows in the ranges just read go now, in due order with those that fire.
        s.purgePending.run(pending.length === limit ? pending[pending.length - 1]!.due_at : cutoff);
        s.purgeExpired.run(now);
      }
      if (chosen.length > 0) s.claim.run(now, leaseMs, JSON.stringify(chosen.map((r) => r.version)));
      return chosen.map((r) => ({ id: r.id, partitionKey: r.partition_key, dueAt: r.due_at, payload: r.payload, version: r.version, attempt: r.attempts + 1 }));
    });
    this.byVersionTx = db.transaction((claims: readonly TimerVersion[], release: boolean) => {
      let n = 0;
      for (const c of claims) {
        if (release) {
          n += s.release.run(c.version, c.id).changes;
          continue;
        }
        const deleted = s.complete.run(c.version, c.id).changes;
        // A version cancelled while claimed: completing it is a no-op for the caller, and its row can go.
        if (deleted === 0) s.purgeCancelled.run(c.version, c.id);
        n += deleted;
      }
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
    return ids.length > 0 ? this.stmt.cancel.run(JSON.stringify([...ids].sort())).changes : 0;
  }

  completeSync(claims: readonly TimerVersion[]): number {
    return claims.length > 0 ? this.byVersionTx(claims, false) : 0;
  }

  /** Deletes every timer of a partition (a user being erased); a scan, as erasures are rare. */
  cancelPartitionSync(partitionKey: string): number {
    const live = this.stmt.livePartition.get(partitionKey) as number;
    this.stmt.cancelPartition.run(partitionKey);
    return live;
  }
}


