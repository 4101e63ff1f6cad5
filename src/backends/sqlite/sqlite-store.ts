/**
 * The embedded store: one SQLite file in WAL mode, written by one process.
 *
 * Durability: each `commit` is one transaction. With `synchronous: full` (the default) the WAL is
 * fsynced before `commit` resolves, so an acknowledged event survives kill -9 and power loss; with
 * `normal` it survives kill -9 but the last transactions may be lost on power loss. The ingest
 * pipeline groups many requests into one commit, so the fsync is paid once per group.
 */
import Database from 'better-sqlite3';
import type { EventType, StoredEvent } from '../../core/event.js';
import type { Profile } from '../../core/profile.js';
import type { EventLog, EventQuery, RecentMessageId } from '../../ports/event-log.js';
import { clampLimit, cursorKey, encodeCursor, type Page } from '../../ports/pagination.js';
import type { ProfileSearch, ProfileStore } from '../../ports/profile-store.js';
import type { Commit, CommitReceipt, ErasureReport, Store, UserExport } from '../../ports/store.js';
import { searchableEmail } from '../profile-search.js';
import { migrations } from './schema.js';
import type { WalCheckpointer } from './wal-checkpointer.js';
import { findEach } from '../find-each.js';

export interface SqliteStoreOptions {
  /** Database file, or ':memory:'. */
  path: string;
  /** `full` fsyncs every commit (default); `normal` survives process crashes, not power loss. */
  synchronous?: 'full' | 'normal';
  /** Page cache in MiB. Default 64. */
  cacheMiB?: number;
  /** Open for reading only, beside a writer in another thread or process (WAL lets both run). */
  readonly?: boolean;
  /** Runs the WAL checkpoints on its thread instead of in commits. */
  checkpointer?: WalCheckpointer;
}

interface EventRow {
  seq: number;
  workspace_id: string;
  profile_id: string;
  message_id: string;
  type: string;
  name: string;
  ts: number;
  received_at: number;
  body: string;
}

type EventBody = Pick<StoredEvent, 'userId' | 'anonymousId' | 'previousId' | 'groupId' | 'properties' | 'traits' | 'context'>;

const eventColumns = 'seq, workspace_id, profile_id, message_id, type, name, ts, received_at, body';

/** Most unindexed events before a commit indexes them even without a checkpoint. */
const maxTail = 200_000;

export class SqliteStore implements Store {
  readonly capabilities = { sharedWriters: false, durable: true };
  readonly events: EventLog;
  readonly profiles: ProfileStore;
  private readonly db: Database.Database;
  private readonly commitTx: (changes: EncodedCommit) => void;
  private position: number;
  private readonly stmt;

