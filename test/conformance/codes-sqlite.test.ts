/**
 * The SQLite code store against the CodeStore suite (with reopen), and what only this backend
 * promises: tables beside another store's in one file, whose owner closes it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteCodeStore } from '../../src/backends/sqlite/sqlite-code-store.js';
import { SqliteTimerStore } from '../../src/backends/sqlite/sqlite-timer-store.js';
import type { CodeStore } from '../../src/ports/code-store.js';
import { codeStoreConformance } from './code-store-conformance.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nudge-codes-sqlite-conformance-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

codeStoreConformance('sqlite', async () => {
  const file = path.join(dir, `codes-${++n}.db`);
  let current: CodeStore = new SqliteCodeStore({ path: file });
  return {
    store: current,
    async reopen() {
      await current.close();
      current = new SqliteCodeStore({ path: file });
      return current;
    },
    cleanup: () => current.close(),
  };
});

test('onDatabase puts the codes beside another store in its file; close leaves the database to its owner', async () => {
  const file = path.join(dir, `shared-${++n}.db`);
  const db = new Database(file);
  const timers = SqliteTimerStore.onDatabase(db);
  const codes = SqliteCodeStore.onDatabase(db);
  const at = Date.UTC(2026, 0, 1);
  await codes.reserve({ workspaceId: 'w1', profileId: 'p1', messageKey: 'm1', kind: 'cart10', code: 'CART-AAAA-AAAA', expiresAt: at + 1000, at });
  await timers.schedule([{ id: 't1', partitionKey: 'w1/p1', dueAt: at, payload: '' }]);
  await codes.close();
  assert.ok(db.open);
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
  assert.deepEqual(tables, ['code_meta', 'discount_codes', 'sqlite_sequence', 'timer_cancels', 'timer_meta', 'timers']);
  assert.equal(db.prepare("SELECT value FROM code_meta WHERE key = 'schema_version'").pluck().get(), 1);
  db.close();

  const reopened = new SqliteCodeStore({ path: file });
  assert.equal((await reopened.get('w1', 'cart-aaaa-aaaa'))?.messageKey, 'm1', 'a second open migrates nothing and finds the code');
  await reopened.close();
});
