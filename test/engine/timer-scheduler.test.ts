/**
 * The timer scheduler on a simulated clock: time moves only when a test moves it, stopping at each
 * moment the scheduler asked to be woken, so a timer's fire time is exact and nothing sleeps.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { MemoryTimerStore } from '../../src/backends/memory/memory-timer-store.js';
import { SqliteTimerStore } from '../../src/backends/sqlite/sqlite-timer-store.js';
import { TimerScheduler, type TimerFiring, type TimerSchedulerOptions } from '../../src/engine/timer-scheduler.js';
import { SimulatedClock } from '../../src/ports/clock.js';
import type { Timer, TimerStore } from '../../src/ports/timer-store.js';
import { ManualWakeup } from '../../src/ports/wakeup.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nudge-timer-scheduler-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const t0 = Date.UTC(2026, 10, 29, 10, 0, 0);
const timer = (id: string, dueInMs: number, payload = id): Timer => ({ id, partitionKey: 'u1', dueAt: t0 + dueInMs, payload });
const fireLog = (fired: readonly TimerFiring[]) => fired.map((f) => [f.timer.id, f.firedAt - t0, f.latenessMs]);

function harness(store: TimerStore, options: Partial<TimerSchedulerOptions> = {}, clock = new SimulatedClock(t0)) {
  const wakeup = new ManualWakeup(clock);
  const fired: TimerFiring[] = [];
  const scheduler = new TimerScheduler({
    store, clock, wakeup, lookaheadMs: 1000, capacity: 4, leaseMs: 5000, ...options,
    onFire: (f) => {
      fired.push(f);
      return options.onFire?.(f);
    },
  });
  /** Moves the clock forward to `t0 + ms`, stopping at every wake-up the scheduler asked for. */
  async function runTo(ms: number): Promise<void> {
    for (let steps = 0; ; steps++) {
      assert.ok(steps < 100_000, 'the scheduler keeps asking to be woken at once');
      await scheduler.idle();
      const at = wakeup.pendingAt;
      if (at === null || at > t0 + ms) break;
      if (at > clock.now()) clock.set(at);
      wakeup.poke();
    }
    if (clock.now() < t0 + ms) clock.set(t0 + ms);
    wakeup.poke();
    await scheduler.idle();
  }
  return { clock, wakeup, fired, scheduler, runTo };
}

