/**
 * Upgrading a SQLite engine database made before the waiting gauge existed: its runs already
 * waiting never got their +1, so the upgrade counts them once from the stored states, and the −1
 * of their end brings the gauge to 0, never below.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteEngineStore } from '../../src/backends/sqlite/sqlite-engine-store.js';
import { emptyTriggerState, type Run, type TriggerState } from '../../src/core/triggers/state.js';
import { waitingCounter, type CounterKey, type EngineCommit } from '../../src/ports/engine-store.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nudge-engine-upgrade-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const commit = (c: Partial<EngineCommit>): EngineCommit => ({ states: [], sends: [], counters: [], schedule: [], cancel: [], completeTimers: [], ...c });

function run(triggerId: string, node: string | null): Run {
  return {
    id: `${triggerId}:1`,
    triggerId,
    version: 'v1',
    startedAt: 0,
    entry: { messageId: 'm1', type: 'track', name: 'e', properties: {}, timestamp: 0 },
    waiting: node === null ? null : { node, timerId: `t/${triggerId}/${node}`, dueAt: 1, since: 0 },
    variants: {},
    sent: [],
    goalReached: false,
  };
}
const stateWith = (...runs: Run[]): TriggerState => ({ ...emptyTriggerState(), runs: Object.fromEntries(runs.map((r) => [r.triggerId, r])) });
const waitingOf = async (store: SqliteEngineStore, workspaceId: string): Promise<Record<string, number>> =>
  Object.fromEntries((await store.counters(workspaceId)).filter((c) => c.key.kind === 'waiting').map((c: { key: CounterKey; count: number }) => [`${c.key.triggerId}/${c.key.stepId}`, c.count]));

test('the waiting gauge of a database made before it is counted once from the stored states', async () => {
  const file = path.join(dir, 'engine.db');
  let store = new SqliteEngineStore({ path: file });
  await store.commit(
    commit({
      states: [
        { workspaceId: 'w1', profileId: 'u:ann', state: stateWith(run('cart', 'wait1')) },
        { workspaceId: 'w1', profileId: 'u:bob', state: stateWith(run('cart', 'wait1'), run('welcome', 'pause')) },
        { workspaceId: 'w1', profileId: 'u:cid', state: stateWith(run('cart', null)) },
        { workspaceId: 'w1', profileId: 'u:dee', state: { ...emptyTriggerState(), lastEntryAt: { cart: 0 } } },
        { workspaceId: 'w2', profileId: 'u:ann', state: stateWith(run('cart', 'wait2')) },
      ],
      counters: [{ key: { workspaceId: 'w1', triggerId: 'cart', kind: 'entered', stepId: '', channel: '', variant: '' }, count: 4 }],
    }),
  );
  await store.close();
  // As the database was before the gauge: no waiting counters (nor later tables), the engine tables at their first version.
  const db = new Database(file);
  db.exec("DELETE FROM counters WHERE kind = 'waiting'; DROP TABLE merges; UPDATE engine_meta SET value = 1 WHERE key = 'schema_version'");
  db.close();

  store = new SqliteEngineStore({ path: file });
  try {
    assert.deepEqual(await waitingOf(store, 'w1'), { 'cart/wait1': 2, 'welcome/pause': 1 });
    assert.deepEqual(await waitingOf(store, 'w2'), { 'cart/wait2': 1 });
    assert.equal((await store.counters('w1', 'cart')).find((c) => c.key.kind === 'entered')?.count, 4, 'the other counters are untouched');

    // Runs that waited before the upgrade end: ann's wait is over (the engine commits −1), bob is erased.
    await store.commit(commit({ states: [{ workspaceId: 'w1', profileId: 'u:ann', state: null }], counters: [{ key: waitingCounter('w1', 'cart', 'wait1'), count: -1 }] }));
    await store.eraseUser({ workspaceId: 'w1', profileId: 'u:bob' });
    assert.deepEqual(await waitingOf(store, 'w1'), { 'cart/wait1': 0, 'welcome/pause': 0 }, 'back to 0, not below');

    await store.close();
    store = new SqliteEngineStore({ path: file });
    assert.deepEqual(await waitingOf(store, 'w2'), { 'cart/wait2': 1 }, 'counted once: a reopen does not count again');
  } finally {
    await store.close();
  }
});
