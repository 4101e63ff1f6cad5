/**
 * What every SQLite store shares: opening a database file (WAL, one writing process, the
 * durability asked for) and upgrading its own tables. Several stores may live in one file
 * (`SharedDatabase`): each keeps the schema version of its tables in a meta table of its own,
 * so they upgrade independently.
 */
import Database from 'better-sqlite3';
import type { WalCheckpointer } from './wal-checkpointer.js';

export interface DatabaseOptions {
  /** Database file, or ':memory:'. */
  path: string;
  /** `full` fsyncs every transaction (default); `normal` survives process crashes, not power loss. */
  synchronous?: 'full' | 'normal';
  /** Page cache in MiB. Default 16. */
  cacheMiB?: number;
  /** Runs this database's WAL checkpoints on its thread instead of in commits. */
  checkpointer?: WalCheckpointer;
}

/** A database opened, configured and closed by someone else (see the stores' `onDatabase`). */
export interface SharedDatabase {
  database: Database.Database;
}

export function openDatabase(options: DatabaseOptions): Database.Database {
  const db = new Database(options.path);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
  db.pragma(`cache_size = -${(options.cacheMiB ?? 16) * 1024}`);
  db.pragma('busy_timeout = 5000');
  options.checkpointer?.add(db, options.path);
  return db;
}

/** Applies the `migrations` not yet applied, each in its own transaction, recording the version in `metaTable`. */
export function migrate(db: Database.Database, metaTable: string, migrations: readonly string[]): void {
  db.exec(`CREATE TABLE IF NOT EXISTS ${metaTable} (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID`);
  const read = db.prepare(`SELECT value FROM ${metaTable} WHERE key = 'schema_version'`).pluck();
  for (let v = (read.get() as number | undefined) ?? 0; v < migrations.length; v++) {
    db.transaction(() => {
      db.exec(migrations[v]!);
      db.prepare(`INSERT OR REPLACE INTO ${metaTable} (key, value) VALUES ('schema_version', ?)`).run(v + 1);
    })();
  }
}
