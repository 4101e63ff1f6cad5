/**
 * The trigger engine's store in SQLite (WAL, one writing process): states, outbox, counters,
 * trigger versions and the applied log position, with the durable timers in the same file.
 *
 * The timers share the database handle (`SqliteTimerStore.onDatabase`) so that `commit` can write
 * states, outbox entries, counters, timer changes and the position in one transaction: one fsync
 * with `synchronous: full`, and after a crash either all of it is there or none. That is what
 * keeps a send at most once and a fired timer's effect exactly once.
 *
 * Outbox claims are found as timers are: pending entries through a partial index on
 * `(not_before, key)`, expired leases through one on `claimed_until`. A claimed entry keeps the
 * status `pending`; its lease end is `claimed_until`.
 *
 * Counters are added with an upsert, negative counts too (the waiting gauge going down); the
 * gauge's initial values for states stored before it existed come from a migration (below).
 *
 * A new entry is due from `message.at` (when its step was due, in the engine's time, never after
 * the engine's now), so it is claimable by a dispatcher on the engine's clock whatever the clock
 * that stamps `createdAt`.
 */
import Database from 'better-sqlite3';
import type { OutboundMessage, TriggerState } from '../../core/triggers/state.js';
import { systemClock, type Clock } from '../../ports/clock.js';
import {
  userRefKey,
  erasureCounters,
  mergeMemoryMs,
  type CounterKey,
  type DeliveryResult,
  type EngineCommit,
  type EngineStore,
  type OutboxEntry,
  type OutboxQuery,
  type OutboxStatus,
  type TriggerVersionRecord,
  type UserRef,
} from '../../ports/engine-store.js';
import { clampLimit, cursorKey, encodeCursor, type Page } from '../../ports/pagination.js';
import { migrate, openDatabase } from './database.js';
import { SqliteTimerStore } from './sqlite-timer-store.js';
import type { WalCheckpointer } from './wal-checkpointer.js';
import { findEach } from '../find-each.js';

export interface SqliteEngineStoreOptions {
  /** Database file, or ':memory:'. The timers are kept in it too. */
  path: string;
  /** `full` fsyncs every commit (default); `normal` survives process crashes, not power loss. */
  synchronous?: 'full' | 'normal';
  /** Page cache in MiB. Default 16. */
  cacheMiB?: number;
  /** Stamps `createdAt` of the outbox entries a commit adds. Default: the system clock. */
  clock?: Clock;
  /** Runs the WAL checkpoints on its thread instead of in commits. */
  checkpointer?: WalCheckpointer;
}

/** Upgrades of the engine tables; the version applied is kept in `engine_meta`, beside the position. */
const migrations: readonly string[] = [
  `
  CREATE TABLE states (
    workspace_id TEXT NOT NULL,
    profile_id TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (workspace_id, profile_id)
  );
  CREATE TABLE outbox (
    key TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    profile_id TEXT NOT NULL,
    trigger_id TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before INTEGER NOT NULL,
    claimed_until INTEGER, -- lease end of the current claim; NULL while not claimed
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    delivered_via TEXT,
    last_error TEXT,
    message TEXT NOT NULL
  );
  CREATE INDEX outbox_pending ON outbox (not_before, key) WHERE status = 'pending' AND claimed_until IS NULL;
  CREATE INDEX outbox_claimed ON outbox (claimed_until) WHERE claimed_until IS NOT NULL;
  CREATE INDEX outbox_recent ON outbox (workspace_id, created_at, key);
  CREATE INDEX outbox_by_profile ON outbox (workspace_id, profile_id, created_at, key);
  CREATE TABLE counters (
    workspace_id TEXT NOT NULL,
    trigger_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    step_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    variant TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, trigger_id, kind, step_id, channel, variant)
  ) WITHOUT ROWID;
  CREATE TABLE trigger_versions (
    trigger_id TEXT NOT NULL,
    version TEXT NOT NULL,
    definition TEXT NOT NULL,
    first_seen_at INTEGER NOT NULL,
    PRIMARY KEY (trigger_id, version)
  );
  `,
  // The waiting gauge (ports/engine-store.ts) starts from the runs the stored states already have
  // waiting, so that the −1 of their end finds the +1 they got before the gauge existed. Once, at
  // the upgrade: from then on the engine's commits and eraseUser keep it equal to the states.
  `
  INSERT INTO counters (workspace_id, trigger_id, kind, step_id, channel, variant, count)
  SELECT s.workspace_id, json_extract(r.value, '$.triggerId'), 'waiting', json_extract(r.value, '$.waiting.node'), '', '', count(*)
  FROM states s, json_each(s.state, '$.runs') r
  WHERE json_type(r.value, '$.waiting') = 'object'
  GROUP BY 1, 2, 4;
  `,
  // Profiles merged away, for their delivery reports (ports/engine-store.ts, MergeRecord).
  `
  CREATE TABLE merges (
    workspace_id TEXT NOT NULL,
    from_profile TEXT NOT NULL,
    to_profile TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, from_profile)
  ) WITHOUT ROWID;
  CREATE INDEX merges_at ON merges (at);
  CREATE INDEX merges_to ON merges (workspace_id, to_profile);
  `,
];