  constructor(options: SqliteStoreOptions) {
    const db = new Database(options.path, { readonly: options.readonly ?? false });
    this.db = db;
    if (!options.readonly) db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    db.pragma(`cache_size = -${(options.cacheMiB ?? 64) * 1024}`);
    db.pragma('temp_store = MEMORY');
    db.pragma('busy_timeout = 5000');
    // Checkpoint the WAL every ~40 MB rather than every 4 MB: index pages dirtied by one
    // commit are often dirtied again by the next, and each checkpoint rewrites them.
    db.pragma('wal_autocheckpoint = 10000');
    if (!options.readonly) options.checkpointer?.add(db, options.path);
    if (!options.readonly) migrate(db);

    this.stmt = {
      insertEvent: db.prepare(
        'INSERT INTO events (workspace_id, profile_id, message_id, type, name, ts, received_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      upsertProfile: db.prepare(
        `INSERT INTO profiles (workspace_id, profile_id, user_id, email, updated_at, body, folded_through) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (workspace_id, profile_id) DO UPDATE SET user_id = excluded.user_id, email = excluded.email,
           updated_at = excluded.updated_at, body = excluded.body, folded_through = excluded.folded_through`,
      ),
      upsertIdentity: db.prepare(
        `INSERT INTO identities (workspace_id, key, profile_id) VALUES (?, ?, ?)
         ON CONFLICT (workspace_id, key) DO UPDATE SET profile_id = excluded.profile_id`,
      ),
      moveIdentities: db.prepare('UPDATE identities SET profile_id = ? WHERE workspace_id = ? AND profile_id = ?'),
      moveEvents: db.prepare(
        `UPDATE events SET profile_id = :to WHERE seq IN (SELECT seq FROM timeline WHERE workspace_id = :ws AND profile_id = :from)
           OR (seq > :indexed AND workspace_id = :ws AND profile_id = :from)`,
      ),
      moveTimeline: db.prepare('UPDATE timeline SET profile_id = ? WHERE workspace_id = ? AND profile_id = ?'),
      deleteProfile: db.prepare('DELETE FROM profiles WHERE workspace_id = ? AND profile_id = ?'),
      deleteIdentities: db.prepare('DELETE FROM identities WHERE workspace_id = ? AND profile_id = ?'),
      deleteEvents: db.prepare(
        `DELETE FROM events WHERE seq IN (SELECT seq FROM timeline WHERE workspace_id = :ws AND profile_id = :profile)
           OR (seq > :indexed AND workspace_id = :ws AND profile_id = :profile)`,
      ),
      deleteTimeline: db.prepare('DELETE FROM timeline WHERE workspace_id = ? AND profile_id = ?'),
      indexTimeline: db.prepare(
        `INSERT INTO timeline (workspace_id, profile_id, ts, seq)
         SELECT workspace_id, profile_id, ts, seq FROM events WHERE seq > ? AND seq <= ? ORDER BY workspace_id, profile_id, ts, seq`,
      ),
      getIndexed: db.prepare("SELECT value FROM meta WHERE key = 'indexed'").pluck(),
      setIndexed: db.prepare("UPDATE meta SET value = ? WHERE key = 'indexed'"),
      resolveIdentity: db.prepare('SELECT profile_id FROM identities WHERE workspace_id = ? AND key = ?').pluck(),
      getProfile: db.prepare('SELECT body FROM profiles WHERE workspace_id = ? AND profile_id = ?').pluck(),
      foldedThrough: db.prepare('SELECT folded_through FROM profiles WHERE workspace_id = ? AND profile_id = ?').pluck(),
      identitiesOf: db.prepare('SELECT key FROM identities WHERE workspace_id = ? AND profile_id = ? ORDER BY key').pluck(),
      countEvents: db.prepare('SELECT count(*) FROM events WHERE workspace_id = ?').pluck(),
      countProfiles: db.prepare('SELECT count(*) FROM profiles WHERE workspace_id = ?').pluck(),
      readAfter: db.prepare(`SELECT ${eventColumns} FROM events WHERE seq > ? ORDER BY seq LIMIT ?`),
      maxSeq: db.prepare('SELECT coalesce(max(seq), 0) FROM events').pluck(),
      getCheckpoint: db.prepare("SELECT value FROM meta WHERE key = 'checkpoint'").pluck(),
      setCheckpoint: db.prepare("UPDATE meta SET value = ? WHERE key = 'checkpoint'"),
      recentMessageIds: db.prepare(
        'SELECT workspace_id AS workspaceId, message_id AS messageId, received_at AS receivedAt FROM events WHERE received_at >= ? ORDER BY received_at, seq',
      ),
    };

    this.position = this.stmt.maxSeq.get() as number;
    this.commitTx = db.transaction((c: EncodedCommit) => {
      const s = this.stmt;
      for (const [ws, from, to] of c.merges) {
        s.moveEvents.run({ to, ws, from, indexed: this.indexed() });
        s.moveTimeline.run(to, ws, from);
        s.moveIdentities.run(to, ws, from);
        s.deleteProfile.run(ws, from);
      }
      for (const row of c.identities) s.upsertIdentity.run(row);
      for (const row of c.events) s.insertEvent.run(row);
      if (c.profiles.length > 0) {
        const profilesAt = c.profilesAt ?? (c.events.length > 0 ? (s.maxSeq.get() as number) : this.position);
        for (const row of c.profiles) s.upsertProfile.run(...row, profilesAt);
      }
      if (c.checkpoint !== null) {
        s.setCheckpoint.run(c.checkpoint);
        this.indexUpTo(Math.min(c.checkpoint, this.stmt.maxSeq.get() as number));
      }
    });

    this.events = {
      query: async (ws, query) => this.queryEvents(ws, query),
      readAfter: async (position, limit) =>
        (this.stmt.readAfter.all(position, limit) as EventRow[]).map((row) => ({ position: row.seq, event: toEvent(row) })),
      recentMessageIds: async (since) => this.stmt.recentMessageIds.all(since) as RecentMessageId[],
      count: async (ws) => this.stmt.countEvents.get(ws) as number,
    };
    this.profiles = {
      resolveIdentities: async (ws, keys) => findEach(keys, (key) => this.stmt.resolveIdentity.get(ws, key) as string | undefined),
      getProfiles: async (ws, ids) =>
        findEach(ids, (id) => {
          const body = this.stmt.getProfile.get(ws, id) as string | undefined;
          return body === undefined ? undefined : (JSON.parse(body) as Profile);
        }),
      foldedThrough: async (ws, ids) => findEach(ids, (id) => this.stmt.foldedThrough.get(ws, id) as number | undefined),
      identitiesOf: async (ws, profileId) => this.stmt.identitiesOf.all(ws, profileId) as string[],
      search: async (ws, search) => this.searchProfiles(ws, search),
      count: async (ws) => this.stmt.countProfiles.get(ws) as number,
    };
  }

