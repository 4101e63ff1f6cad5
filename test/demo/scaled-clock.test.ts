/**
 * The demo's time scale: a ScaledClock runs N times faster than its base from the moment it is
 * made, and RealTimeWakeup sleeps the real time a wait takes on it (180 s ahead at 60× is 3 s).
 * Real timers are node:test's mock timers, so nothing sleeps.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ScaledClock, SimulatedClock } from '../../src/ports/clock.js';
import { RealTimeWakeup } from '../../src/ports/wakeup.js';

const t0 = Date.UTC(2026, 2, 2, 9, 0, 0);

test('starts at the base time and runs rate times as fast, in whole milliseconds, never backwards while the base does not', () => {
  const base = new SimulatedClock(t0);
  const clock = new ScaledClock(60, base);
  assert.equal(clock.now(), t0);
  base.advance(1000);
  assert.equal(clock.now(), t0 + 60_000, 'a real second is a minute');
  base.advance(3000);
  assert.equal(clock.now(), t0 + 240_000);

  const slowBase = new SimulatedClock(t0);
  const slow = new ScaledClock(1.5, slowBase);
  const seen: number[] = [];
  for (let i = 0; i < 7; i++, slowBase.advance(1)) seen.push(slow.now() - t0);
  assert.deepEqual(seen, [0, 1, 3, 4, 6, 7, 9], 'floored to whole milliseconds');
  assert.equal(slow.rate, 1.5, 'the rate RealTimeWakeup divides by');
});

test('a time scale is a positive, finite number', () => {
  for (const rate of [0, -60, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => new ScaledClock(rate), /a time scale is a positive number/);
  }
});

test('RealTimeWakeup sleeps the real time a wait of the scaled clock takes: 180 s ahead at 60× is 3 s', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: t0 });
  const clock = new ScaledClock(60);
  const wakeup = new RealTimeWakeup(clock);
  let wokenAt: number | null = null;
  wakeup.set(clock.now() + 180_000, () => (wokenAt = clock.now()));
  t.mock.timers.tick(2999);
  assert.equal(wokenAt, null, 'not at 2.999 s');
  t.mock.timers.tick(1);
  assert.equal(wokenAt, t0 + 180_000, 'at 3 s, when the scaled clock reaches the due time');
});

test('a wait that ends between two real milliseconds wakes on the later one, never early', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: t0 });
  const clock = new ScaledClock(60);
  const wakeup = new RealTimeWakeup(clock);
  let woken = 0;
  wakeup.set(clock.now() + 61, () => woken++);
  t.mock.timers.tick(1);
  assert.equal(woken, 0);
  t.mock.timers.tick(1);
  assert.equal(woken, 1);
});

test('on a clock without a rate, RealTimeWakeup sleeps the wait itself', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: t0 });
  const clock = { now: () => Date.now() };
  const wakeup = new RealTimeWakeup(clock);
  let woken = false;
  wakeup.set(t0 + 180_000, () => (woken = true));
  t.mock.timers.tick(179_999);
  assert.equal(woken, false);
  t.mock.timers.tick(1);
  assert.equal(woken, true);
});
