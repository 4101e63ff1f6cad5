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
    assert.deepEqual(db.prepare("SELECT value FROM sms_consent_meta WHERE key = 'schema_version'").pluck().get(), 2);
  } finally {
    db.close();
  }
});

test('a database from before recipients were kept is upgraded in place, its records kept', async () => {
  const db = new Database(path.join(dir, 'version-1.db'));
  try {
    db.exec(`
      CREATE TABLE sms_consent_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
      INSERT INTO sms_consent_meta (key, value) VALUES ('schema_version', 1);
      CREATE TABLE sms_consent (workspace_id TEXT NOT NULL, phone TEXT NOT NULL, opted_out INTEGER NOT NULL, at INTEGER NOT NULL, keyword TEXT, PRIMARY KEY (workspace_id, phone)) WITHOUT ROWID;
      CREATE INDEX sms_consent_opted_out ON sms_consent (workspace_id, phone) WHERE opted_out = 1;
      INSERT INTO sms_consent VALUES ('w1', '+14155550100', 1, 1000, 'STOP');
    `);
    const optOuts = SqliteSmsOptOutStore.onDatabase(db);
    assert.equal(await optOuts.isOptedOut('w1', '+14155550100'), true);
    await optOuts.recordRecipient('w1', '+14155550100', 'u:ada', 2000);
    assert.deepEqual(await optOuts.recipientsOf('w1', '+14155550100'), [{ workspaceId: 'w1', phone: '+14155550100', recipient: 'u:ada', at: 2000 }]);
    assert.deepEqual(db.prepare("SELECT value FROM sms_consent_meta WHERE key = 'schema_version'").pluck().get(), 2);
  } finally {
    db.close();
  }
});