  async commit(changes: Commit): Promise<CommitReceipt> {
    return this.commitEncoded(encodeCommit(changes));
  }

  /** Commits rows already encoded by `encodeCommit` (what the writer thread receives). */
  commitEncoded(changes: EncodedCommit): CommitReceipt {
    this.commitTx(changes);
    if (changes.events.length > 0) {
      this.position = this.stmt.maxSeq.get() as number;
      // Without checkpoints (a caller that never sends one) the tail must not grow without bound.
      if (this.position - this.indexed() > maxTail) this.db.transaction(() => this.indexUpTo(this.position))();
    }
    return { position: this.position };
  }

  /** Events up to this position are in `timeline`; later ones are found by scanning the tail. */
  private indexed(): number {
    return this.stmt.getIndexed.get() as number;
  }

  private indexUpTo(position: number): void {
    const indexed = this.indexed();
    if (position <= indexed) return;
    this.stmt.indexTimeline.run(indexed, position);
    this.stmt.setIndexed.run(position);
  }

  async checkpoint(): Promise<number> {
    return this.stmt.getCheckpoint.get() as number;
  }

  async exportUser(ws: string, profileId: string): Promise<UserExport | null> {
    const body = this.stmt.getProfile.get(ws, profileId) as string | undefined;
    if (body === undefined) return null;
    return {
      profile: JSON.parse(body) as Profile,
      identities: this.stmt.identitiesOf.all(ws, profileId) as string[],
      events: this.profileEvents(ws, { profileId }, Number.MAX_SAFE_INTEGER).map(toEvent),
    };
  }

