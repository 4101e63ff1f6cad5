/**
 * The SQLite engine store against the EngineStore suite (with reopen), its shared-handle timers
 * against the TimerStore suite, and what only this backend promises: one database file, closed once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { SqliteEngineStore } from '../../src/backends/sqlite/sqlite-engine-store.js';
import { SqliteTimerStore } from '../../src/backends/sqlite/sqlite-timer-store.js';
import type { EngineStore } from '../../src/ports/engine-store.js';
import type { TimerStore } from '../../src/ports/timer-store.js';
import { engineStoreConformance } from './engine-store-conformance.js';
import { timerStoreConformance } from './timer-store-conformance.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nudge-engine-sqlite-conformance-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const empty = { states: [], sends: [], counters: [], schedule: [], cancel: [], completeTimers: [] };

engineStoreConformance('sqlite', async (clock) => {
  const file = path.join(dir, `engine-${++n}.db`);
  let current: EngineStore = new SqliteEngineStore({ path: file, clock });
  return {
    store: current,
    async reopen() {
      await current.close();
      current = new SqliteEngineStore({ path: file, clock });
      return current;
    },
    cleanup: () => current.close(),
  };
});

// The timers on the engine store's database handle keep the timer contract, reopen included.
timerStoreConformance('sqlite engine store', async () => {
  const file = path.join(dir, `engine-timers-${++n}.db`);
  let current = new SqliteEngineStore({ path: file });
  return {
    store: current.timers,
    async reopen(): Promise<TimerStore> {
      await current.close();
      current = new SqliteEngineStore({ path: file });
      return current.timers;
    },
    cleanup: () => current.close(),
  };
});

describe('SqliteEngineStore', () => {
  test('the timers are kept in the engine database file itself', async () => {
    const file = path.join(dir, `one-file-${++n}.db`);
    const store = new SqliteEngineStore({ path: file });
    await store.commit({ ...empty, schedule: [{ id: 'T1', partitionKey: 'w1/u:ann', dueAt: 1000, payload: 'p' }], position: 4 });
    await store.close();
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith(path.basename(file))), [path.basename(file)], 'no other file is left behind');
    const timers = new SqliteTimerStore({ path: file });
    try {
      assert.deepEqual((await timers.claimDue(1000, 10)).map((c) => [c.id, c.partitionKey, c.payload]), [['T1', 'w1/u:ann', 'p']]);
    } finally {
      await timers.close();
    }
  });

  test('closing the timers leaves the shared database open; closing the store closes it, once', async () => {
    const store = new SqliteEngineStore({ path: path.join(dir, `close-${++n}.db`) });
    await store.timers.close();
    await store.commit({ ...empty, schedule: [{ id: 'T1', partitionKey: 'w1/u:ann', dueAt: 0, payload: '' }], position: 1 });
    assert.equal(await store.timers.count(), 1);
    await store.close();
    await store.close();
    await assert.rejects(store.position(), /not open/);
    await assert.rejects(store.timers.count(), /not open/);
  });
});
