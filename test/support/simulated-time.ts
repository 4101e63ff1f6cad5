/**
 * Drives a running Nudge on a simulated clock: the timer scheduler and the dispatcher sleep on
 * manual wake-ups, and time moves only when a test moves it, stopping at every wake-up asked
 * for on the way, so a step fires at its exact due time and nothing sleeps for real.
 */
import assert from 'node:assert/strict';
import type { Nudge } from '../../src/main.js';
import { SimulatedClock } from '../../src/ports/clock.js';
import { ManualWakeup } from '../../src/ports/wakeup.js';

export interface SimulatedTime {
  clock: SimulatedClock;
  wakeups: { timers: ManualWakeup; outbox: ManualWakeup };
  /** Lets everything queued or due now run to the end. */
  settle(): Promise<void>;
  /** Moves the clock to `t`, stopping at every wake-up on the way, and settles. */
  advanceTo(t: number): Promise<void>;
}

/** Create before the server (pass `clock` and `wakeups` to it), then `attach` the running server. */
export function simulatedTime(clock = new SimulatedClock(0)): SimulatedTime & { attach(nudge: Nudge): void } {
  const wakeups = { timers: new ManualWakeup(clock), outbox: new ManualWakeup(clock) };
  let nudge: Nudge | null = null;
  const settle = async (): Promise<void> => {
    assert.ok(nudge, 'attach the server first');
    for (let i = 0; i < 1000; i++) {
      await nudge.engine.idle();
      await nudge.scheduler.idle();
      await nudge.dispatcher.idle();
      await nudge.messageEvents.flush();
      await nudge.engine.idle();
      const poked = wakeups.timers.poke() || wakeups.outbox.poke();
      if (!poked && nudge.engine.stats().queued === 0) return;
    }
    assert.fail('the engine did not settle');
  };
  return {
    clock,
    wakeups,
    attach: (n) => void (nudge = n),
    settle,
    async advanceTo(t) {
      for (;;) {
        const next = Math.min(wakeups.timers.pendingAt ?? Infinity, wakeups.outbox.pendingAt ?? Infinity);
        if (next > t) break;
        clock.set(Math.max(clock.now(), next));
        await settle();
      }
      clock.set(t);
      await settle();
    },
  };
}