  async eraseUser(ws: string, profileId: string): Promise<ErasureReport> {
    return this.db.transaction(() => {
      const events = this.stmt.deleteEvents.run({ ws, profile: profileId, indexed: this.indexed() }).changes;
      this.stmt.deleteTimeline.run(ws, profileId);
      return {
        profiles: this.stmt.deleteProfile.run(ws, profileId).changes,
        identities: this.stmt.deleteIdentities.run(ws, profileId).changes,
        events,
      };
    })();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private queryEvents(ws: string, q: EventQuery): Page<StoredEvent> {
    const limit = clampLimit(q.limit);
    const rows = q.profileId === undefined ? this.workspaceEvents(ws, q, limit + 1) : this.profileEvents(ws, q, limit + 1);
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return { items: items.map(toEvent), nextCursor: rows.length > limit && last ? encodeCursor([last.ts, last.seq]) : null };
  }

  /** Conditions on name and type (on events `e`), time and the cursor (on `time`, which has ts and seq). */
  private filters(q: EventQuery, where: string[], params: (string | number)[], time = 'e'): void {
    if (q.type !== undefined) where.push('e.type = ?'), params.push(q.type);
    if (q.name !== undefined) where.push('e.name = ?'), params.push(q.name);
    if (q.since !== undefined) where.push(`${time}.ts >= ?`), params.push(q.since);
    if (q.until !== undefined) where.push(`${time}.ts < ?`), params.push(q.until);
    const after = q.cursor ? cursorKey(q.cursor, ['number', 'number']) : null;
    if (after) where.push(`(${time}.ts < ? OR (${time}.ts = ? AND ${time}.seq < ?))`), params.push(after[0], after[0], after[1]);
  }

  private workspaceEvents(ws: string, q: EventQuery, limit: number): EventRow[] {
    const where = ['e.workspace_id = ?'];
    const params: (string | number)[] = [ws];
    this.filters(q, where, params);
    return this.db
      .prepare(`SELECT ${eventColumns} FROM events e WHERE ${where.join(' AND ')} ORDER BY e.ts DESC, e.seq DESC LIMIT ?`)
      .all(...params, limit) as EventRow[];
  }

  /** One profile's events: the indexed part through `timeline`, the tail by a short scan. */
  private profileEvents(ws: string, q: EventQuery & { profileId?: string }, limit: number): EventRow[] {
    const indexedWhere = ['t.workspace_id = ?', 't.profile_id = ?'];
    const indexedParams: (string | number)[] = [ws, q.profileId!];
    this.filters(q, indexedWhere, indexedParams, 't');
    const tailWhere = ['e.seq > ?', 'e.workspace_id = ?', 'e.profile_id = ?'];
    const tailParams: (string | number)[] = [this.indexed(), ws, q.profileId!];
    this.filters(q, tailWhere, tailParams);
    const columns = eventColumns.split(', ').map((c) => `e.${c}`).join(', ');
    return this.db
      .prepare(
        `SELECT ${columns} FROM timeline t JOIN events e ON e.seq = t.seq WHERE ${indexedWhere.join(' AND ')}
         UNION ALL
         SELECT ${columns} FROM events e WHERE ${tailWhere.join(' AND ')}
         ORDER BY ts DESC, seq DESC LIMIT ?`,
      )
      .all(...indexedParams, ...tailParams, limit) as EventRow[];
  }

  private searchProfiles(ws: string, s: ProfileSearch): Page<Profile> {
    const limit = clampLimit(s.limit);
    const where = ['p.workspace_id = ?'];
    const params: (string | number)[] = [ws];
    const q = s.query?.trim();
    if (q) {
      const upper = `${q}\u{10FFFF}`;
      where.push(`(p.profile_id IN (SELECT profile_id FROM identities WHERE workspace_id = ? AND
        ((key >= ? AND key < ?) OR (key >= ? AND key < ?))) OR (p.email >= ? AND p.email < ?))`);
      params.push(ws, `u:${q}`, `u:${upper}`, `a:${q}`, `a:${upper}`, q.toLowerCase(), `${q.toLowerCase()}\u{10FFFF}`);
    }
    const after = s.cursor ? cursorKey(s.cursor, ['number', 'string']) : null;
    if (after) {
      where.push('(p.updated_at < ? OR (p.updated_at = ? AND p.profile_id < ?))');
      params.push(after[0], after[0], after[1]);
    }
    const rows = this.db
      .prepare(
        `SELECT p.updated_at AS updatedAt, p.profile_id AS profileId, p.body FROM profiles p WHERE ${where.join(' AND ')}
         ORDER BY p.updated_at DESC, p.profile_id DESC LIMIT ?`,
      )
      .all(...params, limit + 1) as { updatedAt: number; profileId: string; body: string }[];
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return {
      items: items.map((r) => JSON.parse(r.body) as Profile),
      nextCursor: rows.length > limit && last ? encodeCursor([last.updatedAt, last.profileId]) : null,
    };
  }
}

type Row = (string | number | null)[];

/** A `Commit` as rows of SQL parameters: cheap to copy to another thread, and encoded once. */
export interface EncodedCommit {
  events: Row[];
  profiles: Row[];
  identities: Row[];
  merges: [workspaceId: string, from: string, to: string][];
  checkpoint: number | null;
  profilesAt: number | null;
}

export function encodeCommit(c: Commit): EncodedCommit {
  return {
    events: c.events.map((e) => {
      const body: EventBody = {
        userId: e.userId,
        anonymousId: e.anonymousId,
        previousId: e.previousId,
        groupId: e.groupId,
        properties: e.properties,
        traits: e.traits,
        context: e.context,
      };
      return [e.workspaceId, e.profileId, e.messageId, e.type, e.name, e.timestamp, e.receivedAt, JSON.stringify(body)];
    }),
    profiles: c.profiles.map((p) => [p.workspaceId, p.profileId, p.userId, searchableEmail(p), p.updatedAt, JSON.stringify(p)]),
    identities: c.identities.map((l) => [l.workspaceId, l.key, l.profileId]),
    merges: c.merges.map((m) => [m.workspaceId, m.from, m.to]),
    checkpoint: c.checkpoint ?? null,
    profilesAt: c.profilesAt ?? null,
  };
}

function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let v = version; v < migrations.length; v++) {
    db.transaction(() => {
      db.exec(migrations[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

function toEvent(row: EventRow): StoredEvent {
  const body = JSON.parse(row.body) as EventBody;
  return {
    workspaceId: row.workspace_id,
    profileId: row.profile_id,
    messageId: row.message_id,
    type: row.type as EventType,
    name: row.name,
    timestamp: row.ts,
    receivedAt: row.received_at,
    ...body,
  };
}
