import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteTimerStore } from '../../src/backends/sqlite/sqlite-timer-store.js';
import type { TimerStore } from '../../src/ports/timer-store.js';
import { timerStoreConformance } from './timer-store-conformance.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nudge-timer-sqlite-conformance-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

timerStoreConformance('sqlite', async () => {
  const file = path.join(dir, `timers-${++n}.db`);
  let current: TimerStore = new SqliteTimerStore({ path: file });
  return {
    store: current,
    async reopen() {
      await current.close();
      current = new SqliteTimerStore({ path: file });
      return current;
    },
    cleanup: () => current.close(),
  };
});

test('a timer file of the first schema is upgraded in place: its timers are kept and claimed in order', async () => {
  const file = path.join(dir, 'timers-v1.db');
  const old = new Database(file);
  old.exec(`
    CREATE TABLE timer_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO timer_meta VALUES ('schema_version', 1);
    CREATE TABLE timers (
      version INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, partition_key TEXT NOT NULL,
      due_at INTEGER NOT NULL, payload TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, claimed_until INTEGER);
    CREATE INDEX timers_pending ON timers (due_at, id) WHERE claimed_until IS NULL;
    CREATE INDEX timers_claimed ON timers (claimed_until) WHERE claimed_until IS NOT NULL;
    INSERT INTO timers (id, partition_key, due_at, payload) VALUES ('c', 'u1', 2000, 'p'), ('b', 'u1', 1000, 'p'), ('a', 'u2', 1000, 'p');
  `);
  old.close();

  const store = new SqliteTimerStore({ path: file });
  try {
    assert.deepEqual((await store.claimDue(5000, 10)).map((t) => [t.id, t.dueAt]), [['a', 1000], ['b', 1000], ['c', 2000]]);
    const check = new Database(file, { readonly: true });
    const columns = check.prepare("SELECT name FROM pragma_index_info('timers_pending')").pluck().all();
    check.close();
    assert.deepEqual(columns, ['due_at']);
  } finally {
    await store.close();
  }
});

test('cancelled timers are marked at once and their rows deleted when a claim passes their due time, or when replaced or erased', async () => {
  const file = path.join(dir, 'timers-cancels.db');
  const store = new SqliteTimerStore({ path: file });
  const raw = new Database(file, { readonly: true });
  const rows = () => raw.prepare('SELECT (SELECT count(*) FROM timers), (SELECT count(*) FROM timer_cancels)').raw().get();
  const t0 = Date.UTC(2026, 10, 29, 10);
  const at = (id: string, dueInMs: number, partitionKey = `user-${id}`) => ({ id, partitionKey, dueAt: t0 + dueInMs, payload: '{}' });
  try {
    await store.schedule([at('a', 0), at('b', 100), at('c', 200), at('d', 10_000), at('e', 20_000, 'user-x'), at('f', 30_000, 'user-x')]);
    assert.equal(await store.cancel(['a', 'c', 'd', 'e']), 4);
    assert.deepEqual(rows(), [6, 4], 'marked, not yet deleted');
    assert.equal(await store.count(), 2);

    assert.deepEqual((await store.claimDue(t0 + 500, 10)).map((t) => t.id), ['b']);
    assert.deepEqual(rows(), [4, 2], 'a and c, due by then, are gone with their marks');

    await store.schedule([at('d', 40_000)]);
    assert.deepEqual(rows(), [4, 1], 'replacing d removed its mark with its old row');
    assert.equal(store.cancelPartitionSync('user-x'), 1, 'erasing counts the timers not cancelled');
    assert.deepEqual(rows(), [2, 0]);
    assert.equal(await store.count(), 2);
  } finally {
    raw.close();
    await store.close();
  }
});
