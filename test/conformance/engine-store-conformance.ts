/**
 * The contract of `EngineStore` (src/ports/engine-store.ts) that every backend must pass. A
 * backend's test file calls `engineStoreConformance` with a factory that opens a fresh, empty
 * store on the given clock (which stamps `createdAt` of new outbox entries); durable backends also give `reopen`,
 * which opens the same data again as a new process would.
 *
 * Where the port leaves an order open, the suite fixes one so that pages are deterministic:
 * entries created at the same time are listed by key, descending, and claimed by key, ascending.
 */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { perTestStore } from '../support/conformance.js';
import { emptyTriggerState, type OutboundMessage, type TriggerState } from '../../src/core/triggers/state.js';
import { SimulatedClock, type Clock } from '../../src/ports/clock.js';
import {
  userRefKey,
  waitingCounter,
  mergeMemoryMs,
  type CounterKey,
  type EngineCommit,
  type EngineStore,
  type OutboxEntry,
  type OutboxQuery,
  type TriggerVersionRecord,
  type UserRef,
} from '../../src/ports/engine-store.js';
import type { Timer } from '../../src/ports/timer-store.js';

export interface OpenedEngineStore {
  store: EngineStore;
  /** Closes `store` and opens the same data again; required when `timers.capabilities.durable`. */
  reopen?: () => Promise<EngineStore>;
  cleanup: () => Promise<void>;
}

type Harness = OpenedEngineStore & { clock: SimulatedClock };

const t0 = Date.UTC(2026, 10, 29, 10, 0, 0);
const ann: UserRef = { workspaceId: 'w1', profileId: 'u:ann' };
const bob: UserRef = { workspaceId: 'w1', profileId: 'u:bob' };
const cid: UserRef = { workspaceId: 'w1', profileId: 'u:cid' };
/** The same profile id in another workspace: a different user. */
const annElsewhere: UserRef = { workspaceId: 'w2', profileId: 'u:ann' };
const outcomeOf = (e: OutboxEntry) => ({ status: e.status, attempts: e.attempts, lastError: e.lastError, notBefore: e.notBefore });
const invalidRequest = { name: 'NudgeError', code: 'invalid_request' };

/** A state with every kind of field filled in, so a round trip that drops one shows. */
function state(seq: number): TriggerState {
  const entry = { messageId: `m${seq}`, type: 'track' as const, name: 'cart_updated', properties: { total: 42.5, items: [{ sku: 'a', qty: 2 }], gift: null }, timestamp: t0 - 60_000 };
  return {
    ...emptyTriggerState(),
    runs: {
      cart: {
        id: `cart:${seq}`,
        triggerId: 'cart',
        version: 'v1',
        startedAt: t0 - 60_000,
        entry,
        waiting: { node: 'wait1', timerId: `cart:${seq}:wait1`, dueAt: t0 + 3_600_000, since: t0 - 60_000 },
        variants: { subject: 'b' },
        sent: ['push1'],
        goalReached: false,
      },
    },
    lastEntryAt: { cart: t0 - 60_000 },
    goalWatches: { welcome: { runId: 'welcome:1', version: 'v3', startedAt: t0 - 86_400_000, until: t0 + 86_400_000, variants: {} } },
    recent: [entry],
    timezone: 'Europe/Berlin',
  };
}

function send(user: UserRef, stepId: string, o: Partial<OutboundMessage> = {}): { workspaceId: string; message: OutboundMessage } {
  const triggerId = o.triggerId ?? 'cart';
  const runId = o.runId ?? `${triggerId}:1`;
  const message: OutboundMessage = {
    key: `${userRefKey(user)}/${runId}/${stepId}`,
    profileId: user.profileId,
    triggerId,
    version: 'v1',
    runId,
    stepId,
    channel: 'push',
    fallback: ['email'],
    template: 'cart-push',
    topic: 'marketing',
    priority: 1,
    variants: { subject: 'b' },
    entry: { messageId: 'm1', type: 'track', name: 'cart_updated', properties: { total: 42.5 }, timestamp: t0 - 60_000 },
    at: t0,
    ...o,
  };
  return { workspaceId: user.workspaceId, message };
}

const counter = (triggerId: string, kind: CounterKey['kind'], o: Partial<CounterKey> = {}): CounterKey => ({
  workspaceId: 'w1',
  triggerId,
  kind,
  stepId: '',
  channel: '',
  variant: '',
  ...o,
});

const timer = (user: UserRef, id: string, dueInMs: number, payload = `{"t":"${id}"}`): Timer => ({ id, partitionKey: userRefKey(user), dueAt: t0 + dueInMs, payload });

const commit = (c: Partial<EngineCommit>): EngineCommit => ({ states: [], sends: [], counters: [], schedule: [], cancel: [], completeTimers: [], ...c });

const keys = (entries: readonly OutboxEntry[]): string[] => entries.map((e) => e.message.key);
const keyOf = (s: { message: OutboundMessage }): string => s.message.key;
const sortedCounters = (list: { key: CounterKey; count: number }[]) => [...list].sort((a, b) => (JSON.stringify(a.key) < JSON.stringify(b.key) ? -1 : 1));

async function listAll(store: EngineStore, workspaceId: string, query: OutboxQuery = {}): Promise<OutboxEntry[]> {
  const out: OutboxEntry[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await store.listOutbox(workspaceId, { ...query, cursor });
    out.push(...page.items);
    cursor = page.nextCursor;
    assert.ok(++pages < 1000, 'pagination ends');
  } while (cursor !== null);
  return out;
}

/** Everything a reader can see without changing anything: compared before and after a failed commit. */
async function snapshot(store: EngineStore) {
  return {
    states: Object.fromEntries(await store.loadStates([ann, bob, cid, annElsewhere])),
    outbox: await listAll(store, 'w1'),
    counters: sortedCounters(await store.counters('w1')),
    position: await store.position(),
    timers: await store.timers.count(),
    nextTimerAt: await store.timers.nextDueAt(),
    nextOutboxAt: await store.nextOutboxAt(),
  };
}

