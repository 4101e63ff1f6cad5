import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteSmsOptOutStore } from '../../src/backends/sqlite/sqlite-sms-opt-out-store.js';
import { SqliteTimerStore } from '../../src/backends/sqlite/sqlite-timer-store.js';
import type { SmsOptOutStore } from '../../src/ports/sms-opt-out-store.js';
import { smsOptOutStoreConformance } from './sms-opt-out-store-conformance.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nudge-sms-opt-outs-sqlite-conformance-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

smsOptOutStoreConformance('sqlite', async () => {
  const file = path.join(dir, `opt-outs-${++n}.db`);
  let current: SmsOptOutStore = new SqliteSmsOptOutStore({ path: file });
  return {
    store: current,
    async reopen() {
      await current.close();
      current = new SqliteSmsOptOutStore({ path: file });
      return current;
    },
    cleanup: () => current.close(),
  };
});

test('onDatabase shares a database another store opened, which stays open when the opt-outs close', async () => {
  const db = new Database(path.join(dir, 'shared.db'));
  try {
    const timers = SqliteTimerStore.onDatabase(db);
    const optOuts = SqliteSmsOptOutStore.onDatabase(db);
    await optOuts.optOut('w1', '+14155550100', 1000, 'STOP');
    await timers.schedule([{ id: 't1', partitionKey: 'u:ann', dueAt: 1000, payload: '' }]);
    await optOuts.close();
    assert.ok(db.open);
    assert.equal(await timers.count(), 1);
    assert.equal(await SqliteSmsOptOutStore.onDatabase(db).isOptedOut('w1', '+14155550100'), true, 'a second open finds the table migrated');
    assert.deepEqual(db.prepare("SELECT value FROM sms_consent_meta WHERE key = 'schema_version'").pluck().get(), 1);
  } finally {
    db.close();
  }
});
