/**
 * The in-app inbox in SQLite (WAL, one writing process), in tables of its own: by default a file of
 * its own, or beside other stores' tables through `SqliteInboxStore.onDatabase`.
 *
 * `id` is an AUTOINCREMENT rowid: never reused, also after an erasure removed the highest one, so
 * a stream's "after id N" stays right. A user's items are found through `(workspace_id,
 * identity_key, id)`, the unread count through a partial index of the unread ones, and a message
 * key once more through the unique `(workspace_id, message_key)`. A user's several identity keys are
 * passed as one JSON array (`json_each`), so one prepared statement serves any number of them.
 * Pages and replays name the per-user index: left to itself the planner walks the whole table
 * down its ids to spare a sort of one user's few items.
 */
import Database from 'better-sqlite3';
import {
  applyInteraction,
  assertNewInboxItem,
  maxReplayLimit,
  type InboxItem,
  type InboxListOptions,
  type InboxPage,
  type InboxStore,
  type Interaction,
  type NewInboxItem,
} from '../../ports/inbox-store.js';
import { clampLimit, cursorKey, encodeCursor } from '../../ports/pagination.js';
import { migrate, openDatabase, type SharedDatabase } from './database.js';

export interface SqliteInboxStoreOptions {
  /** Database file, or ':memory:'. May be another store's file: the tables do not collide. */
  path: string;
  /** `full` fsyncs every write (default); `normal` survives process crashes, not power loss. */
  synchronous?: 'full' | 'normal';
  /** Page cache in MiB. Default 8. */
  cacheMiB?: number;
}

/** Upgrades of the inbox tables; the version applied is kept in `inbox_meta`, apart from other stores'. */
const migrations: readonly string[] = [
  `
  CREATE TABLE inbox_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id TEXT NOT NULL,
    identity_key TEXT NOT NULL,
    message_key TEXT NOT NULL,
    trigger_id TEXT NOT NULL,
    content TEXT NOT NULL, -- JSON object of strings
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    read_at INTEGER,
    shown_at INTEGER,
    clicked_at INTEGER,
    dismissed_at INTEGER,
    feedback TEXT,
    UNIQUE (workspace_id, message_key)
  );
  CREATE INDEX inbox_items_by_user ON inbox_items (workspace_id, identity_key, id);
  CREATE INDEX inbox_items_unread ON inbox_items (workspace_id, identity_key, expires_at) WHERE read_at IS NULL AND dismissed_at IS NULL;
  CREATE INDEX inbox_items_expiring ON inbox_items (expires_at) WHERE expires_at IS NOT NULL;
  `,
];

interface ItemRow {
  id: number;
  workspace_id: string;
  identity_key: string;
  message_key: string;
  trigger_id: string;
  content: string;
  created_at: number;
  expires_at: number | null;
  read_at: number | null;
  shown_at: number | null;
  clicked_at: number | null;
  dismissed_at: number | null;
  feedback: string | null;
}

const ofUser = 'workspace_id = @ws AND identity_key IN (SELECT value FROM json_each(@keys))';
/** Not expired by @now; a null @now keeps every item. */
const live = '(@now IS NULL OR expires_at IS NULL OR expires_at > @now)';

const itemOf = (r: ItemRow): InboxItem => ({
  id: r.id,
  workspaceId: r.workspace_id,
  identityKey: r.identity_key,
  messageKey: r.message_key,
  triggerId: r.trigger_id,
  content: JSON.parse(r.content) as Record<string, string>,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  readAt: r.read_at,
  shownAt: r.shown_at,
  clickedAt: r.clicked_at,
  dismissedAt: r.dismissed_at,
  feedback: r.feedback,
});

export class SqliteInboxStore implements InboxStore {
  readonly capabilities = { durable: true };
  private readonly db: Database.Database;
  /** False on a shared database: its owner closes it, once. */
  private readonly ownsDatabase: boolean;
  private readonly stmt;
  private readonly addTx: (item: NewInboxItem) => { item: InboxItem; added: boolean };
  private readonly recordTx: (ws: string, keys: string, id: number, interaction: Interaction, at: number) => { item: InboxItem; changed: boolean } | null;

  /** The inbox in the tables of `db`, created if missing. The caller keeps the database: `close` here leaves it open. */
  static onDatabase(db: Database.Database): SqliteInboxStore {
    return new SqliteInboxStore({ database: db });
  }