export function engineStoreConformance(name: string, open: (clock: Clock) => Promise<OpenedEngineStore>): void {
  const it = perTestStore<EngineStore, Harness>(async () => {
    const clock = new SimulatedClock(t0);
    return { ...(await open(clock)), clock };
  });
  const durable = (title: string, body: (store: EngineStore, opened: Harness & { reopen: () => Promise<EngineStore> }) => Promise<void>) =>
    it(title, async (store, opened, t) => {
      if (!store.timers.capabilities.durable) return t.skip(`${name} is not durable: nothing survives a reopen`);
      assert.ok(opened.reopen, 'a durable backend must give reopen');
      await body(store, { ...opened, reopen: opened.reopen });
    });

  describe(`EngineStore conformance: ${name}`, () => {
    it('a commit is visible once it resolves: states by user key, outbox entries, counters, position', async (store, { clock }) => {
      clock.set(t0 + 5);
      const a = send(ann, 'push1');
      await store.commit(
        commit({
          states: [{ ...ann, state: state(1) }, { ...bob, state: state(2) }, { ...annElsewhere, state: state(3) }],
          sends: [a],
          counters: [{ key: counter('cart', 'sent', { stepId: 'push1', channel: 'push', variant: 'subject=b' }), count: 1 }],
          position: 7,
        }),
      );
      const loaded = await store.loadStates([ann, bob, cid, annElsewhere, { workspaceId: 'w3', profileId: 'u:ann' }]);
      assert.deepEqual(Object.fromEntries(loaded), { 'w1/u:ann': state(1), 'w1/u:bob': state(2), 'w2/u:ann': state(3) });
      const page = await store.listOutbox('w1', {});
      assert.deepEqual(page, {
        items: [{ workspaceId: 'w1', message: a.message, status: 'pending', attempts: 0, notBefore: t0, createdAt: t0 + 5, updatedAt: t0 + 5, deliveredVia: null, lastError: null }],
        nextCursor: null,
      });
      assert.deepEqual(await store.counters('w1'), [{ key: counter('cart', 'sent', { stepId: 'push1', channel: 'push', variant: 'subject=b' }), count: 1 }]);
      assert.equal(await store.position(), 7);

      await store.commit(commit({ states: [{ ...ann, state: null }, { ...cid, state: null }] }));
      assert.deepEqual([...(await store.loadStates([ann, bob, cid, annElsewhere])).keys()].sort(), ['w1/u:bob', 'w2/u:ann'], 'null deletes; deleting a missing state is fine');
    });

    it('the store keeps its own copies: changing committed or loaded objects changes nothing stored', async (store) => {
      const s = state(1);
      const a = send(ann, 'push1');
      await store.commit(commit({ states: [{ ...ann, state: s }], sends: [a] }));
      s.lastEntryAt['cart'] = 99;
      s.runs['cart']!.sent.push('email1');
      a.message.variants['subject'] = 'z';
      const loaded = (await store.loadStates([ann])).get('w1/u:ann')!;
      assert.deepEqual(loaded, state(1));
      loaded.recent.length = 0;
      assert.deepEqual((await store.loadStates([ann])).get('w1/u:ann'), state(1));
      const [entry] = (await store.listOutbox('w1', {})).items;
      assert.equal(entry?.message.variants['subject'], 'b');
      entry!.message.template = 'changed';
      assert.equal((await store.listOutbox('w1', {})).items[0]?.message.template, 'cart-push');
    });

    it('a commit that fails midway applies nothing, and the same commit can then be applied', async (store) => {
      await store.commit(
        commit({
          states: [{ ...ann, state: state(1) }],
          sends: [send(ann, 'push1')],
          counters: [{ key: counter('cart', 'entered'), count: 1 }],
          schedule: [timer(ann, 'T1', 0), timer(bob, 'T2', 500)],
          position: 10,
        }),
      );
      const [claimed] = await store.timers.claimDue(t0, 1, { leaseMs: 1000 });
      assert.equal(claimed?.id, 'T1');
      const before = await snapshot(store);

      const good = commit({
        states: [{ ...ann, state: state(2) }, { ...bob, state: state(1) }],
        sends: [send(ann, 'push2'), send(bob, 'push1')],
        counters: [{ key: counter('cart', 'entered'), count: 2 }, { key: counter('cart', 'sent', { stepId: 'push2' }), count: 1 }],
        schedule: [timer(ann, 'T3', 2000)],
        cancel: ['T2'],
        completeTimers: [claimed!],
        position: 20,
      });
      // A state no backend can serialise, placed last so that a partial write would show.
      const poisoned = state(9);
      Object.defineProperty(poisoned.lastEntryAt, 'boom', { enumerable: true, get: () => { throw new Error('unserialisable'); } });
      await assert.rejects(store.commit({ ...good, states: [...good.states, { ...cid, state: poisoned }] }), /unserialisable/);
      assert.deepEqual(await snapshot(store), before, 'nothing of the failed commit is visible');

      const badTimer = { ...timer(ann, 'T4', 0), dueAt: Number.NaN };
      await assert.rejects(store.commit({ ...good, schedule: [...good.schedule, badTimer] }), /timers\[1\]\.dueAt/);
      assert.deepEqual(await snapshot(store), before, 'a bad timer rejects the whole commit');
      // The claim and the cancelled timer are untouched: both come back once the lease has run out.
      const held = await store.timers.claimDue(t0 + 1000, 10, { leaseMs: 1 });
      assert.deepEqual(held.map((c) => [c.id, c.version === claimed!.version]), [['T1', true], ['T2', false]]);
      await store.timers.release(held);

      await store.commit(good);
      assert.deepEqual(Object.fromEntries(await store.loadStates([ann, bob, cid])), { 'w1/u:ann': state(2), 'w1/u:bob': state(1) });
      assert.deepEqual(keys(await listAll(store, 'w1')).sort(), [keyOf(send(ann, 'push1')), keyOf(send(ann, 'push2')), keyOf(send(bob, 'push1'))].sort());
      assert.deepEqual(sortedCounters(await store.counters('w1')), sortedCounters([{ key: counter('cart', 'entered'), count: 3 }, { key: counter('cart', 'sent', { stepId: 'push2' }), count: 1 }]));
      assert.equal(await store.position(), 20);
      assert.equal(await store.timers.count(), 1);
      assert.deepEqual((await store.timers.claimDue(t0 + 60_000, 10)).map((c) => c.id), ['T3']);
    });

    it('an outbox entry is added at most once by key, within a commit and across commits, whatever its status', async (store, { clock }) => {
      const first = send(ann, 'push1', { template: 'first' });
      const again = send(ann, 'push1', { template: 'second' });
      assert.equal(keyOf(first), keyOf(again));
      await store.commit(commit({ sends: [first, again] }));
      assert.deepEqual((await listAll(store, 'w1')).map((e) => e.message.template), ['first']);

      await store.claimOutbox(t0, 10, 1000);
      await store.settleOutbox([{ key: keyOf(first), status: 'delivered', via: 'push' }], t0 + 10);
      clock.set(t0 + 100);
      // The rest of a commit that repeats a key is applied as usual.
      await store.commit(commit({ sends: [again, send(bob, 'push1')], states: [{ ...ann, state: state(5) }] }));
      const all = await listAll(store, 'w1', { profileId: 'u:ann' });
      assert.deepEqual(all.map((e) => [e.message.template, e.status, e.attempts, e.createdAt]), [['first', 'delivered', 1, t0]]);
      assert.equal((await listAll(store, 'w1')).length, 2);
      assert.equal((await store.loadStates([ann])).get('w1/u:ann')?.runs['cart']?.id, 'cart:5');
      assert.deepEqual(await store.claimOutbox(t0 + 100, 10, 1000).then(keys), [keyOf(send(bob, 'push1'))], 'the repeat is not pending again');
    });

    it('claimOutbox claims due pending entries oldest first, up to the limit, each for its lease', async (store, { clock }) => {
      // Due from when the step was due (message.at), not from when the commit was made.
      const [a, b, c] = [send(cid, 'a', { at: t0 }), send(bob, 'b', { at: t0 + 10 }), send(ann, 'c', { at: t0 + 20 })];
      clock.set(t0 + 500);
      await store.commit(commit({ sends: [c, b] }));
      await store.commit(commit({ sends: [a] }));

      const first = await store.claimOutbox(t0 + 15, 10, 1000);
      assert.deepEqual(keys(first), [keyOf(a), keyOf(b)], 'c is not due before t0+20');
      assert.deepEqual(first.map((e) => [e.status, e.notBefore, e.attempts]), [['pending', t0, 0], ['pending', t0 + 10, 0]]);
      assert.deepEqual(keys(await store.claimOutbox(t0 + 20, 10, 1000)), [keyOf(c)], 'claimed entries are held');
      assert.deepEqual(await store.claimOutbox(t0 + 1014, 10, 1000), [], 'every lease runs until claim time + leaseMs');
      assert.equal(await store.nextOutboxAt(), t0 + 1015);
      assert.deepEqual(keys(await store.claimOutbox(t0 + 1015, 1, 1000)), [keyOf(a)], 'an expired lease is claimable again, oldest first');
      assert.deepEqual(keys(await store.claimOutbox(t0 + 1015, 10, 500)), [keyOf(b)]);
      assert.deepEqual(await store.claimOutbox(t0 + 1019, 10, 1000), []);
      assert.deepEqual(keys(await store.claimOutbox(t0 + 1020, 10, 1000)), [keyOf(c)]);
      assert.deepEqual(await store.claimOutbox(t0 + 60_000, 0, 1000), [], 'limit 0 claims nothing');
      assert.deepEqual(keys(await store.claimOutbox(t0 + 60_000, 10, 1000)), [keyOf(a), keyOf(b), keyOf(c)]);
    });

    it('many entries: claimed in pages, oldest first, each exactly once', async (store, { clock }) => {
      const all = Array.from({ length: 1200 }, (_, i) => send({ workspaceId: 'w1', profileId: `u:${i}` }, 'push1', { at: t0 + ((i * 7919) % 1200) }));
      for (let i = 0; i < all.length; i += 100) {
        clock.set(t0 + 2000 - i);
        await store.commit(commit({ sends: all.slice(i, i + 100) }));
      }
      const seen: OutboxEntry[] = [];
      for (let page = await store.claimOutbox(t0 + 1200, 250, 60_000); page.length > 0; page = await store.claimOutbox(t0 + 1200, 250, 60_000)) seen.push(...page);
      assert.equal(seen.length, 1200);
      assert.equal(new Set(keys(seen)).size, 1200);
      assert.ok(seen.every((e, i) => i === 0 || seen[i - 1]!.notBefore <= e.notBefore), 'oldest first across pages');
    });

    it('settleOutbox: delivered and failed are final, retry is pending again at its time; each adds an attempt', async (store) => {
      const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map((step) => send(ann, step));
      await store.commit(commit({ sends: [a!, b!, c!, d!, e!] }));
      assert.equal((await store.claimOutbox(t0, 10, 1000)).length, 5);
      await store.settleOutbox(
        [
          { key: keyOf(a!), status: 'delivered', via: 'email' },
          { key: keyOf(b!), status: 'failed', error: 'bounced' },
          { key: keyOf(c!), status: 'retry', notBefore: t0 + 5000, error: 'timeout' },
          { key: keyOf(d!), status: 'retry', error: 'busy' },
          { key: 'w1/u:nobody/cart:1/x', status: 'delivered', via: 'push' },
        ],
        t0 + 100,
      );
      const byKey = new Map((await listAll(store, 'w1')).map((x) => [x.message.key, x]));
      const view = (s: { message: OutboundMessage }) => {
        const x = byKey.get(keyOf(s))!;
        return [x.status, x.attempts, x.notBefore - t0, x.updatedAt - t0, x.deliveredVia, x.lastError];
      };
      assert.deepEqual(view(a!), ['delivered', 1, 0, 100, 'email', null]);
      assert.deepEqual(view(b!), ['failed', 1, 0, 100, null, 'bounced']);
      assert.deepEqual(view(c!), ['pending', 1, 5000, 100, null, 'timeout']);
      assert.deepEqual(view(d!), ['pending', 1, 100, 100, null, 'busy'], 'a retry without a time is due at once');
      assert.deepEqual(view(e!), ['pending', 0, 0, 0, null, null], 'an unsettled claim is unchanged');
      assert.equal(byKey.size, 5, 'an unknown key is ignored');

      assert.deepEqual(keys(await store.claimOutbox(t0 + 100, 10, 1000)), [keyOf(d!)], 'a retry ends the claim; e is still held');
      // Late reports (a dispatcher whose lease ran out) do not undo a final outcome.
      await store.settleOutbox([{ key: keyOf(a!), status: 'retry', notBefore: t0, error: 'late' }, { key: keyOf(b!), status: 'delivered', via: 'push' }], t0 + 200);
      assert.deepEqual(view(a!), ['delivered', 1, 0, 100, 'email', null]);
      const later = new Map((await listAll(store, 'w1')).map((x) => [x.message.key, x]));
      assert.deepEqual([later.get(keyOf(a!))?.status, later.get(keyOf(a!))?.attempts, later.get(keyOf(b!))?.status, later.get(keyOf(b!))?.deliveredVia], ['delivered', 1, 'failed', null]);

      assert.deepEqual(keys(await store.claimOutbox(t0 + 4999, 10, 1000)), [keyOf(e!), keyOf(d!)], 'expired leases, oldest first');
      assert.deepEqual(keys(await store.claimOutbox(t0 + 5000, 10, 1000)), [keyOf(c!)]);
      await store.settleOutbox([{ key: keyOf(c!), status: 'delivered', via: 'push' }], t0 + 5001);
      const delivered = (await listAll(store, 'w1')).find((x) => x.message.key === keyOf(c!))!;
      assert.deepEqual([delivered.status, delivered.attempts, delivered.deliveredVia, delivered.lastError, delivered.updatedAt], ['delivered', 2, 'push', 'timeout', t0 + 5001], 'the error of the earlier attempt stays');
      assert.deepEqual(await store.claimOutbox(t0 + 86_400_000, 10, 1000).then(keys), [keyOf(e!), keyOf(d!)], 'settled entries are never claimed again');
    });

    it('settleOutbox: suppressed is final and deferred is pending again at its time, neither an attempt', async (store, { clock }) => {
      clock.set(t0);
      const a = send(ann, 'push1');
      const b = send(bob, 'push1');
      await store.commit(commit({ sends: [a, b] }));
      await store.claimOutbox(t0, 10, 60_000);
      await store.settleOutbox([{ key: a.message.key, status: 'suppressed', error: 'capped: at most 2' }, { key: b.message.key, status: 'deferred', notBefore: t0 + 3_600_000, error: 'quiet_hours' }], t0 + 10);
      const byKey = new Map((await store.listOutbox('w1', {})).items.map((e) => [e.message.key, e]));
      assert.deepEqual(outcomeOf(byKey.get(a.message.key)!), { status: 'suppressed', attempts: 0, lastError: 'capped: at most 2', notBefore: t0 });
      assert.deepEqual(outcomeOf(byKey.get(b.message.key)!), { status: 'pending', attempts: 0, lastError: 'quiet_hours', notBefore: t0 + 3_600_000 });
      assert.deepEqual(await store.claimOutbox(t0 + 3_599_999, 10, 60_000), [], 'deferred until its time');
      assert.deepEqual((await store.claimOutbox(t0 + 3_600_000, 10, 60_000)).map((e) => e.message.key), [b.message.key], 'suppressed is never claimed');
      await store.settleOutbox([{ key: a.message.key, status: 'delivered', via: 'push' }], t0 + 20);
      assert.equal((await store.listOutbox('w1', { status: 'suppressed' })).items.length, 1, 'suppressed is final');
    });

    it('nextOutboxAt is the earliest pending notBefore or lease end, null when nothing is pending', async (store) => {
      assert.equal(await store.nextOutboxAt(), null);
      const [a, b] = [send(ann, 'a', { at: t0 }), send(bob, 'b', { at: t0 + 50 })];
      await store.commit(commit({ sends: [b, a] }));
      assert.equal(await store.nextOutboxAt(), t0);
      await store.claimOutbox(t0, 1, 1000);
      assert.equal(await store.nextOutboxAt(), t0 + 50, 'a claimed entry counts from its lease end (t0+1000)');
      await store.settleOutbox([{ key: keyOf(b), status: 'retry', notBefore: t0 + 2000 }], t0 + 60);
      assert.equal(await store.nextOutboxAt(), t0 + 1000);
      await store.settleOutbox([{ key: keyOf(a), status: 'delivered', via: 'push' }], t0 + 70);
      assert.equal(await store.nextOutboxAt(), t0 + 2000);
      await store.settleOutbox([{ key: keyOf(b), status: 'failed', error: 'gone' }], t0 + 80);
      assert.equal(await store.nextOutboxAt(), null);
    });

    it('listOutbox lists a workspace newest first, filtered by status, profile and trigger', async (store, { clock }) => {
      const e = [
        send(ann, 'push1'),
        send(bob, 'push1'),
        send(ann, 'mail1', { triggerId: 'welcome', channel: 'email' }),
        send(annElsewhere, 'push1'),
        send(bob, 'mail1', { triggerId: 'welcome' }),
        send(cid, 'push1'),
      ];
      for (let i = 0; i < e.length; i++) {
        clock.set(t0 + i * 1000);
        await store.commit(commit({ sends: [e[i]!] }));
      }
      await store.claimOutbox(t0 + 10_000, 10, 1000);
      await store.settleOutbox([{ key: keyOf(e[0]!), status: 'delivered', via: 'push' }, { key: keyOf(e[4]!), status: 'failed', error: 'no address' }], t0 + 10_000);
      const pick = (...i: number[]) => i.map((n) => keyOf(e[n]!));
      assert.deepEqual(keys(await listAll(store, 'w1', { limit: 2 })), pick(5, 4, 2, 1, 0));
      assert.deepEqual(keys(await listAll(store, 'w1', { status: 'pending' })), pick(5, 2, 1), 'claimed entries are pending');
      assert.deepEqual(keys(await listAll(store, 'w1', { status: 'delivered' })), pick(0));
      assert.deepEqual(keys(await listAll(store, 'w1', { profileId: 'u:ann', limit: 1 })), pick(2, 0));
      assert.deepEqual(keys(await listAll(store, 'w1', { triggerId: 'welcome' })), pick(4, 2));
      assert.deepEqual(keys(await listAll(store, 'w1', { triggerId: 'cart', profileId: 'u:bob' })), pick(1));
      assert.deepEqual(keys(await listAll(store, 'w1', { triggerId: 'welcome', status: 'failed' })), pick(4));
      assert.deepEqual(keys(await listAll(store, 'w2')), pick(3));
      assert.deepEqual(await listAll(store, 'w1', { profileId: 'u:nobody' }), []);
      assert.deepEqual(await store.listOutbox('w9', {}), { items: [], nextCursor: null });
    });

    it('keyset pages neither repeat nor skip entries while new ones are added', async (store, { clock }) => {
      // 24 entries, four to a commit: ties in createdAt that pages of 5 must cut through.
      const original = Array.from({ length: 24 }, (_, i) => ({ createdAt: t0 + Math.floor(i / 4) * 1000, send: send({ workspaceId: 'w1', profileId: `u:${i}` }, 'push1') }));
      for (let i = 0; i < original.length; i += 4) {
        clock.set(original[i]!.createdAt);
        await store.commit(commit({ sends: original.slice(i, i + 4).map((o) => o.send) }));
      }
      const expected = [...original].sort((a, b) => b.createdAt - a.createdAt || (keyOf(a.send) < keyOf(b.send) ? 1 : -1)).map((o) => keyOf(o.send));
      const seen: OutboxEntry[] = [];
      let cursor: string | null = null;
      let round = 0;
      do {
        const page = await store.listOutbox('w1', { limit: 5, cursor });
        seen.push(...page.items);
        cursor = page.nextCursor;
        // Newer, equally old (keys sorting before and after the originals) and older entries arrive between pages.
        for (const [at, profileId] of [[t0 + 100_000 + round, `u:new${round}`], [t0 + 2000, `u:0tie${round}`], [t0 + 3000, `u:~tie${round}`], [t0 - 1 - round, `u:old${round}`]] as const) {
          clock.set(at);
          await store.commit(commit({ sends: [send({ workspaceId: 'w1', profileId }, 'push1')] }));
        }
        round++;
      } while (cursor !== null && round < 50);
      assert.equal(cursor, null, 'pagination ends');
      const seenKeys = keys(seen);
      assert.equal(new Set(seenKeys).size, seenKeys.length, 'no entry is returned twice');
      assert.deepEqual(seenKeys.filter((k) => expected.includes(k)), expected, 'every original entry, in order');
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i - 1]!.createdAt >= seen[i]!.createdAt, 'newest first across pages');
    });

    it('a cursor from another listing, or not from the store at all, is refused as an invalid request', async (store, { clock }) => {
      for (const [i, user] of [ann, bob, cid].entries()) {
        clock.set(t0 + i);
        await store.commit(commit({ sends: [send(user, 'push1')] }));
      }
      const cursor = (await store.listOutbox('w1', { limit: 1 })).nextCursor;
      assert.ok(cursor);
      for (const foreign of [Buffer.from('[1]').toString('base64url'), Buffer.from(JSON.stringify([t0, 7])).toString('base64url'), 'not a cursor']) {
        await assert.rejects(store.listOutbox('w1', { cursor: foreign }), invalidRequest);
      }
      assert.deepEqual(keys((await store.listOutbox('w1', { cursor })).items), [keyOf(send(bob, 'push1')), keyOf(send(ann, 'push1'))]);
    });

    it('counters add up per key, within a commit and across commits, listed per workspace and trigger', async (store) => {
      const sentA = counter('cart', 'sent', { stepId: 'push1', channel: 'push', variant: 'subject=a' });
      const sentB = counter('cart', 'sent', { stepId: 'push1', channel: 'push', variant: 'subject=b' });
      const entered = counter('cart', 'entered');
      const welcome = counter('welcome', 'entered');
      const elsewhere = counter('cart', 'entered', { workspaceId: 'w2' });
      await store.commit(commit({ counters: [{ key: sentA, count: 1 }, { key: entered, count: 2 }, { key: elsewhere, count: 5 }] }));
      await store.commit(commit({ counters: [{ key: sentA, count: 3 }, { key: sentA, count: 1 }, { key: sentB, count: 1 }, { key: welcome, count: 1 }, { key: entered, count: 1 }] }));
      assert.deepEqual(
        sortedCounters(await store.counters('w1')),
        sortedCounters([{ key: sentA, count: 5 }, { key: sentB, count: 1 }, { key: entered, count: 3 }, { key: welcome, count: 1 }]),
      );
      assert.deepEqual(sortedCounters(await store.counters('w1', 'cart')), sortedCounters([{ key: sentA, count: 5 }, { key: sentB, count: 1 }, { key: entered, count: 3 }]));
      assert.deepEqual(await store.counters('w2'), [{ key: elsewhere, count: 5 }]);
      assert.deepEqual(await store.counters('w1', 'nope'), []);
      assert.deepEqual(await store.counters('w3'), []);
    });

    it('counters take negative counts (the waiting gauge going down) and stay listed at 0; the store adds, it does not clamp', async (store) => {
      const wait1 = waitingCounter('w1', 'cart', 'wait1');
      const wait2 = waitingCounter('w1', 'cart', 'wait2');
      await store.commit(commit({ counters: [{ key: wait1, count: 3 }, { key: counter('cart', 'entered'), count: 3 }] }));
      await store.commit(commit({ counters: [{ key: wait1, count: -1 }, { key: wait2, count: 1 }] }));
      assert.deepEqual(sortedCounters(await store.counters('w1', 'cart')), sortedCounters([{ key: counter('cart', 'entered'), count: 3 }, { key: wait1, count: 2 }, { key: wait2, count: 1 }]));
      await store.commit(commit({ counters: [{ key: wait1, count: -2 }, { key: wait2, count: -1 }, { key: wait2, count: 1 }] }));
      assert.deepEqual(sortedCounters(await store.counters('w1', 'cart')), sortedCounters([{ key: counter('cart', 'entered'), count: 3 }, { key: wait1, count: 0 }, { key: wait2, count: 1 }]));
      const fresh = waitingCounter('w1', 'welcome', 'pause');
      await store.commit(commit({ counters: [{ key: fresh, count: -1 }] }));
      assert.deepEqual(await store.counters('w1', 'welcome'), [{ key: fresh, count: -1 }], 'a first count below 0 is kept as given');
    });

    it('trigger versions are remembered once by trigger id and version', async (store) => {
      const v = (triggerId: string, version: string, definition: string, firstSeenAt: number): TriggerVersionRecord => ({ triggerId, version, definition, firstSeenAt });
      const sort = (list: TriggerVersionRecord[]) => [...list].sort((a, b) => (`${a.triggerId}/${a.version}` < `${b.triggerId}/${b.version}` ? -1 : 1));
      assert.deepEqual(await store.versions(), []);
      const first = [v('cart', 'v1', '{"id":"cart","n":1}', t0), v('cart', 'v2', '{"id":"cart","n":2}', t0 + 10), v('welcome', 'v1', '{"id":"welcome"}', t0)];
      await store.saveVersions(first);
      await store.saveVersions([v('cart', 'v1', '{"id":"cart","changed":true}', t0 + 99), v('welcome', 'v1', '{}', t0 + 99)]);
      await store.saveVersions([]);
      assert.deepEqual(sort(await store.versions()), sort(first), 'the first record of a version is kept');
      await store.saveVersions([v('welcome', 'v2', '{"id":"welcome","n":2}', t0 + 50)]);
      assert.equal((await store.versions()).length, 4);
    });

    it('position is 0 at first, then the highest position committed; commits without one leave it', async (store) => {
      assert.equal(await store.position(), 0);
      await store.commit(commit({ position: 5 }));
      assert.equal(await store.position(), 5);
      await store.commit(commit({ states: [{ ...ann, state: state(1) }] }));
      assert.equal(await store.position(), 5);
      await store.commit(commit({ position: 3 }));
      assert.equal(await store.position(), 5, 'the position never moves back');
      await store.commit(commit({ position: 9 }));
      assert.equal(await store.position(), 9);
    });

    it('timers scheduled in a commit are claimable through timers; completed versions are gone, cancels win', async (store) => {
      await store.commit(commit({ schedule: [timer(ann, 'T1', 100, 'one'), timer(bob, 'T2', 200, 'two')] }));
      assert.equal(await store.timers.count(), 2);
      assert.equal(await store.timers.nextDueAt(), t0 + 100);
      const [t1] = await store.timers.claimDue(t0 + 100, 10, { leaseMs: 1000 });
      assert.deepEqual({ ...t1, version: 0 }, { id: 'T1', partitionKey: 'w1/u:ann', dueAt: t0 + 100, payload: 'one', version: 0, attempt: 1 });
      await store.commit(commit({ completeTimers: [t1!] }));
      assert.equal(await store.timers.count(), 1);
      assert.deepEqual((await store.timers.claimDue(t0 + 60_000, 10, { leaseMs: 1000 })).map((c) => c.id), ['T2'], 'a completed timer never comes back');

      // A fire whose effect reschedules the same id: the old version completes, the new one stays.
      const [t2] = await store.timers.claimDue(t0 + 61_000, 10, { leaseMs: 1000 });
      assert.equal(t2?.id, 'T2');
      await store.commit(commit({ completeTimers: [t2!], schedule: [timer(bob, 'T2', 120_000, 'again')] }));
      assert.equal(await store.timers.count(), 1);
      assert.deepEqual(await store.timers.claimDue(t0 + 119_999, 10), []);
      const [fresh] = await store.timers.claimDue(t0 + 120_000, 10);
      assert.deepEqual([fresh?.id, fresh?.payload, fresh?.attempt], ['T2', 'again', 1]);
      assert.ok(fresh!.version > t2!.version);

      await store.timers.schedule([timer(cid, 'T3', 0)]);
      await store.commit(commit({ cancel: ['T3', 'T2', 'unknown'] }));
      assert.equal(await store.timers.count(), 0, 'cancels in a commit apply to claimed timers and timers scheduled directly');
      assert.equal(await store.timers.complete([fresh!]), 0);
    });

    it('commit returns the outbox keys it added; an entry committed claimed is not claimable until its lease ends', async (store, { clock }) => {
      clock.set(t0);
      const a = send(ann, 'push1');
      const b = send(bob, 'push1');
      assert.deepEqual(await store.commit(commit({ sends: [{ ...a, claimedUntil: t0 + 5000 }, b] })), { addedSends: [a.message.key, b.message.key] });
      assert.deepEqual(await store.commit(commit({ sends: [a, send(cid, 'push1')] })), { addedSends: [send(cid, 'push1').message.key] }, 'a key already there is not added again');
      assert.deepEqual((await store.claimOutbox(t0, 10, 10_000)).map((e) => e.message.profileId).sort(), ['u:bob', 'u:cid'], 'the claimed one is held');
      assert.equal(await store.nextOutboxAt(), t0 + 5000);
      assert.deepEqual((await store.claimOutbox(t0 + 5000, 10, 1000)).map((e) => e.message.key), [a.message.key], 'its lease ran out: claimable again');
    });

    it('releaseAllClaims makes every claimed timer and outbox entry claimable again at once', async (store, { clock }) => {
      clock.set(t0);
      await store.commit(commit({ sends: [send(ann, 'push1'), send(bob, 'push1')], schedule: [timer(ann, 'T1', 0), timer(bob, 'T2', 500)] }));
      assert.equal((await store.claimOutbox(t0, 10, 60_000)).length, 2);
      assert.equal((await store.timers.claimDue(t0, 10, { lookaheadMs: 1000 })).length, 2);
      assert.deepEqual(await store.claimOutbox(t0 + 1, 10, 60_000), [], 'held by their leases');
      assert.deepEqual(await store.releaseAllClaims(), { timers: 2, outbox: 2 });
      assert.deepEqual((await store.claimOutbox(t0 + 1, 10, 60_000)).map((e) => e.message.profileId).sort(), ['u:ann', 'u:bob']);
      assert.deepEqual((await store.timers.claimDue(t0 + 1, 10, { lookaheadMs: 1000 })).map((t) => t.id), ['T1', 'T2']);
      assert.deepEqual(await store.releaseAllClaims(), { timers: 2, outbox: 2 });
      assert.deepEqual(await store.releaseAllClaims(), { timers: 0, outbox: 0 }, 'nothing left to release');
    });

    it('exportUser gives the state and outbox entries of the profile, and nothing of others', async (store, { clock }) => {
      const [a1, a2, b1, elsewhere] = [send(ann, 'push1'), send(ann, 'mail1', { triggerId: 'welcome' }), send(bob, 'push1'), send(annElsewhere, 'push1')];
      await store.commit(commit({ states: [{ ...ann, state: state(1) }, { ...bob, state: state(2) }, { ...annElsewhere, state: state(3) }], sends: [a1, b1, elsewhere] }));
      clock.set(t0 + 10);
      await store.commit(commit({ sends: [a2] }));
      await store.claimOutbox(t0 + 10, 10, 1000);
      await store.settleOutbox([{ key: keyOf(a1), status: 'delivered', via: 'push' }], t0 + 20);

      const exported = await store.exportUser(ann);
      assert.deepEqual(exported.state, state(1));
      assert.deepEqual(keys(exported.outbox), [keyOf(a2), keyOf(a1)], 'newest first');
      assert.deepEqual(exported.outbox[1], { workspaceId: 'w1', message: a1.message, status: 'delivered', attempts: 1, notBefore: t0, createdAt: t0, updatedAt: t0 + 20, deliveredVia: 'push', lastError: null });
      assert.deepEqual(await store.exportUser(cid), { state: null, outbox: [] });
      assert.deepEqual(keys((await store.exportUser(annElsewhere)).outbox), [keyOf(elsewhere)]);
    });

    it('eraseUser removes the state, outbox entries and timers of the profile only, and counts them', async (store) => {
      const prefix: UserRef = { workspaceId: 'w1', profileId: 'u:ann2' };
      // state(n) has one run waiting at cart/wait1: the gauge counts ann's and bob's in w1.
      const waiting = waitingCounter('w1', 'cart', 'wait1');
      await store.commit(
        commit({
          states: [{ ...ann, state: state(1) }, { ...bob, state: state(2) }, { ...annElsewhere, state: state(3) }],
          sends: [send(ann, 'push1'), send(ann, 'push2'), send(bob, 'push1'), send(annElsewhere, 'push1'), send(prefix, 'push1')],
          counters: [{ key: counter('cart', 'entered'), count: 4 }, { key: waiting, count: 2 }, { key: waitingCounter('w2', 'cart', 'wait1'), count: 1 }],
          schedule: [timer(ann, 'A1', 100), timer(ann, 'A2', 200), timer(bob, 'B1', 100), timer(annElsewhere, 'E1', 100), timer(prefix, 'P1', 100)],
        }),
      );
      await store.timers.schedule([timer(ann, 'A3', 300)]);
      await store.timers.claimDue(t0 + 100, 1, { leaseMs: 1000 }); // A1, claimed: erased all the same
      await store.claimOutbox(t0, 1, 1000);

      assert.deepEqual(await store.eraseUser(ann), { states: 1, outbox: 2, timers: 3 });
      assert.deepEqual(Object.fromEntries(await store.loadStates([ann, bob, annElsewhere])), { 'w1/u:bob': state(2), 'w2/u:ann': state(3) });
      assert.deepEqual(keys(await listAll(store, 'w1')).sort(), [keyOf(send(bob, 'push1')), keyOf(send(prefix, 'push1'))].sort());
      assert.deepEqual(keys(await listAll(store, 'w2')), [keyOf(send(annElsewhere, 'push1'))]);
      assert.deepEqual(await store.exportUser(ann), { state: null, outbox: [] });
      assert.equal(await store.timers.count(), 3);
      assert.deepEqual((await store.timers.claimDue(t0 + 60_000, 10)).map((c) => c.id).sort(), ['B1', 'E1', 'P1']);
      assert.deepEqual(
        sortedCounters(await store.counters('w1')),
        sortedCounters([{ key: counter('cart', 'entered'), count: 4 }, { key: waiting, count: 1 }, { key: counter('cart', 'exited', { variant: 'erased' }), count: 1 }]),
        "counters hold no personal data and stay; the erased state's run counts as exited and leaves the waiting gauge",
      );
      assert.deepEqual(await store.counters('w2'), [{ key: waitingCounter('w2', 'cart', 'wait1'), count: 1 }], 'the same profile id elsewhere keeps its count');
      assert.deepEqual(await store.eraseUser(ann), { states: 0, outbox: 0, timers: 0 });
      assert.deepEqual(
        sortedCounters(await store.counters('w1')),
        sortedCounters([{ key: counter('cart', 'entered'), count: 4 }, { key: waiting, count: 1 }, { key: counter('cart', 'exited', { variant: 'erased' }), count: 1 }]),
        'erasing again changes nothing more',
      );

      await store.commit(commit({ states: [{ ...ann, state: state(7) }], sends: [send(ann, 'push1')] }));
      assert.equal((await store.exportUser(ann)).outbox.length, 1, 'an erased key can be sent again');
    });

    it('merges are remembered per workspace, one step each, re-recorded last wins, forgotten after mergeMemoryMs', async (store) => {
      const visitor: UserRef = { workspaceId: 'w1', profileId: 'a:v1' };
      const visitor2: UserRef = { workspaceId: 'w1', profileId: 'a:v2' };
      assert.equal((await store.mergedInto([visitor])).size, 0);
      await store.commit(commit({ merges: [{ from: visitor, to: ann, at: t0 }, { from: ann, to: bob, at: t0 + 1 }] }));
      const found = await store.mergedInto([visitor, ann, bob, { workspaceId: 'w2', profileId: 'a:v1' }]);
      assert.deepEqual(Object.fromEntries(found), { [userRefKey(visitor)]: ann, [userRefKey(ann)]: bob }, 'one step each; the same id in another workspace is another profile');
      await store.commit(commit({ merges: [{ from: visitor, to: cid, at: t0 + 2 }] }));
      assert.deepEqual((await store.mergedInto([visitor])).get(userRefKey(visitor)), cid);
      // A commit forgets what is older than mergeMemoryMs before its newest merge.
      await store.commit(commit({ merges: [{ from: visitor2, to: bob, at: t0 + 2 + mergeMemoryMs }] }));
      assert.deepEqual([...(await store.mergedInto([visitor, ann, visitor2])).keys()], [userRefKey(visitor), userRefKey(visitor2)], 'ann (at t0 + 1) is forgotten, t0 + 2 is not');
    });

    it('eraseUser forgets the merges the profile is part of, either side', async (store) => {
      const visitor: UserRef = { workspaceId: 'w1', profileId: 'a:v1' };
      await store.commit(commit({ merges: [{ from: visitor, to: ann, at: t0 }, { from: ann, to: bob, at: t0 }, { from: cid, to: bob, at: t0 }] }));
      await store.eraseUser(ann);
      assert.deepEqual([...(await store.mergedInto([visitor, ann, cid])).keys()], [userRefKey(cid)]);
    });

    durable('everything committed survives a reopen, claims included, and keys stay at most once', async (store, { clock, reopen }) => {
      const [a, b, c] = [send(ann, 'a'), send(bob, 'b'), send(cid, 'c')];
      await store.commit(
        commit({
          states: [{ ...ann, state: state(1) }, { ...bob, state: state(2) }],
          sends: [a, b],
          counters: [{ key: counter('cart', 'entered'), count: 2 }],
          schedule: [timer(ann, 'T1', 0), timer(bob, 'T2', 500, 'two')],
          position: 42,
          merges: [{ from: { workspaceId: 'w1', profileId: 'a:v1' }, to: ann, at: t0 }],
        }),
      );
      clock.set(t0 + 10);
      await store.commit(commit({ sends: [c], counters: [{ key: counter('cart', 'entered'), count: 1 }] }));
      await store.saveVersions([{ triggerId: 'cart', version: 'v1', definition: '{"id":"cart"}', firstSeenAt: t0 }]);
      assert.deepEqual(keys(await store.claimOutbox(t0 + 10, 2, 1000)), [keyOf(a), keyOf(b)]);
      await store.settleOutbox([{ key: keyOf(b), status: 'delivered', via: 'push' }], t0 + 20);
      const [t1] = await store.timers.claimDue(t0, 1, { leaseMs: 1000 });
      const outbox = await listAll(store, 'w1');
      const versions = await store.versions();

      const next = await reopen();
      assert.deepEqual(Object.fromEntries(await next.loadStates([ann, bob, cid])), { 'w1/u:ann': state(1), 'w1/u:bob': state(2) });
      assert.deepEqual(await listAll(next, 'w1'), outbox);
      assert.deepEqual(await next.counters('w1'), [{ key: counter('cart', 'entered'), count: 3 }]);
      assert.deepEqual(await next.versions(), versions);
      assert.equal(await next.position(), 42);
      assert.equal(await next.timers.count(), 2);
      assert.deepEqual(Object.fromEntries(await next.mergedInto([{ workspaceId: 'w1', profileId: 'a:v1' }])), { 'w1/a:v1': ann });

      assert.deepEqual(keys(await next.claimOutbox(t0 + 999, 10, 1000)), [keyOf(c)], 'a is held until its lease ends, b is delivered');
      assert.deepEqual(keys(await next.claimOutbox(t0 + 1010, 10, 1000)), [keyOf(a)]);
      await next.commit(commit({ sends: [send(ann, 'a', { template: 'again' }), send(bob, 'b')] }));
      assert.deepEqual(await listAll(next, 'w1').then((l) => l.map((e) => [e.message.key, e.message.template, e.status])), outbox.map((e) => [e.message.key, 'cart-push', e.status]));

      const again = await next.timers.claimDue(t0 + 1000, 10, { leaseMs: 1000 });
      assert.deepEqual(again.map((x) => [x.id, x.version === t1!.version, x.attempt]), [['T1', true, 2], ['T2', false, 1]]);
      await next.commit(commit({ completeTimers: [t1!] }));
      assert.equal(await next.timers.count(), 1);
    });

    durable('a commit that failed is not there after a reopen either', async (store, { reopen }) => {
      await store.commit(commit({ states: [{ ...ann, state: state(1) }], position: 3 }));
      const poisoned = state(9);
      Object.defineProperty(poisoned.runs, 'boom', { enumerable: true, get: () => { throw new Error('unserialisable'); } });
      await assert.rejects(
        store.commit(commit({ sends: [send(ann, 'push1')], counters: [{ key: counter('cart', 'entered'), count: 1 }], schedule: [timer(ann, 'T1', 0)], states: [{ ...bob, state: state(2) }, { ...ann, state: poisoned }], position: 8 })),
      );
      const next = await reopen();
      assert.deepEqual(Object.fromEntries(await next.loadStates([ann, bob])), { 'w1/u:ann': state(1) });
      assert.deepEqual(await next.listOutbox('w1', {}), { items: [], nextCursor: null });
      assert.deepEqual(await next.counters('w1'), []);
      assert.equal(await next.timers.count(), 0);
      assert.equal(await next.position(), 3);
    });
  });
}