describe('TimerScheduler', () => {
  test('fires each timer at its due time, in due order, with no lateness', async () => {
    const h = harness(new MemoryTimerStore());
    await h.scheduler.start();
    await h.scheduler.schedule([timer('c', 3000), timer('a', 1000), timer('b2', 2000), timer('b1', 2000), timer('far', 60_000), timer('d', 2500), timer('e', 2600)]);
    await h.runTo(2999);
    assert.deepEqual(fireLog(h.fired), [['a', 1000, 0], ['b1', 2000, 0], ['b2', 2000, 0], ['d', 2500, 0], ['e', 2600, 0]]);
    await h.runTo(120_000);
    assert.deepEqual(fireLog(h.fired).slice(5), [['c', 3000, 0], ['far', 60_000, 0]]);
    assert.equal(await h.scheduler['store'].count(), 0, 'fired timers are completed');
    assert.ok(h.scheduler.stats().inMemory <= 4);
  });

  test('a timer cancelled 1 ms before its due time never fires', async () => {
    const h = harness(new MemoryTimerStore());
    await h.scheduler.start();
    await h.scheduler.schedule([timer('17:3', 1000), timer('18:3', 1000)]);
    await h.runTo(999);
    assert.equal(h.scheduler.stats().inMemory, 2, 'both are claimed into memory by now');
    assert.equal(await h.scheduler.cancel(['17:3']), 1);
    await h.runTo(600_000);
    assert.deepEqual(fireLog(h.fired), [['18:3', 1000, 0]]);
  });

  test('a timer scheduled into the past fires at once', async () => {
    const h = harness(new MemoryTimerStore());
    await h.scheduler.start();
    await h.runTo(5000);
    await h.scheduler.schedule([timer('past', 1000)]);
    await h.scheduler.idle();
    assert.deepEqual(fireLog(h.fired), [['past', 5000, 4000]]);
  });

  test('rescheduling a timer held in memory fires only the new version, at its new time', async () => {
    const h = harness(new MemoryTimerStore());
    await h.scheduler.start();
    await h.scheduler.schedule([timer('x', 1000, 'old')]);
    await h.runTo(500);
    await h.scheduler.schedule([timer('x', 1500, 'new')]);
    await h.runTo(10_000);
    assert.deepEqual(h.fired.map((f) => [f.timer.payload, f.firedAt - t0]), [['new', 1500]]);
  });

  test('timers that came due while nothing ran fire at start, oldest first, with their lateness', async () => {
    const store = new MemoryTimerStore();
    await store.schedule([timer('b', 2000), timer('a', 1000), timer('c', 3000), timer('later', 12_000)]);
    for (let i = 0; i < 10; i++) await store.schedule([timer(`z${i}`, 4000)]); // more than fits in memory at once
    const h = harness(store, {}, new SimulatedClock(t0 + 10_000));
    await h.scheduler.start();
    await h.scheduler.idle();
    assert.deepEqual(fireLog(h.fired).slice(0, 4), [['a', 10_000, 9000], ['b', 10_000, 8000], ['c', 10_000, 7000], ['z0', 10_000, 6000]]);
    assert.equal(h.fired.length, 13);
    await h.runTo(20_000);
    assert.deepEqual(fireLog(h.fired).slice(13), [['later', 12_000, 0]]);
  });

  test('the clock going backwards fires nothing early and loses nothing; a jump past the lease fires each once', async () => {
    const h = harness(new MemoryTimerStore());
    await h.scheduler.start();
    await h.scheduler.schedule([timer('a', 1000), timer('b', 2000), timer('c', 2500), timer('d', 30_000)]);
    await h.runTo(1000);
    h.clock.set(t0 + 200); // backwards, with b and c claimed in memory
    h.wakeup.poke();
    await h.scheduler.schedule([timer('e', 1500)]);
    await h.runTo(1499);
    assert.deepEqual(fireLog(h.fired), [['a', 1000, 0]]);
    await h.runTo(2000);
    assert.deepEqual(fireLog(h.fired), [['a', 1000, 0], ['e', 1500, 0], ['b', 2000, 0]]);
    h.clock.set(t0 + 100_000); // forwards past every lease (5 s): claims held here expired
    h.wakeup.poke();
    await h.runTo(200_000);
    assert.deepEqual(fireLog(h.fired).slice(3), [['c', 100_000, 97_500], ['d', 100_000, 70_000]]);
    assert.ok(h.fired.every((f) => f.firedAt >= f.timer.dueAt));
  });

  test('a slow onFire holds back neither the timers due after it nor their completion; at most `capacity` fires are at work', async () => {
    const store = new MemoryTimerStore();
    const releases = new Map<string, () => void>();
    const h = harness(store, {
      capacity: 3,
      onFire: ({ timer: t }) => (t.id.startsWith('slow') ? new Promise<void>((r) => releases.set(t.id, r)) : undefined),
    });
    const turns = async () => {
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    };
    /** Moves to `t0 + ms` and wakes the scheduler, without waiting for fires at work (`idle` would). */
    const at = async (ms: number) => {
      h.clock.set(t0 + ms);
      h.wakeup.poke();
      await turns();
    };
    await h.scheduler.start();
    await h.scheduler.schedule([timer('slow1', 1000), timer('b', 1500), timer('slow2', 1600), timer('slow3', 1700), timer('c', 2000), timer('d', 2100)]);
    await h.runTo(999);
    for (const ms of [1000, 1500, 1600, 1700]) await at(ms);
    assert.deepEqual(fireLog(h.fired), [['slow1', 1000, 0], ['b', 1500, 0], ['slow2', 1600, 0], ['slow3', 1700, 0]], 'b on time while slow1 is at work');
    assert.equal(await store.count(), 5, 'b is completed; the slow ones are not');
    await at(2000);
    assert.equal(h.fired.length, 4, 'three slow fires are at work, the most allowed: c waits for room');
    releases.get('slow2')!();
    await turns();
    assert.deepEqual(fireLog(h.fired).slice(4), [['c', 2000, 0]], 'c fires once one is done');
    await at(2100);
    assert.deepEqual(fireLog(h.fired).slice(5), [['d', 2100, 0]]);
    releases.get('slow1')!();
    releases.get('slow3')!();
    await h.scheduler.idle();
    assert.equal(await store.count(), 0, 'every fire completed once its onFire resolved');
  });

  test('a restart mid-wait on the same SQLite file fires each timer exactly once, after a clean stop or a crash', async () => {
    const file = path.join(dir, 'restart.db');
    const effects = new Map<string, number>(); // what an engine records, idempotently by (id, version)
    const record = (f: TimerFiring) => void effects.set(`${f.timer.id}@${f.timer.version}`, (effects.get(`${f.timer.id}@${f.timer.version}`) ?? 0) + 1);
    const timers = Array.from({ length: 12 }, (_, i) => timer(`run${i}:1`, 1000 + i * 500));

    const first = new SqliteTimerStore({ path: file });
    const h1 = harness(first, { onFire: record });
    await h1.scheduler.start();
    await h1.scheduler.schedule(timers);
    await h1.runTo(1700); // run0 and run1 fired, run2 claimed in memory: a clean stop releases it
    await h1.scheduler.stop();
    await first.close();

    const second = new SqliteTimerStore({ path: file });
    const h2 = harness(second, { onFire: record }, new SimulatedClock(t0 + 1700));
    await h2.scheduler.start();
    await h2.runTo(3200);
    // Crash: the process dies with claims in memory and one fire recorded but not completed.
    assert.ok(h2.scheduler.stats().inMemory > 0);
    second.complete = async () => { throw new Error('killed before complete'); };
    await h2.runTo(3500);
    const third = new SqliteTimerStore({ path: file });
    const h3 = harness(third, { onFire: record }, new SimulatedClock(t0 + 3500));
    await h3.scheduler.start();
    await h3.runTo(60_000);
    assert.deepEqual(fireLog(h2.fired).slice(0, 3), [['run2:1', 2000, 0], ['run3:1', 2500, 0], ['run4:1', 3000, 0]], 'after a clean stop: on time');
    // After the crash: run5 fired but was not completed, run6 was claimed in memory. Both come back
    // once their lease (5 s past due) expires, as the same version; the rest fire on time.
    assert.deepEqual(h3.fired.filter((f) => f.timer.attempt > 1).map((f) => [f.timer.id, f.latenessMs]), [['run5:1', 5000], ['run6:1', 5000]]);
    assert.ok(h3.fired.filter((f) => f.timer.attempt === 1).every((f) => f.latenessMs === 0));
    // Keyed by (id, version), every timer has its effect recorded; only run5's was offered twice.
    assert.equal(effects.size, timers.length);
    assert.deepEqual([...effects].filter(([, n]) => n > 1).map(([k]) => k.split('@')[0]), ['run5:1']);
    assert.equal(await third.count(), 0);
    await second.close();
    await third.close();
  });
});

