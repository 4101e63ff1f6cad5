import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import Database from 'better-sqlite3';
import { SqlitePushSubscriptionStore } from '../../src/backends/sqlite/sqlite-push-subscription-store.js';
import type { PushSubscriptionStore } from '../../src/ports/push-subscription-store.js';
import { pushSubscriptionStoreConformance } from './push-subscription-store-conformance.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nudge-push-sqlite-conformance-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

pushSubscriptionStoreConformance('sqlite', async () => {
  const file = path.join(dir, `push-${++n}.db`);
  let current: PushSubscriptionStore = new SqlitePushSubscriptionStore({ path: file });
  return {
    store: current,
    async reopen() {
      await current.close();
      current = new SqlitePushSubscriptionStore({ path: file });
      return current;
    },
    cleanup: () => current.close(),
  };
});

// On a database another store opened: the table beside others, the database left open on close.
pushSubscriptionStoreConformance('sqlite, shared database', async () => {
  const file = path.join(dir, `shared-${++n}.db`);
  let db = new Database(file);
  let current: PushSubscriptionStore = SqlitePushSubscriptionStore.onDatabase(db);
  return {
    store: current,
    async reopen() {
      await current.close();
      if (!db.open) throw new Error('close closed a database it does not own');
      db.close();
      db = new Database(file);
      current = SqlitePushSubscriptionStore.onDatabase(db);
      return current;
    },
    async cleanup() {
      await current.close();
      db.close();
    },
  };
});