  constructor(options: SqliteInboxStoreOptions | SharedDatabase) {
    this.ownsDatabase = !('database' in options);
    const db = 'database' in options ? options.database : openDatabase({ cacheMiB: 8, ...options });
    this.db = db;
    migrate(db, 'inbox_meta', migrations);

    const s = {
      insert: db.prepare(
        `INSERT INTO inbox_items (workspace_id, identity_key, message_key, trigger_id, content, created_at, expires_at)
         VALUES (@workspaceId, @identityKey, @messageKey, @triggerId, @content, @createdAt, @expiresAt)
         ON CONFLICT (workspace_id, message_key) DO NOTHING`,
      ),
      byId: db.prepare('SELECT * FROM inbox_items WHERE id = ?'),
      byMessage: db.prepare('SELECT * FROM inbox_items WHERE workspace_id = ? AND message_key = ?'),
      ofUserById: db.prepare(`SELECT * FROM inbox_items WHERE id = @id AND ${ofUser}`),
      page: db.prepare(
        `SELECT * FROM inbox_items INDEXED BY inbox_items_by_user WHERE ${ofUser} AND id < @before AND (@dismissed OR dismissed_at IS NULL) AND ${live}
         ORDER BY id DESC LIMIT @limit`,
      ),
      unread: db.prepare(`SELECT count(*) FROM inbox_items WHERE ${ofUser} AND read_at IS NULL AND dismissed_at IS NULL AND ${live}`).pluck(),
      latest: db.prepare(`SELECT coalesce(max(id), 0) FROM inbox_items WHERE ${ofUser}`).pluck(),
      since: db.prepare(`SELECT * FROM inbox_items INDEXED BY inbox_items_by_user WHERE ${ofUser} AND id > @after AND dismissed_at IS NULL AND ${live} ORDER BY id LIMIT @limit`),
      update: db.prepare(
        'UPDATE inbox_items SET read_at = @readAt, shown_at = @shownAt, clicked_at = @clickedAt, dismissed_at = @dismissedAt, feedback = @feedback WHERE id = @id',
      ),
      purge: db.prepare('DELETE FROM inbox_items WHERE expires_at IS NOT NULL AND expires_at <= ?'),
      exportUser: db.prepare(`SELECT * FROM inbox_items WHERE ${ofUser} ORDER BY id`),
      eraseUser: db.prepare(`DELETE FROM inbox_items WHERE ${ofUser}`),
    };
    this.stmt = s;

    this.addTx = db.transaction((item: NewInboxItem) => {
      const { changes, lastInsertRowid } = s.insert.run({ ...item, content: JSON.stringify(item.content) });
      const row = (changes > 0 ? s.byId.get(lastInsertRowid) : s.byMessage.get(item.workspaceId, item.messageKey)) as ItemRow;
      return { item: itemOf(row), added: changes > 0 };
    });
    this.recordTx = db.transaction((ws: string, keys: string, id: number, interaction: Interaction, at: number) => {
      const row = s.ofUserById.get({ id, ws, keys }) as ItemRow | undefined;
      if (!row) return null;
      const result = applyInteraction(itemOf(row), interaction, at);
      if (result.changed) s.update.run(result.item);
      return result;
    });
  }

  async add(item: NewInboxItem): Promise<{ item: InboxItem; added: boolean }> {
    assertNewInboxItem(item);
    return this.addTx(item);
  }

  async list(workspaceId: string, identityKeys: readonly string[], options: InboxListOptions = {}): Promise<InboxPage> {
    const limit = clampLimit(options.limit);
    const [before] = options.cursor ? cursorKey(options.cursor, ['number']) : [Number.MAX_SAFE_INTEGER];
    const user = { ws: workspaceId, keys: JSON.stringify(identityKeys), now: options.now ?? null };
    const rows = this.stmt.page.all({ ...user, before, dismissed: options.includeDismissed ? 1 : 0, limit: limit + 1 }) as ItemRow[];
    const items = rows.slice(0, limit).map(itemOf);
    return {
      items,
      nextCursor: rows.length > limit ? encodeCursor([items[items.length - 1]!.id]) : null,
      unread: this.stmt.unread.get(user) as number,
      latestId: this.stmt.latest.get({ ws: workspaceId, keys: user.keys }) as number,
    };
  }

  async since(workspaceId: string, identityKeys: readonly string[], afterId: number, options: { now: number; limit?: number }): Promise<InboxItem[]> {
    const limit = clampLimit(options.limit ?? maxReplayLimit);
    const rows = this.stmt.since.all({ ws: workspaceId, keys: JSON.stringify(identityKeys), after: afterId, now: options.now, limit }) as ItemRow[];
    return rows.map(itemOf);
  }

  async record(workspaceId: string, identityKeys: readonly string[], id: number, interaction: Interaction, at: number): Promise<{ item: InboxItem; changed: boolean } | null> {
    return this.recordTx(workspaceId, JSON.stringify(identityKeys), id, interaction, at);
  }

  async purgeExpired(now: number): Promise<number> {
    return this.stmt.purge.run(now).changes;
  }

  async exportUser(workspaceId: string, identityKeys: readonly string[]): Promise<InboxItem[]> {
    return (this.stmt.exportUser.all({ ws: workspaceId, keys: JSON.stringify(identityKeys) }) as ItemRow[]).map(itemOf);
  }

  async eraseUser(workspaceId: string, identityKeys: readonly string[]): Promise<number> {
    return this.stmt.eraseUser.run({ ws: workspaceId, keys: JSON.stringify(identityKeys) }).changes;
  }

  async close(): Promise<void> {
    if (this.ownsDatabase && this.db.open) this.db.close();
  }
}