interface OutboxRow {
  key: string;
  workspace_id: string;
  status: string;
  attempts: number;
  not_before: number;
  created_at: number;
  updated_at: number;
  delivered_via: string | null;
  last_error: string | null;
  message: string;
}

interface CounterRow {
  workspace_id: string;
  trigger_id: string;
  kind: CounterKey['kind'];
  step_id: string;
  channel: string;
  variant: string;
  count: number;
}

const outboxColumns = 'key, workspace_id, status, attempts, not_before, created_at, updated_at, delivered_via, last_error, message';
const byNotBefore = (a: OutboxRow, b: OutboxRow): number => a.not_before - b.not_before || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

export class SqliteEngineStore implements EngineStore {
  readonly timers: SqliteTimerStore;
  private readonly db: Database.Database;
  private readonly clock: Clock;
  private readonly stmt;
  private readonly commitTx: (changes: EngineCommit, now: number) => { addedSends: string[] };
  private readonly claimTx: (now: number, limit: number, leaseMs: number) => OutboxEntry[];
  private readonly settleTx: (results: readonly DeliveryResult[], now: number) => void;
  private readonly saveVersionsTx: (versions: readonly TriggerVersionRecord[]) => void;
  private readonly eraseTx: (user: UserRef) => { states: number; outbox: number; timers: number };

