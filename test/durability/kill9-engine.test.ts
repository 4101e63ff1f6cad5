/**
 * Under load, kill -9, restart: every acknowledged event is there, every pending step still fires
 * once, and no message is decided twice. A real `nudge serve` process runs a two-step trigger
 * (a message at once, another 2 s later) for many users while they are sent in concurrent batches;
 * it is killed with SIGKILL while requests are in flight and steps are pending, then restarted on
 * the same data. The webhook receiver may see a delivery again (one in flight at the kill, sent
 * again with the same idempotency key): what must hold is one outbox entry and one distinct key
 * per (user, step), and every step of every acknowledged user delivered.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { kill, startServer } from '../support/server-process.js';
import { startWebhookReceiver } from '../support/webhook-receiver.js';

const writeKey = 'kill9-write-key';
const adminKey = 'kill9-admin-key';
const senders = 4;
const usersPerBatch = 20;
const ackedBeforeKill = 15;
const basic = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;

async function api(url: string, pathAndQuery: string): Promise<any> {
  const res = await fetch(`${url}/api/v1${pathAndQuery}`, { headers: { authorization: `Bearer ${adminKey}` } });
  assert.equal(res.status, 200, `${pathAndQuery}: ${res.status}`);
  return res.json();
}

async function allOutbox(url: string): Promise<{ key: string; status: string; profileId: string; stepId: string }[]> {
  const items: any[] = [];
  let cursor: string | null = null;
  do {
    const page: { items: any[]; nextCursor: string | null } = await api(url, `/outbox?workspace=shop&limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

test('after kill -9 under load, pending steps fire once and no message is decided twice', { timeout: 110_000 }, async (t) => {
  const receiver = await startWebhookReceiver();
  const dir = mkdtempSync(path.join(tmpdir(), 'nudge-kill9-engine-'));
  const configFile = path.join(dir, 'nudge.yaml');
  const dataDir = path.join(dir, 'data');
  mkdirSync(path.join(dir, 'triggers'));
  writeFileSync(
    path.join(dir, 'triggers', 'two-step.yaml'),
    'id: two-step\nentry: { event: signed_up }\nsteps:\n  - id: hello\n    send: in_app\n    template: hello\n  - wait: 2s\n  - id: follow-up\n    send: in_app\n    template: follow-up\n',
  );
  writeFileSync(
    configFile,
    `workspaces:\n  - id: shop\n    writeKeys: [${writeKey}]\nadmin:\n  keys: [${adminKey}]\nstorage:\n  driver: sqlite\n  synchronous: full\nchannels:\n  in_app:\n    webhook:\n      url: ${receiver.url}/in_app\n      allowPrivateNetworks: true\n`,
  );
  const servers: ChildProcess[] = [];
  try {
    const first = await startServer(configFile, dataDir);
    servers.push(first.child);
    const ackedUsers: string[] = [];
    let killed = false;
    let inFlight = 0;
    let reachedTarget!: () => void;
    const target = new Promise<void>((resolve) => (reachedTarget = resolve));
    const sender = async (s: number): Promise<void> => {
      for (let n = 0; !killed; n++) {
        const users = Array.from({ length: usersPerBatch }, (_, i) => `s${s}-b${n}-u${i}`);
        const batch = users.map((userId) => ({ type: 'track', event: 'signed_up', userId, messageId: `${userId}-signup`, timestamp: new Date().toISOString() }));
        inFlight++;
        try {
          const res = await fetch(`${first.url}/v1/batch`, { method: 'POST', headers: { authorization: basic, 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
          assert.equal(res.status, 200);
          ackedUsers.push(...users);
          if (ackedUsers.length >= ackedBeforeKill * usersPerBatch) reachedTarget();
        } catch (error) {
          if (!killed) throw error;
          return;
        } finally {
          inFlight--;
        }
      }
    };
    const sending = Array.from({ length: senders }, (_, s) => sender(s));
    await target;
    killed = true;
    const inFlightAtKill = inFlight;
    await kill(first.child);
    await Promise.all(sending);
    const deliveredBeforeKill = receiver.received.length;

    const second = await startServer(configFile, dataDir);
    servers.push(second.child);
    // Real time passes here: the 2 s steps come due after the restart.
    let outbox: Awaited<ReturnType<typeof allOutbox>> = [];
    const deadline = Date.now() + 60_000;
    for (;;) {
      outbox = await allOutbox(second.url);
      const acked = new Set(ackedUsers.map((u) => `u:${u}`));
      const done = outbox.filter((m) => acked.has(m.profileId) && m.status === 'delivered').length;
      if (done >= 2 * ackedUsers.length && !outbox.some((m) => m.status === 'pending')) break;
      assert.ok(Date.now() < deadline, `only ${done} of ${2 * ackedUsers.length} messages delivered after a minute`);
      await new Promise((r) => setTimeout(r, 200));
    }

    const keys = outbox.map((m) => m.key);
    assert.equal(new Set(keys).size, keys.length, 'one outbox entry per key');
    const perUser = new Map<string, string[]>();
    for (const m of outbox) perUser.set(m.profileId, [...(perUser.get(m.profileId) ?? []), m.stepId]);
    for (const user of ackedUsers) assert.deepEqual(perUser.get(`u:${user}`)?.sort(), ['follow-up', 'hello'], `${user}: each step decided once`);
    for (const [user, steps] of perUser) assert.deepEqual(steps.sort(), ['follow-up', 'hello'], `${user}: each step decided once`);

    const distinct = new Map<string, number>();
    for (const r of receiver.received) distinct.set(r.headers['idempotency-key'] as string, (distinct.get(r.headers['idempotency-key'] as string) ?? 0) + 1);
    assert.deepEqual(new Set(distinct.keys()), new Set(keys), 'every decided message was delivered, and nothing else');
    const repeats = [...distinct.values()].filter((n) => n > 1).length;
    t.diagnostic(
      `${ackedUsers.length} users acknowledged, ${inFlightAtKill} batches in flight at the kill, ${deliveredBeforeKill} deliveries before it, ` +
        `${outbox.length} messages, ${repeats} delivered again after the restart (same key)`,
    );
    assert.ok(repeats <= 256, "only deliveries in flight at the kill are repeated (at most the dispatcher's concurrency)");
  } finally {
    for (const child of servers) await kill(child);
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
