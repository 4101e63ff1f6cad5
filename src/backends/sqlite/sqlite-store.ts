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
import type { ChangeSet } from '../../core/ingest-fold.js';
import type { Profile } from '../../core/profile.js';
import type { EventLog, EventQuery, RecentMessageId } from '../../ports/event-log.js';
import { clampLimit, cursorKey, encodeCursor, type Page } from '../../ports/pagination.js';
import type { ProfileSearch, ProfileStore } from '../../ports/profile-store.js';
import type { ErasureReport, Store, UserExport } from '../../ports/store.js';
import { searchableEmail } from '../profile-search.js';
import { migrations } from './schema.js';

export interface SqliteStoreOptions {
  /** Database file, or ':memory:'. */
  path: string;
  /** `full` fsyncs every commit (default); `normal` survives process crashes, not power loss. */
  synchronous?: 'full' | 'normal';
  /** Page cache in MiB. Default 64. */
  cacheMiB?: number;
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

export class SqliteStore implements Store {
  readonly capabilities = { sharedWriters: false, durable: true };
  readonly events: EventLog;
  readonly profiles: ProfileStore;
  private readonly db: Database.Database;
  private readonly commitTx: (changes: ChangeSet) => void;
  private readonly stmt;

  constructor(options: SqliteStoreOptions) {
    const db = new Database(options.path);
    this.db = db;
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    db.pragma(`cache_size = -${(options.cacheMiB ?? 64) * 1024}`);
    db.pragma('temp_store = MEMORY');
    db.pragma('busy_timeout = 5000');
    // Checkpoint the WAL every ~40 MB rather than every 4 MB: random index pages dirtied by
    // one commit are often dirtied again by the next, and each checkpoint rewrites them.
    db.pragma('wal_autocheckpoint = 10000');
    migrate(db);

    this.stmt = {
      insertEvent: db.prepare(
        'INSERT INTO events (workspace_id, profile_id, message_id, type, name, ts, received_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      upsertProfile: db.prepare(
        `INSERT INTO profiles (workspace_id, profile_id, user_id, email, updated_at, body) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (workspace_id, profile_id) DO UPDATE SET user_id = excluded.user_id, email = excluded.email,
           updated_at = excluded.updated_at, body = excluded.body`,
      ),
      upsertIdentity: db.prepare(
        `INSERT INTO identities (workspace_id, key, profile_id) VALUES (?, ?, ?)
         ON CONFLICT (workspace_id, key) DO UPDATE SET profile_id = excluded.profile_id`,
      ),
      moveIdentities: db.prepare('UPDATE identities SET profile_id = ? WHERE workspace_id = ? AND profile_id = ?'),
      moveEvents: db.prepare('UPDATE events SET profile_id = ? WHERE workspace_id = ? AND profile_id = ?'),
      deleteProfile: db.prepare('DELETE FROM profiles WHERE workspace_id = ? AND profile_id = ?'),
      deleteIdentities: db.prepare('DELETE FROM identities WHERE workspace_id = ? AND profile_id = ?'),
      deleteEvents: db.prepare('DELETE FROM events WHERE workspace_id = ? AND profile_id = ?'),
      resolveIdentity: db.prepare('SELECT profile_id FROM identities WHERE workspace_id = ? AND key = ?').pluck(),
      getProfile: db.prepare('SELECT body FROM profiles WHERE workspace_id = ? AND profile_id = ?').pluck(),
      identitiesOf: db.prepare('SELECT key FROM identities WHERE workspace_id = ? AND profile_id = ? ORDER BY key').pluck(),
      eventsOf: db.prepare(`SELECT ${eventColumns} FROM events WHERE workspace_id = ? AND profile_id = ? ORDER BY ts DESC, seq DESC`),
      countEvents: db.prepare('SELECT count(*) FROM events WHERE workspace_id = ?').pluck(),
      countProfiles: db.prepare('SELECT count(*) FROM profiles WHERE workspace_id = ?').pluck(),
      recentMessageIds: db.prepare(
        'SELECT workspace_id AS workspaceId, message_id AS messageId, received_at AS receivedAt FROM events WHERE received_at >= ? ORDER BY received_at, seq',
      ),
    };

    this.commitTx = db.transaction((changes: ChangeSet) => {
      const s = this.stmt;
      for (const m of changes.merges) {
        s.moveIdentities.run(m.to, m.workspaceId, m.from);
        s.moveEvents.run(m.to, m.workspaceId, m.from);
        s.deleteProfile.run(m.workspaceId, m.from);
      }
      for (const l of changes.identities) s.upsertIdentity.run(l.workspaceId, l.key, l.profileId);
      for (const p of changes.profiles) {
        s.upsertProfile.run(p.workspaceId, p.profileId, p.userId, searchableEmail(p), p.updatedAt, JSON.stringify(p));
      }
      for (const e of changes.events) {
        const body: EventBody = {
          userId: e.userId,
          anonymousId: e.anonymousId,
          previousId: e.previousId,
          groupId: e.groupId,
          properties: e.properties,
          traits: e.traits,
          context: e.context,
        };
        s.insertEvent.run(e.workspaceId, e.profileId, e.messageId, e.type, e.name, e.timestamp, e.receivedAt, JSON.stringify(body));
      }
    });

    this.events = {
      query: async (ws, query) => this.queryEvents(ws, query),
      recentMessageIds: async (since) => this.stmt.recentMessageIds.all(since) as RecentMessageId[],
      count: async (ws) => this.stmt.countEvents.get(ws) as number,
    };
    this.profiles = {
      resolveIdentities: async (ws, keys) => {
        const found = new Map<string, string>();
        for (const key of keys) {
          const id = this.stmt.resolveIdentity.get(ws, key) as string | undefined;
          if (id !== undefined) found.set(key, id);
        }
        return found;
      },
      getProfiles: async (ws, ids) => {
        const found = new Map<string, Profile>();
        for (const id of ids) {
          const body = this.stmt.getProfile.get(ws, id) as string | undefined;
          if (body !== undefined) found.set(id, JSON.parse(body) as Profile);
        }
        return found;
      },
      identitiesOf: async (ws, profileId) => this.stmt.identitiesOf.all(ws, profileId) as string[],
      search: async (ws, search) => this.searchProfiles(ws, search),
      count: async (ws) => this.stmt.countProfiles.get(ws) as number,
    };
  }