  constructor(options: SqliteEngineStoreOptions) {
    const db = openDatabase(options);
    this.db = db;
    this.clock = options.clock ?? systemClock;
    migrate(db, 'engine_meta', migrations);
    const timers = SqliteTimerStore.onDatabase(db);
    this.timers = timers;

    const s = {
      getState: db.prepare('SELECT state FROM states WHERE workspace_id = ? AND profile_id = ?').pluck(),
      putState: db.prepare(
        `INSERT INTO states (workspace_id, profile_id, state) VALUES (?, ?, ?)
         ON CONFLICT (workspace_id, profile_id) DO UPDATE SET state = excluded.state`,
      ),
      deleteState: db.prepare('DELETE FROM states WHERE workspace_id = ? AND profile_id = ?'),
      addOutbox: db.prepare(
        `INSERT OR IGNORE INTO outbox (key, workspace_id, profile_id, trigger_id, status, not_before, claimed_until, created_at, updated_at, message)
         VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)`,
      ),
      addCounter: db.prepare(
        `INSERT INTO counters (workspace_id, trigger_id, kind, step_id, channel, variant, count) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (workspace_id, trigger_id, kind, step_id, channel, variant) DO UPDATE SET count = count + excluded.count`,
      ),
      getPosition: db.prepare("SELECT value FROM engine_meta WHERE key = 'position'").pluck(),
      putMerge: db.prepare('INSERT OR REPLACE INTO merges (workspace_id, from_profile, to_profile, at) VALUES (?, ?, ?, ?)'),
      forgetMerges: db.prepare('DELETE FROM merges WHERE at < ?'),
      mergedInto: db.prepare('SELECT to_profile FROM merges WHERE workspace_id = ? AND from_profile = ?').pluck(),
      eraseMerges: db.prepare('DELETE FROM merges WHERE workspace_id = @workspaceId AND (from_profile = @profileId OR to_profile = @profileId)'),
      setPosition: db.prepare(
        `INSERT INTO engine_meta (key, value) VALUES ('position', ?)
         ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)`,
      ),
      pendingDue: db.prepare(
        `SELECT ${outboxColumns} FROM outbox WHERE status = 'pending' AND claimed_until IS NULL AND not_before <= ? ORDER BY not_before, key LIMIT ?`,
      ),
      expiredClaims: db.prepare(
        `SELECT ${outboxColumns} FROM outbox WHERE claimed_until IS NOT NULL AND claimed_until <= ? AND status = 'pending' ORDER BY not_before, key LIMIT ?`,
      ),
      claim: db.prepare('UPDATE outbox SET claimed_until = ? WHERE key = ?'),
      // Only pending entries are settled: delivered and failed are final, and a late report from
      // a dispatcher whose lease ran out must not undo them.
      settleFinal: db.prepare(
        `UPDATE outbox SET status = :status, delivered_via = :via, last_error = coalesce(:error, last_error),
           attempts = attempts + :attempt, claimed_until = NULL, updated_at = :now WHERE key = :key AND status = 'pending'`,
      ),
      settleRetry: db.prepare(
        `UPDATE outbox SET not_before = :notBefore, last_error = coalesce(:error, last_error),
           attempts = attempts + :attempt, claimed_until = NULL, updated_at = :now WHERE key = :key AND status = 'pending'`,
      ),
      nextPending: db.prepare("SELECT not_before FROM outbox WHERE status = 'pending' AND claimed_until IS NULL ORDER BY not_before LIMIT 1").pluck(),
      nextLeaseEnd: db.prepare("SELECT claimed_until FROM outbox WHERE claimed_until IS NOT NULL AND status = 'pending' ORDER BY claimed_until LIMIT 1").pluck(),
      profileOutbox: db.prepare(`SELECT ${outboxColumns} FROM outbox WHERE workspace_id = ? AND profile_id = ? ORDER BY created_at DESC, key DESC`),
      deleteProfileOutbox: db.prepare('DELETE FROM outbox WHERE workspace_id = ? AND profile_id = ?'),
      counters: db.prepare('SELECT * FROM counters WHERE workspace_id = ? ORDER BY trigger_id, kind, step_id, channel, variant'),
      triggerCounters: db.prepare('SELECT * FROM counters WHERE workspace_id = ? AND trigger_id = ? ORDER BY kind, step_id, channel, variant'),
      addVersion: db.prepare('INSERT OR IGNORE INTO trigger_versions (trigger_id, version, definition, first_seen_at) VALUES (?, ?, ?, ?)'),
      versions: db.prepare(
        `SELECT trigger_id AS triggerId, version, definition, first_seen_at AS firstSeenAt FROM trigger_versions
         ORDER BY trigger_id, first_seen_at, version`,
      ),
    };
    this.stmt = s;

    // Timer changes go through the timer store's synchronous forms, inside this transaction. States
    // are serialised last, as they are written: a state that cannot be stored rolls back the rest.
    this.commitTx = db.transaction((c: EngineCommit, now: number) => {
      const addedSends: string[] = [];
      for (const { workspaceId, message, claimedUntil } of c.sends) {
        const added = s.addOutbox.run(message.key, workspaceId, message.profileId, message.triggerId, message.at, claimedUntil ?? null, now, now, JSON.stringify(message)).changes;
        if (added > 0) addedSends.push(message.key);
      }
      for (const { key: k, count } of c.counters) s.addCounter.run(k.workspaceId, k.triggerId, k.kind, k.stepId, k.channel, k.variant, count);
      // Completions name versions and cancels ids; schedules come last, so a commit that both
      // cancels and schedules an id leaves the new timer.
      timers.completeSync(c.completeTimers);
      timers.cancelSync(c.cancel);
      timers.scheduleSync(c.schedule);
      for (const w of c.states) {
        if (w.state === null) s.deleteState.run(w.workspaceId, w.profileId);
        else s.putState.run(w.workspaceId, w.profileId, JSON.stringify(w.state));
      }
      if (c.position !== undefined) s.setPosition.run(c.position);
      if (c.merges?.length) {
        for (const m of c.merges) s.putMerge.run(m.from.workspaceId, m.from.profileId, m.to.profileId, m.at);
        s.forgetMerges.run(Math.max(...c.merges.map((m) => m.at)) - mergeMemoryMs);
      }
      return { addedSends };
    });
    this.claimTx = db.transaction((now: number, limit: number, leaseMs: number) => {
      const rows = [...(s.pendingDue.all(now, limit) as OutboxRow[]), ...(s.expiredClaims.all(now, limit) as OutboxRow[])];
      const chosen = rows.sort(byNotBefore).slice(0, limit);
      for (const r of chosen) s.claim.run(now + leaseMs, r.key);
      return chosen.map(toEntry);
    });
    this.settleTx = db.transaction((results: readonly DeliveryResult[], now: number) => {
      for (const r of results) {
        const error = r.error ?? null;
        if (r.status === 'retry' || r.status === 'deferred') s.settleRetry.run({ key: r.key, notBefore: r.notBefore ?? now, error, now, attempt: r.status === 'retry' ? 1 : 0 });
        else s.settleFinal.run({ key: r.key, status: r.status, via: r.status === 'delivered' ? (r.via ?? null) : null, error, now, attempt: r.status === 'suppressed' ? 0 : 1 });
      }
    });
    this.saveVersionsTx = db.transaction((versions: readonly TriggerVersionRecord[]) => {
      for (const v of versions) s.addVersion.run(v.triggerId, v.version, v.definition, v.firstSeenAt);
    });
    // The erased state's runs leave the counters with it (`erasureCounters`).
    this.eraseTx = db.transaction((user: UserRef) => {
      const json = s.getState.get(user.workspaceId, user.profileId) as string | undefined;
      if (json !== undefined) {
        for (const { key: k, count } of erasureCounters(user.workspaceId, JSON.parse(json) as TriggerState)) {
          s.addCounter.run(k.workspaceId, k.triggerId, k.kind, k.stepId, k.channel, k.variant, count);
        }
      }
      s.eraseMerges.run({ workspaceId: user.workspaceId, profileId: user.profileId });
      return {
        states: s.deleteState.run(user.workspaceId, user.profileId).changes,
        outbox: s.deleteProfileOutbox.run(user.workspaceId, user.profileId).changes,
        timers: timers.cancelPartitionSync(userRefKey(user)),
      };
    });
  }

