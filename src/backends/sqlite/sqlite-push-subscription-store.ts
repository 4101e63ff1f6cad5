/**
 * Push subscriptions in SQLite (WAL, one writing process), in a table of its own: one row per
 * endpoint, keyed by workspace and endpoint, with an index by identity key for sends, exports and
 * erasures. Every call is one transaction (one fsync with `synchronous: full`).
 *
 * `SqlitePushSubscriptionStore.onDatabase` puts the table into a database another store opened;
 * the schema version is kept in `push_subscription_meta`, apart from the other stores'.
 */
import Database from 'better-sqlite3';
import {
  maxSubscriptionsPerIdentity,
  type PushRegistration,
  type PushSubscriptionRecord,
  type PushSubscriptionStore,
} from '../../ports/push-subscription-store.js';
import { migrate, openDatabase, type SharedDatabase } from './database.js';

export interface SqlitePushSubscriptionStoreOptions {
  /** Database file, or ':memory:'. May be another store's file: the tables do not collide. */
  path: string;
  /** `full` fsyncs every change (default); `normal` survives process crashes, not power loss. */
  synchronous?: 'full' | 'normal';
}

/** Upgrades of the table; the version applied is kept in `push_subscription_meta`. */
const migrations: readonly string[] = [
  `
  CREATE TABLE push_subscriptions (
    workspace_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    identity_key TEXT NOT NULL,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    expiration_time INTEGER,
    user_agent TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, endpoint)
  ) WITHOUT ROWID;
  CREATE INDEX push_subscriptions_identity ON push_subscriptions (workspace_id, identity_key, updated_at);
  `,
];

interface SubscriptionRow {
  workspace_id: string;
  endpoint: string;
  identity_key: string;
  p256dh: string;
  auth: string;
  expiration_time: number | null;
  user_agent: string | null;
  created_at: number;
  updated_at: number;
}

const ofIdentities = 'workspace_id = ? AND identity_key IN (SELECT value FROM json_each(?))';
const newestFirst = 'ORDER BY updated_at DESC, endpoint';

export class SqlitePushSubscriptionStore implements PushSubscriptionStore {
  readonly capabilities = { durable: true };
  private readonly db: Database.Database;
  /** False on a shared database: its owner closes it, once. */
  private readonly ownsDatabase: boolean;
  private readonly stmt;
  private readonly registerTx: (r: PushRegistration) => boolean;

  /** The table in `db`, created if missing. The caller keeps the database: `close` leaves it open. */
  static onDatabase(db: Database.Database): SqlitePushSubscriptionStore {
    return new SqlitePushSubscriptionStore({ database: db });
  }

  constructor(options: SqlitePushSubscriptionStoreOptions | SharedDatabase) {
    this.ownsDatabase = !('database' in options);
    const db = 'database' in options ? options.database : openDatabase(options);
    this.db = db;
    migrate(db, 'push_subscription_meta', migrations);

    const s = {
      exists: db.prepare('SELECT 1 FROM push_subscriptions WHERE workspace_id = ? AND endpoint = ?').pluck(),
      upsert: db.prepare(
        `INSERT INTO push_subscriptions (workspace_id, endpoint, identity_key, p256dh, auth, expiration_time, user_agent, created_at, updated_at)
         VALUES (@workspaceId, @endpoint, @identityKey, @p256dh, @auth, @expirationTime, @userAgent, @at, @at)
         ON CONFLICT (workspace_id, endpoint) DO UPDATE SET identity_key = excluded.identity_key, p256dh = excluded.p256dh, auth = excluded.auth,
           expiration_time = excluded.expiration_time, user_agent = excluded.user_agent, updated_at = excluded.updated_at`,
      ),
      // Everything of the identity beyond the newest `max - 1` others, the registered endpoint aside.
      evict: db.prepare(
        `DELETE FROM push_subscriptions WHERE workspace_id = @workspaceId AND endpoint IN (
           SELECT endpoint FROM push_subscriptions WHERE workspace_id = @workspaceId AND identity_key = @identityKey AND endpoint != @endpoint
           ${newestFirst} LIMIT -1 OFFSET ${maxSubscriptionsPerIdentity - 1})`,
      ),
      remove: db.prepare('DELETE FROM push_subscriptions WHERE workspace_id = ? AND endpoint = ?'),
      list: db.prepare(`SELECT * FROM push_subscriptions WHERE ${ofIdentities} ${newestFirst}`),
      erase: db.prepare(`DELETE FROM push_subscriptions WHERE ${ofIdentities}`),
      count: db.prepare('SELECT count(*) FROM push_subscriptions').pluck(),
    };
    this.stmt = s;

    this.registerTx = db.transaction((r: PushRegistration) => {
      const { endpoint, keys, expirationTime } = r.subscription;
      const created = s.exists.get(r.workspaceId, endpoint) === undefined;
      const row = { workspaceId: r.workspaceId, endpoint, identityKey: r.identityKey, at: r.at };
      s.upsert.run({ ...row, p256dh: keys.p256dh, auth: keys.auth, expirationTime, userAgent: r.userAgent ?? null });
      s.evict.run({ workspaceId: r.workspaceId, identityKey: r.identityKey, endpoint });
      return created;
    });
  }

  async register(registration: PushRegistration): Promise<{ created: boolean }> {
    return { created: this.registerTx(registration) };
  }

  async remove(workspaceId: string, endpoint: string): Promise<boolean> {
    return this.stmt.remove.run(workspaceId, endpoint).changes > 0;
  }

  async listFor(workspaceId: string, identityKeys: readonly string[]): Promise<PushSubscriptionRecord[]> {
    return this.list(workspaceId, identityKeys);
  }

  async count(): Promise<number> {
    return this.stmt.count.get() as number;
  }

  async exportUser(workspaceId: string, identityKeys: readonly string[]): Promise<PushSubscriptionRecord[]> {
    return this.list(workspaceId, identityKeys);
  }

  async eraseUser(workspaceId: string, identityKeys: readonly string[]): Promise<number> {
    return identityKeys.length > 0 ? this.stmt.erase.run(workspaceId, JSON.stringify(identityKeys)).changes : 0;
  }

  async close(): Promise<void> {
    if (this.ownsDatabase && this.db.open) this.db.close();
  }

  private list(workspaceId: string, identityKeys: readonly string[]): PushSubscriptionRecord[] {
    if (identityKeys.length === 0) return [];
    return (this.stmt.list.all(workspaceId, JSON.stringify(identityKeys)) as SubscriptionRow[]).map(recordOf);
  }
}

function recordOf(r: SubscriptionRow): PushSubscriptionRecord {
  return {
    workspaceId: r.workspace_id,
    identityKey: r.identity_key,
    endpoint: r.endpoint,
    keys: { p256dh: r.p256dh, auth: r.auth },
    expirationTime: r.expiration_time,
    userAgent: r.user_agent,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}


