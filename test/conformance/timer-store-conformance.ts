/**
 * The contract of `TimerStore` (src/ports/timer-store.ts) that every backend must pass. A backend's
 * test file calls `timerStoreConformance` with a factory that opens a fresh, empty store; durable
 * backends also give `reopen`, which opens the same data again as a new process would.
 */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { perTestStore } from '../support/conformance.js';
import type { ClaimedTimer, Timer, TimerStore } from '../../src/ports/timer-store.js';

export interface OpenedTimerStore {
  store: TimerStore;
  /** Closes `store` and opens the same data again; required when `capabilities.durable`. */
  reopen?: () => Promise<TimerStore>;
  cleanup: () => Promise<void>;
}

const t0 = Date.UTC(2026, 10, 29, 10, 0, 0);
const timer = (id: string, dueInMs: number, payload = `{"step":"${id}"}`): Timer => ({ id, partitionKey: `user-${id.split(':')[0]}`, dueAt: t0 + dueInMs, payload });
const ids = (claimed: readonly ClaimedTimer[]): string[] => claimed.map((c) => c.id);
const lease = { leaseMs: 1000 };


export function timerStoreConformance(name: string, open: () => Promise<OpenedTimerStore>): void {
  const it = perTestStore<TimerStore, OpenedTimerStore>(open);
  const durable = (title: string, body: (opened: OpenedTimerStore & { reopen: () => Promise<TimerStore> }) => Promise<void>) =>
    it(title, async (store, opened, t) => {
      if (!store.capabilities.durable) return t.skip(`${name} is not durable: nothing survives a reopen`);
      assert.ok(opened.reopen, 'a durable backend must give reopen');
      await body({ ...opened, reopen: opened.reopen });
    });

  describe(`TimerStore conformance: ${name}`, () => {
    it('claimDue returns due timers oldest first (ties by id), every field as scheduled, up to the limit', async (store) => {
      await store.schedule([timer('17:3', 3000), timer('9:1', 1000), timer('b:1', 2000), timer('a:1', 2000), timer('late:1', 60_000)]);
      const first = await store.claimDue(t0 + 2500, 3);
      assert.deepEqual(ids(first), ['9:1', 'a:1', 'b:1']);
      const nine = first[0]!;
      assert.deepEqual({ ...nine, version: 0 }, { id: '9:1', partitionKey: 'user-9', dueAt: t0 + 1000, payload: '{"step":"9:1"}', version: 0, attempt: 1 });
      assert.deepEqual(ids(await store.claimDue(t0 + 2500, 10)), [], 'nothing else is due by then');
      assert.deepEqual(ids(await store.claimDue(t0 + 3000, 10)), ['17:3'], 'due exactly now is due');
      assert.equal(await store.count(), 5, 'claimed timers are held until completed');
      assert.deepEqual(await store.claimDue(t0 + 3000, 0), []);
    });

    it('a claimed timer is not returned again within its lease; complete deletes it', async (store) => {
      await store.schedule([timer('1:1', 0), timer('2:1', 10)]);
      const claimed = await store.claimDue(t0 + 10, 10, lease);
      assert.deepEqual(ids(claimed), ['1:1', '2:1']);
      assert.deepEqual(await store.claimDue(t0 + 10 + 999, 10, lease), []);
      assert.equal(await store.complete(claimed), 2);
      assert.equal(await store.count(), 0);
      assert.deepEqual(await store.claimDue(t0 + 60_000, 10), [], 'completed timers never come back');
      assert.equal(await store.complete(claimed), 0, 'completing twice is a no-op');
    });

    it('a claim not completed is returned again when its lease expires, with the next attempt', async (store) => {
      await store.schedule([timer('1:1', 0), timer('2:1', 500)]);
      const first = await store.claimDue(t0 + 100, 10, { leaseMs: 1000, lookaheadMs: 400 });
      assert.deepEqual(ids(first), ['1:1', '2:1'], 'lookahead claims what is due soon');
      // The lease runs from max(dueAt, now): 1:1 until t0+1100, 2:1 until t0+1500.
      assert.deepEqual(ids(await store.claimDue(t0 + 1099, 10, lease)), []);
      const again = await store.claimDue(t0 + 1100, 10, lease);
      assert.deepEqual(again.map((c) => [c.id, c.attempt]), [['1:1', 2]]);
      assert.equal(again[0]!.version, first[0]!.version, 'the same version is claimed again');
      assert.deepEqual(ids(await store.claimDue(t0 + 1500, 10, lease)), ['2:1']);
    });

    it('release makes a claim pending again at once', async (store) => {
      await store.schedule([timer('1:1', 0)]);
      const claimed = await store.claimDue(t0, 10);
      assert.equal(await store.release(claimed), 1);
      assert.deepEqual((await store.claimDue(t0, 10)).map((c) => [c.id, c.attempt]), [['1:1', 2]]);
    });

    it('scheduling an existing id replaces it, also when claimed; the old version cannot be completed', async (store) => {
      await store.schedule([timer('1:1', 0, 'old')]);
      const [old] = await store.claimDue(t0, 10);
      await store.schedule([timer('1:1', 5000, 'new')]);
      assert.equal(await store.count(), 1);
      assert.equal(await store.complete([old!]), 0, 'complete of the replaced version does nothing');
      assert.equal(await store.release([old!]), 0);
      assert.deepEqual(await store.claimDue(t0 + 4999, 10), []);
      const [fresh] = await store.claimDue(t0 + 5000, 10);
      assert.deepEqual([fresh?.payload, fresh?.attempt], ['new', 1]);
      assert.ok(fresh!.version > old!.version);
    });

    it('within one batch the last timer of an id wins', async (store) => {
      await store.schedule([timer('1:1', 100, 'first'), timer('1:1', 50, 'second')]);
      assert.equal(await store.count(), 1);
      assert.deepEqual((await store.claimDue(t0 + 100, 10)).map((c) => [c.dueAt - t0, c.payload]), [[50, 'second']]);
    });

    it('in a batch of hundreds, each id repeated across it, the last timer of each id wins', async (store) => {
      const batch = Array.from({ length: 350 }, (_, i) => timer(`${i % 100}:1`, 1000 - i, `pass ${Math.floor(i / 100)}`));
      await store.schedule(batch);
      assert.equal(await store.count(), 100);
      const claimed = await store.claimDue(t0 + 1000, 1000);
      const expected = batch.slice(250).sort((a, b) => a.dueAt - b.dueAt); // ids 50–99 last in pass 2, 0–49 in pass 3
      assert.deepEqual(claimed.map((c) => [c.id, c.dueAt, c.payload]), expected.map((t) => [t.id, t.dueAt, t.payload]));
    });

    it('a cancelled timer is never claimed, pending or claimed; unknown ids are fine', async (store) => {
      await store.schedule([timer('1:1', 0), timer('2:1', 0), timer('3:1', 0)]);
      const [claimed] = await store.claimDue(t0, 1, lease);
      assert.equal(claimed?.id, '1:1');
      assert.equal(await store.cancel(['1:1', '2:1', 'nope']), 2);
      assert.equal(await store.cancel([]), 0);
      assert.equal(await store.complete([claimed!]), 0, 'completing a cancelled claim is a no-op');
      assert.deepEqual(ids(await store.claimDue(t0 + 60_000, 10, lease)), ['3:1'], 'not even after the lease expires');
      assert.equal(await store.count(), 1);
    });

    it('a cancel counts each timer once; a cancelled id scheduled again is a new timer', async (store) => {
      await store.schedule([timer('1:1', 0), timer('2:1', 100), timer('3:1', 200)]);
      assert.equal(await store.cancel(['2:1', '2:1']), 1, 'the same id twice in a batch');
      assert.equal(await store.cancel(['2:1']), 0, 'and again later');
      assert.equal(await store.count(), 2);
      assert.equal(await store.nextDueAt(), t0);
      assert.equal(await store.cancel(['1:1']), 1);
      assert.equal(await store.nextDueAt(), t0 + 200, 'the cancelled timers are not next');
      await store.schedule([timer('2:1', 50, 'again')]);
      assert.equal(await store.count(), 2);
      assert.equal(await store.nextDueAt(), t0 + 50);
      const claimed = await store.claimDue(t0 + 1000, 10, lease);
      assert.deepEqual(claimed.map((c) => [c.id, c.payload, c.attempt]), [['2:1', 'again', 1], ['3:1', '{"step":"3:1"}', 1]]);
      assert.equal(await store.cancel(['1:1', '2:1']), 1, 'only the claimed one exists still');
      assert.equal(await store.complete(claimed), 1);
      assert.equal(await store.count(), 0);
      assert.equal(await store.nextDueAt(), null);
    });

    it('a claim cancelled before it fires can be neither completed nor released; its lease end is not next', async (store) => {
      await store.schedule([timer('1:1', 0), timer('2:1', 5000)]);
      const claimed = await store.claimDue(t0, 1, lease);
      assert.equal(await store.cancel(['1:1']), 1);
      assert.equal(await store.nextDueAt(), t0 + 5000, 'not the cancelled lease end (t0+1000)');
      assert.equal(await store.release(claimed), 0);
      assert.equal(await store.complete(claimed), 0);
      assert.deepEqual(ids(await store.claimDue(t0 + 10_000, 10, lease)), ['2:1']);
      assert.equal(await store.count(), 1);
    });

    it('a batch with one bad timer applies nothing and names the field', async (store) => {
      await store.schedule([timer('keep:1', 0, 'kept')]);
      const bad = { ...timer('x:1', 0), dueAt: Number.NaN };
      await assert.rejects(store.schedule([timer('keep:1', 10, 'replaced'), timer('new:1', 0), bad]), /timers\[2\]\.dueAt/);
      assert.equal(await store.count(), 1);
      assert.deepEqual((await store.claimDue(t0 + 10, 10)).map((c) => c.payload), ['kept']);
    });

    it('nextDueAt is the earliest pending due time or lease end, null when empty; count counts all', async (store) => {
      assert.equal(await store.nextDueAt(), null);
      assert.equal(await store.count(), 0);
      await store.schedule([timer('1:1', 500), timer('2:1', 200), timer('3:1', 900)]);
      assert.equal(await store.nextDueAt(), t0 + 200);
      await store.claimDue(t0 + 200, 1, lease);
      assert.equal(await store.nextDueAt(), t0 + 500, 'a claimed timer counts from its lease end (t0+1200)');
      await store.cancel(['1:1', '3:1']);
      assert.equal(await store.nextDueAt(), t0 + 1200);
      assert.equal(await store.count(), 1);
    });

    it('many timers: batches of thousands claimed in order in pages, each exactly once', async (store) => {
      const all = Array.from({ length: 5000 }, (_, i) => timer(`${i}:1`, (i * 7919) % 5000));
      await store.schedule(all);
      const seen: ClaimedTimer[] = [];
      for (let page = await store.claimDue(t0 + 5000, 700); page.length > 0; page = await store.claimDue(t0 + 5000, 700)) seen.push(...page);
      assert.equal(seen.length, 5000);
      assert.equal(new Set(ids(seen)).size, 5000);
      assert.ok(seen.every((c, i) => i === 0 || seen[i - 1]!.dueAt <= c.dueAt), 'oldest first across pages');
      assert.equal(await store.complete(seen), 5000);
      assert.equal(await store.count(), 0);
    });

    durable('a reopen keeps pending, claimed and cancelled timers as they were', async ({ store, reopen }) => {
      await store.schedule([timer('1:1', 0), timer('2:1', 100, 'two'), timer('3:1', 200), timer('4:1', 300)]);
      const [claimed] = await store.claimDue(t0, 1, lease);
      await store.cancel(['3:1']);
      const next = await reopen();
      assert.equal(await next.count(), 3);
      assert.equal(await next.nextDueAt(), t0 + 100);
      assert.deepEqual((await next.claimDue(t0 + 999, 10, lease)).map((c) => [c.id, c.payload, c.attempt]), [['2:1', 'two', 1], ['4:1', '{"step":"4:1"}', 1]]);
      const again = await next.claimDue(t0 + 1000, 10, lease);
      assert.deepEqual(again.map((c) => [c.id, c.attempt, c.version]), [['1:1', 2, claimed!.version]], 'the expired claim comes back once');
      await next.schedule([timer('1:1', 5000)]);
      assert.equal(await next.complete([claimed!]), 0, 'versions are not reused across a reopen');
    });
  });
}