describe('TimerScheduler property', () => {
  type Op = { kind: 'schedule'; id: number; dueInMs: number } | { kind: 'cancel'; id: number } | { kind: 'advance'; ms: number } | { kind: 'back'; ms: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('schedule' as const), id: fc.integer({ min: 0, max: 7 }), dueInMs: fc.integer({ min: -500, max: 8000 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('cancel' as const), id: fc.integer({ min: 0, max: 7 }) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 9000 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('back' as const), ms: fc.integer({ min: 1, max: 3000 }) }) },
  );

  test('each timer neither cancelled nor replaced before it fired fires exactly once, at or after its due time; others never', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), fc.integer({ min: 1, max: 5 }), async (ops, capacity) => {
        const current = new Map<string, { token: string; dueAt: number }>();
        const firedTokens: string[] = [];
        const problems: string[] = [];
        const h = harness(new MemoryTimerStore(), {
          capacity,
          onFire: ({ timer: t, firedAt }) => {
            const now = current.get(t.id);
            if (now?.token !== t.payload) problems.push(`${t.payload} fired but was cancelled or replaced`);
            if (firedAt < t.dueAt) problems.push(`${t.payload} fired early`);
            firedTokens.push(t.payload);
            current.delete(t.id);
          },
        });
        await h.scheduler.start();
        let n = 0;
        for (const o of ops) {
          if (o.kind === 'schedule') {
            const t: Timer = { id: `t${o.id}`, partitionKey: 'u', dueAt: h.clock.now() + o.dueInMs, payload: `s${n++}` };
            current.set(t.id, { token: t.payload, dueAt: t.dueAt });
            await h.scheduler.schedule([t]);
          } else if (o.kind === 'cancel') {
            current.delete(`t${o.id}`);
            await h.scheduler.cancel([`t${o.id}`]);
          } else if (o.kind === 'advance') await h.runTo(h.clock.now() - t0 + o.ms);
          else {
            h.clock.advance(-o.ms);
            h.wakeup.poke();
            await h.scheduler.idle();
          }
        }
        const expected = [...current.values()].map((c) => c.token);
        await h.runTo(h.clock.now() - t0 + 100_000);
        assert.deepEqual(problems, []);
        assert.equal(new Set(firedTokens).size, firedTokens.length, 'no timer fired twice');
        for (const token of expected) assert.ok(firedTokens.includes(token), `${token} never fired`);
        assert.equal(await h.scheduler['store'].count(), 0);
      }),
      { numRuns: 300 },
    );
  });
});