  async loadStates(users: readonly UserRef[]): Promise<Map<string, TriggerState>> {
    return findEach(
      users,
      (u) => {
        const json = this.stmt.getState.get(u.workspaceId, u.profileId) as string | undefined;
        return json === undefined ? undefined : (JSON.parse(json) as TriggerState);
      },
      userRefKey,
    );
  }

  async commit(changes: EngineCommit): Promise<{ addedSends: string[] }> {
    return this.commitTx(changes, this.clock.now());
  }

  async position(): Promise<number> {
    return (this.stmt.getPosition.get() as number | undefined) ?? 0;
  }

  async mergedInto(users: readonly UserRef[]): Promise<Map<string, UserRef>> {
    return findEach(
      users,
      (u) => {
        const to = this.stmt.mergedInto.get(u.workspaceId, u.profileId) as string | undefined;
        return to === undefined ? undefined : { workspaceId: u.workspaceId, profileId: to };
      },
      userRefKey,
    );
  }

  async claimOutbox(now: number, limit: number, leaseMs: number): Promise<OutboxEntry[]> {
    return limit > 0 ? this.claimTx(now, limit, leaseMs) : [];
  }

  async settleOutbox(results: readonly DeliveryResult[], now: number): Promise<void> {
    if (results.length > 0) this.settleTx(results, now);
  }

