/**
 * "Wake me at T": how a component that sleeps until a time (the timer scheduler) is woken, as a
 * port, so that it sleeps on real timers live and on a simulated clock in tests and backtests.
 */
import type { Clock } from './clock.js';

export interface Wakeup {
  /** Calls `wake` once, when `clock.now() >= atMs` (at once if already so); replaces an earlier request. */
  set(atMs: number, wake: () => void): void;
  /** Drops the pending request, if any. */
  clear(): void;
}

/** Longest single sleep; a longer one is cut into pieces, because setTimeout overflows at 2^31 ms. */
const maxSleepMs = 3_600_000;

/**
 * Sleeps on `setTimeout`, checking the clock again on waking (a timer may fire a little early).
 * A clock with a `rate` (ScaledClock) is slept on in real time: 180 s ahead at rate 60 is 3 s.
 */
export class RealTimeWakeup implements Wakeup {
  private handle: ReturnType<typeof setTimeout> | undefined;
  constructor(private readonly clock: Clock) {}

  set(atMs: number, wake: () => void): void {
    this.clear();
    const realMs = (clockMs: number): number => Math.min(Math.ceil(clockMs / (this.clock.rate ?? 1)), maxSleepMs);
    const check = (): void => {
      const waitMs = atMs - this.clock.now();
      if (waitMs <= 0) (this.handle = undefined), wake();
      else this.handle = setTimeout(check, realMs(waitMs));
    };
    this.handle = setTimeout(check, Math.max(0, realMs(atMs - this.clock.now())));
  }

  clear(): void {
    if (this.handle !== undefined) clearTimeout(this.handle);
    this.handle = undefined;
  }
}

/** For a `SimulatedClock`: remembers the request; `poke()` wakes it if the clock has reached it. */
export class ManualWakeup implements Wakeup {
  private request: { atMs: number; wake: () => void } | undefined;
  constructor(private readonly clock: Clock) {}

  /** When the sleeper wants to be woken, or null. */
  get pendingAt(): number | null {
    return this.request?.atMs ?? null;
  }

  set(atMs: number, wake: () => void): void {
    this.request = { atMs, wake };
  }

  clear(): void {
    this.request = undefined;
  }

  /** Wakes the sleeper if its time has come; returns whether it did. */
  poke(): boolean {
    const request = this.request;
    if (request === undefined || this.clock.now() < request.atMs) return false;
    this.request = undefined;
    request.wake();
    return true;
  }
}
