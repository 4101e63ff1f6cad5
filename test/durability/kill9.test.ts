/**
 * An acknowledged event is never lost, also on kill -9: concurrent senders post batches to the
 * real `nudge serve` process, the process is killed with SIGKILL while requests are in flight,
 * and after a restart on the same data directory every acknowledged event is there exactly once,
 * and sending the acknowledged batches again stores nothing new.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { kill, startServer } from '../support/server-process.js';

const writeKey = 'kill9-write-key';
const adminKey = 'kill9-admin-key';
const senders = 6;
const eventsPerBatch = 25;
const maxBatchesPerSender = 150;
const ackedBeforeKill = 40;

const basic = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;

async function postBatch(url: string, batch: object[]): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/v1/batch`, { method: 'POST', headers: { authorization: basic, 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
  return { status: res.status, body: await res.json() };
}

async function api(url: string, pathAndQuery: string): Promise<any> {
  const res = await fetch(`${url}/api/v1${pathAndQuery}`, { headers: { authorization: `Bearer ${adminKey}` } });
  assert.equal(res.status, 200, `${pathAndQuery}: ${res.status}`);
  return res.json();
}

async function allStoredMessageIds(url: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const page: { items: { messageId: string }[]; nextCursor: string | null } = await api(url, `/events?workspace=shop&limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
    ids.push(...page.items.map((e) => e.messageId));
    cursor = page.nextCursor;
  } while (cursor);
  return ids;
}

function makeBatch(sender: number, n: number): object[] {
  return Array.from({ length: eventsPerBatch }, (_, i) => {
    const user = (sender * 7 + n * 3 + i) % 40;
    const base = { messageId: `s${sender}-b${n}-e${i}`, timestamp: new Date(Date.UTC(2025, 0, 6, 9, 0, 0) + n * 1000 + i).toISOString() };
    if (i % 10 === 0) return { ...base, type: 'identify', userId: `user${user}`, anonymousId: `dev${user}`, traits: { email: `user${user}@example.com` } };
    if (i % 3 === 0) return { ...base, type: 'page', anonymousId: `dev${user}`, name: 'Product', properties: { path: `/p/${i}` } };
    return { ...base, type: 'track', userId: `user${user}`, event: i % 5 === 0 ? 'order_completed' : 'product_viewed', properties: { revenue: i } };
  });
}

test('every acknowledged event survives kill -9 exactly once, and dedup survives the restart', { timeout: 110_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nudge-kill9-'));
  const configFile = path.join(dir, 'nudge.yaml');
  const dataDir = path.join(dir, 'data');
  writeFileSync(configFile, `workspaces:\n  - id: shop\n    writeKeys: [${writeKey}]\nadmin:\n  keys: [${adminKey}]\nstorage:\n  driver: sqlite\n  synchronous: full\n`);
  const servers: ChildProcess[] = [];
  try {
    const first = await startServer(configFile, dataDir);
    servers.push(first.child);

    const acked: object[][] = [];
    let inFlight = 0;
    let failedAfterKill = 0;
    let killed = false;
    let killedWithInFlight = -1;
    let reachedTarget!: () => void;
    const target = new Promise<void>((resolve) => (reachedTarget = resolve));

    const sender = async (s: number): Promise<void> => {
      for (let n = 0; n < maxBatchesPerSender && !killed; n++) {
        const batch = makeBatch(s, n);
        inFlight++;
        try {
          const res = await postBatch(first.url, batch);
          assert.equal(res.status, 200, JSON.stringify(res.body));
          assert.deepEqual(res.body, { success: true, accepted: eventsPerBatch, duplicates: 0 });
          acked.push(batch);
          if (acked.length >= ackedBeforeKill) reachedTarget();
        } catch (error) {
          if (!killed) throw error;
          failedAfterKill++;
          return;
        } finally {
          inFlight--;
        }
      }
      reachedTarget();
    };
    const sending = Array.from({ length: senders }, (_, s) => sender(s));
    await Promise.race([target, Promise.all(sending)]);
    killed = true;
    killedWithInFlight = inFlight;
    await kill(first.child);
    await Promise.all(sending);
    assert.ok(acked.length >= ackedBeforeKill, `acknowledged batches before the kill: ${acked.length}`);
    assert.ok(killedWithInFlight > 0, 'the kill happened while requests were in flight');

    const second = await startServer(configFile, dataDir);
    servers.push(second.child);
    const stored = await allStoredMessageIds(second.url);
    const times = new Map<string, number>();
    for (const id of stored) times.set(id, (times.get(id) ?? 0) + 1);
    const repeated = [...times].filter(([, n]) => n > 1);
    assert.deepEqual(repeated, [], 'no event is stored twice');
    const ackedIds = acked.flat().map((e) => (e as { messageId: string }).messageId);
    const missing = ackedIds.filter((id) => !times.has(id));
    assert.deepEqual(missing, [], 'every acknowledged event is stored');
    // Events of unacknowledged batches may or may not be there, but only whole batches.
    for (const [id] of times) assert.match(id, /^s\d+-b\d+-e\d+$/);
    const batchesStored = new Map<string, number>();
    for (const id of stored) batchesStored.set(id.replace(/-e\d+$/, ''), (batchesStored.get(id.replace(/-e\d+$/, '')) ?? 0) + 1);
    assert.ok([...batchesStored.values()].every((n) => n === eventsPerBatch), 'a batch is stored whole or not at all');

    t.diagnostic(`acknowledged ${acked.length} batches, ${killedWithInFlight} in flight at the kill, ${stored.length / eventsPerBatch} batches stored`);
    const [workspace] = await api(second.url, '/workspaces');
    assert.equal(workspace.events, stored.length);
    let profileEvents = 0;
    let cursor: string | null = null;
    do {
      const page: { items: { computed: { eventCount: number } }[]; nextCursor: string | null } = await api(second.url, `/users?workspace=shop&limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
      profileEvents += page.items.reduce((n, p) => n + p.computed.eventCount, 0);
      cursor = page.nextCursor;
    } while (cursor);
    assert.equal(profileEvents, stored.length, 'profiles count exactly the stored events');

    const resent = await Promise.all(acked.map((batch) => postBatch(second.url, batch)));
    for (const res of resent) assert.deepEqual(res.body, { success: true, accepted: 0, duplicates: eventsPerBatch });
    assert.equal((await api(second.url, '/workspaces'))[0].events, stored.length);
  } finally {
    for (const child of servers) await kill(child);
    rmSync(dir, { recursive: true, force: true });
  }
});