  async listOutbox(workspaceId: string, q: OutboxQuery): Promise<Page<OutboxEntry>> {
    const limit = clampLimit(q.limit);
    const where = ['workspace_id = ?'];
    const params: (string | number)[] = [workspaceId];
    if (q.status !== undefined) where.push('status = ?'), params.push(q.status);
    if (q.profileId !== undefined) where.push('profile_id = ?'), params.push(q.profileId);
    if (q.triggerId !== undefined) where.push('trigger_id = ?'), params.push(q.triggerId);
    const after = q.cursor ? cursorKey(q.cursor, ['number', 'string']) : null;
    if (after) where.push('(created_at < ? OR (created_at = ? AND key < ?))'), params.push(after[0], after[0], after[1]);
    const rows = this.db
      .prepare(`SELECT ${outboxColumns} FROM outbox WHERE ${where.join(' AND ')} ORDER BY created_at DESC, key DESC LIMIT ?`)
      .all(...params, limit + 1) as OutboxRow[];
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return { items: items.map(toEntry), nextCursor: rows.length > limit && last ? encodeCursor([last.created_at, last.key]) : null };
  }

  async nextOutboxAt(): Promise<number | null> {
    const pending = this.stmt.nextPending.get() as number | undefined;
    const leaseEnd = this.stmt.nextLeaseEnd.get() as number | undefined;
    if (pending === undefined) return leaseEnd ?? null;
    return leaseEnd === undefined ? pending : Math.min(pending, leaseEnd);
  }

  async counters(workspaceId: string, triggerId?: string): Promise<{ key: CounterKey; count: number }[]> {
    const rows = (triggerId === undefined ? this.stmt.counters.all(workspaceId) : this.stmt.triggerCounters.all(workspaceId, triggerId)) as CounterRow[];
    return rows.map((r) => ({
      key: { workspaceId: r.workspace_id, triggerId: r.trigger_id, kind: r.kind, stepId: r.step_id, channel: r.channel, variant: r.variant },
      count: r.count,
    }));
  }

  async saveVersions(versions: readonly TriggerVersionRecord[]): Promise<void> {
    if (versions.length > 0) this.saveVersionsTx(versions);
  }

  async versions(): Promise<TriggerVersionRecord[]> {
    return this.stmt.versions.all() as TriggerVersionRecord[];
  }

  async exportUser(user: UserRef): Promise<{ state: TriggerState | null; outbox: OutboxEntry[] }> {
    const json = this.stmt.getState.get(user.workspaceId, user.profileId) as string | undefined;
    const outbox = (this.stmt.profileOutbox.all(user.workspaceId, user.profileId) as OutboxRow[]).map(toEntry);
    return { state: json === undefined ? null : (JSON.parse(json) as TriggerState), outbox };
  }

  async releaseAllClaims(): Promise<{ timers: number; outbox: number }> {
    return this.db.transaction(() => ({
      timers: this.db.prepare('UPDATE timers SET claimed_until = NULL WHERE claimed_until IS NOT NULL').run().changes,
      outbox: this.db.prepare('UPDATE outbox SET claimed_until = NULL WHERE claimed_until IS NOT NULL').run().changes,
    }))();
  }

  async eraseUser(user: UserRef): Promise<{ states: number; outbox: number; timers: number }> {
    return this.eraseTx(user);
  }

  /** Closes the database, timers included; closing again is a no-op. */
  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

function toEntry(r: OutboxRow): OutboxEntry {
  return {
    workspaceId: r.workspace_id,
    message: JSON.parse(r.message) as OutboundMessage,
    status: r.status as OutboxStatus,
    attempts: r.attempts,
    notBefore: r.not_before,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    deliveredVia: r.delivered_via,
    lastError: r.last_error,
  };
}

