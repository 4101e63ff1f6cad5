/** Time as a port, so the same code runs on the wall clock, in tests and in backtests. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /**
   * How many of this clock's milliseconds pass in one real millisecond, for whoever sleeps on
   * real timers until a time of this clock (`RealTimeWakeup`). Default 1.
   */
  readonly rate?: number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told to. */
export class SimulatedClock implements Clock {
  constructor(private current = 0) {}
  now(): number {
    return this.current;
  }
  set(ms: number): void {
    this.current = ms;
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

/**
 * A clock that runs `rate` times as fast as `base` (the wall clock by default) from the moment
 * it is made, for demos: at 60 a real second is a minute, so a 3-minute wait is over in 3 s. It
 * starts at the base's time, shows whole milliseconds, and moves forward whenever the base does.
 */
export class ScaledClock implements Clock {
  private readonly startMs: number;

  constructor(
    readonly rate: number,
    private readonly base: Clock = systemClock,
  ) {
    if (!Number.isFinite(rate) || rate <= 0) throw new RangeError(`a time scale is a positive number, not ${rate}`);
    this.startMs = base.now();
  }

  now(): number {
    return this.startMs + Math.floor((this.base.now() - this.startMs) * this.rate);
  }
}
