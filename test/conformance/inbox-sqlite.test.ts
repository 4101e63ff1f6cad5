import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteInboxStore } from '../../src/backends/sqlite/sqlite-inbox-store.js';
import { SqliteTimerStore } from '../../src/backends/sqlite/sqlite-timer-store.js';
import type { InboxStore } from '../../src/ports/inbox-store.js';
import { inboxStoreConformance } from './inbox-store-conformance.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nudge-inbox-sqlite-conformance-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

inboxStoreConformance('sqlite', async () => {
  const file = path.join(dir, `inbox-${++n}.db`);
  let current: InboxStore = new SqliteInboxStore({ path: file });
  return {
    store: current,
    async reopen() {
      await current.close();
      current = new SqliteInboxStore({ path: file });
      return current;
    },
    cleanup: () => current.close(),
  };
});

// The inbox beside another store's tables, in a database that store opened and closes.
inboxStoreConformance('sqlite (shared database)', async () => {
  const file = path.join(dir, `shared-${++n}.db`);
  const open = () => {
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    SqliteTimerStore.onDatabase(db);
    return { db, store: SqliteInboxStore.onDatabase(db) };
  };
  let current = open();
  return {
    store: current.store,
    async reopen() {
      await current.store.close();
      assert.ok(current.db.open, 'closing the inbox leaves a shared database open');
      current.db.close();
      current = open();
      return current.store;
    },
    cleanup: async () => {
      await current.store.close();
      current.db.close();
    },
  };
});
