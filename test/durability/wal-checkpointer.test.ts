/**
 * WAL checkpoints on their own thread: the commits of a database handed to the checkpointer copy
 * nothing back into the database file; the thread does, and the log is reused rather than grown.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { openDatabase } from '../../src/backends/sqlite/database.js';
import { SqliteStore } from '../../src/backends/sqlite/sqlite-store.js';
import { WalCheckpointer } from '../../src/backends/sqlite/wal-checkpointer.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nudge-wal-checkpointer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const size = (file: string): number => statSync(file, { throwIfNoEntry: false })?.size ?? 0;
const blob = Buffer.alloc(3000, 7);

async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(20);
  }
}

describe('WalCheckpointer', () => {
  test('the thread copies committed pages into the file while commits copy none, and the log is reused', async () => {
    const file = path.join(dir, 'moved.db');
    const checkpointer = new WalCheckpointer({ intervalMs: 20 });
    const db = openDatabase({ path: file, checkpointer });
    assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 0, 'commits no longer checkpoint');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)');
    const insert = db.prepare('INSERT INTO t (body) VALUES (?)');
    const write = db.transaction((n: number) => {
      for (let i = 0; i < n; i++) insert.run(blob);
    });
    // 15 MB of rows in rounds of 1.5 MB (five commits of 100 rows), a pause after each: without
    // checkpoints the log would hold all of it, and the database file none.
    let largestLog = 0;
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 5; i++) write(100);
      largestLog = Math.max(largestLog, size(`${file}-wal`));
      await sleep(100);
    }
    await until('every row is in the database file', () => size(file) > 14_000_000);
    assert.ok(largestLog < 6_000_000, `the log is reused, not grown (at most ${largestLog} bytes)`);
    await checkpointer.close();
    assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 1000, 'close gives the database its own checkpoints back');
    assert.equal(db.prepare('SELECT count(*) FROM t').pluck().get(), 5000);
    db.close();
  });

  test('a store keeps its setting: the event store checkpoints every 10,000 pages again after close', async () => {
    const checkpointer = new WalCheckpointer();
    const store = new SqliteStore({ path: path.join(dir, 'store.db'), checkpointer });
    assert.equal(store['db'].pragma('wal_autocheckpoint', { simple: true }), 0);
    await checkpointer.close();
    assert.equal(store['db'].pragma('wal_autocheckpoint', { simple: true }), 10_000);
    await store.close();
  });

  test('should the thread fail, the databases checkpoint in their commits again and the error is told', async () => {
    const errors: Error[] = [];
    const checkpointer = new WalCheckpointer({ onError: (error) => errors.push(error) });
    const db = openDatabase({ path: path.join(dir, 'failed.db'), checkpointer });
    assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 0);
    await checkpointer['worker'].terminate();
    await until('the failure is noticed', () => errors.length > 0);
    assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 1000);
    assert.match(errors[0]!.message, /checkpoint thread exited/);
    await checkpointer.close();
    db.close();
  });

  test('an in-memory database keeps its own checkpoints', async () => {
    const checkpointer = new WalCheckpointer();
    const db = openDatabase({ path: ':memory:', checkpointer });
    assert.notEqual(db.pragma('wal_autocheckpoint', { simple: true }), 0);
    await checkpointer.close();
    db.close();
  });
});