  async commit(changes: ChangeSet): Promise<void> {
    this.commitTx(changes);
  }

  async exportUser(ws: string, profileId: string): Promise<UserExport | null> {
    const body = this.stmt.getProfile.get(ws, profileId) as string | undefined;
    if (body === undefined) return null;
    return {
      profile: JSON.parse(body) as Profile,
      identities: this.stmt.identitiesOf.all(ws, profileId) as string[],
      events: (this.stmt.eventsOf.all(ws, profileId) as EventRow[]).map(toEvent),
    };
  }

  async eraseUser(ws: string, profileId: string): Promise<ErasureReport> {
    return this.db.transaction(() => ({
      profiles: this.stmt.deleteProfile.run(ws, profileId).changes,
      identities: this.stmt.deleteIdentities.run(ws, profileId).changes,
      events: this.stmt.deleteEvents.run(ws, profileId).changes,
    }))();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private queryEvents(ws: string, q: EventQuery): Page<StoredEvent> {
    const limit = clampLimit(q.limit);
    const where = ['workspace_id = ?'];
    const params: (string | number)[] = [ws];
    if (q.profileId !== undefined) where.push('profile_id = ?'), params.push(q.profileId);
    if (q.type !== undefined) where.push('type = ?'), params.push(q.type);
    if (q.name !== undefined) where.push('name = ?'), params.push(q.name);
    if (q.since !== undefined) where.push('ts >= ?'), params.push(q.since);
    if (q.until !== undefined) where.push('ts < ?'), params.push(q.until);
    const after = q.cursor ? cursorKey(q.cursor, ['number', 'number']) : null;
    if (after) where.push('(ts < ? OR (ts = ? AND seq < ?))'), params.push(after[0], after[0], after[1]);
    const rows = this.db
      .prepare(`SELECT ${eventColumns} FROM events WHERE ${where.join(' AND ')} ORDER BY ts DESC, seq DESC LIMIT ?`)
      .all(...params, limit + 1) as EventRow[];
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return { items: items.map(toEvent), nextCursor: rows.length > limit && last ? encodeCursor([last.ts, last.seq]) : null };
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
