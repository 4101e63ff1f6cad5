/**
 * Fires durable timers at their time. The store holds every timer; the scheduler claims only the
 * near horizon (timers due within `lookaheadMs`, at most about `capacity` of them) into memory,
 * sleeps until the earliest one through the `Wakeup` port, and hands each due timer to `onFire`
 * in due order, with its lateness. Millions of pending timers stay on disk.
 *
 * States of a timer as the scheduler sees it:
 *   in store (pending) --refill: claimDue--> in memory (claimed) --due: onFire--> fired
 *   fired --onFire resolved, complete--> gone   in memory --cancel / reschedule--> dropped, never fired
 *   onFire threw --> left claimed: the store returns it again when its lease expires (a retry)
 *
 * Firing does not wait for earlier fires: a timer due while `onFire` of others is still at work
 * (a webhook's round trip, an engine's commit) is handed over at its time, and fired timers are
 * completed in groups as their `onFire` resolves. At most about `capacity` fires are at work at once.
 *
 * Cancel and reschedule go through the scheduler, so that a timer cancelled at any moment before
 * `onFire` is called for it never fires (see the TimerStore guarantees). At start, timers that
 * became due while no process ran fire at once, oldest first; those a dead process had claimed
 * fire when their lease expires. `onFire` must record its effect idempotently by (id, version).
 */
import type { Clock } from '../ports/clock.js';
import { defaultLeaseMs, type ClaimedTimer, type Timer, type TimerStore } from '../ports/timer-store.js';
import type { Wakeup } from '../ports/wakeup.js';
import { TimerHeap } from './timer-heap.js';

const retryAfterErrorMs = 1000;

export interface TimerFiring {
  timer: ClaimedTimer;
  /** Clock time at which it fired. */
  firedAt: number;
  /** firedAt − dueAt (≥ 0). */
  latenessMs: number;
}

export interface TimerSchedulerOptions {
  store: TimerStore;
  clock: Clock;
  wakeup: Wakeup;
  /** Called for each due timer, in due order; the timer is completed when it resolves. */
  onFire: (firing: TimerFiring) => void | Promise<void>;
  /** Called when `onFire` or the store fails; the timer is retried after its lease. Default: none. */
  onError?: (error: unknown, timer?: ClaimedTimer) => void;
  /**
   * How far ahead timers are claimed into memory. Default 1,000 ms: a claim is one blocking
   * transaction, so small, frequent ones keep firing on time (p99 lateness 34 ms with 5 s and
   * 10,000 timers per claim, 10 ms with 1 s and 2,000, at 5,000 timers/s).
   */
  lookaheadMs?: number;
  /** About how many timers are held in memory at most. Default 2,000. */
  capacity?: number;
  /** Lease of a claim (past its due time); a crashed process's claims fire again after it. Default 30,000 ms. */
  leaseMs?: number;
}

export interface TimerSchedulerStats {
  fired: number;
  maxLatenessMs: number;
  /** Timers held in memory now. */
  inMemory: number;
}

export class TimerScheduler {
  private readonly store: TimerStore;
  private readonly clock: Clock;
  private readonly lookaheadMs: number;
  private readonly capacity: number;
  private readonly leaseMs: number;
  private readonly heap = new TimerHeap();
  /** The claimed timers in memory, by id: the heap may still hold dropped ones, this may not. */
  private readonly live = new Map<string, ClaimedTimer>();
  /** Newly scheduled timers inside the loaded horizon, which the next refill must fetch. */
  private dirty = 0;
  /** Every pending timer due at or before this is in memory (or counted in `dirty`). */
  private horizonEnd = Number.NEGATIVE_INFINITY;
  /** When to claim more from the store. */
  private refillAt = Number.NEGATIVE_INFINITY;
  /** Ids cancelled or rescheduled while a refill was in flight, with the refill count they happened in. */
  private readonly touched = new Map<string, number>();
  private refills = 0;
  private refilling = false;
  /** Fired timers whose `onFire` has not resolved yet: id -> version. */
  private readonly atWork = new Map<string, number>();
  /** Fired timers whose `onFire` resolved, to complete in the store. */
  private completable: ClaimedTimer[] = [];
  private completing: Promise<void> | null = null;
  /** Resolves when the fires at work drop below `capacity`; set while they are at it. */
  private roomAgain: { promise: Promise<void>; resolve: () => void } | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = true;
  private readonly stats_ = { fired: 0, maxLatenessMs: 0 };

  constructor(private readonly options: TimerSchedulerOptions) {
    this.store = options.store;
    this.clock = options.clock;
    this.lookaheadMs = options.lookaheadMs ?? 1000;
    this.capacity = options.capacity ?? 2000;
    this.leaseMs = options.leaseMs ?? defaultLeaseMs;
  }

  /** Starts firing: first whatever is already due (timers that came due while nothing ran). */
  start(): Promise<void> {
    this.stopped = false;
    return this.kick();
  }

  /** Schedules (or replaces) timers durably; resolves when they are stored. */
  async schedule(timers: readonly Timer[]): Promise<void> {
    for (const t of timers) this.drop(t.id);
    await this.store.schedule(timers);
    this.scheduled(timers);
  }

  /** Cancels timers; none of them fires after this is called. Returns how many existed. */
  async cancel(ids: readonly string[]): Promise<number> {
    for (const id of ids) this.drop(id);
    return this.store.cancel(ids);
  }

  /**
   * Tells the scheduler about timers another writer (the engine's commit) stored in its store, so
   * that they fire at their time. Timers replaced by these are dropped from memory.
   */
  scheduled(timers: readonly Timer[]): void {
    for (const t of timers) {
      this.drop(t.id);
      if (t.dueAt <= this.horizonEnd) this.dirty++;
      else this.refillAt = Math.min(this.refillAt, t.dueAt - this.lookaheadMs);
    }
    if (!this.stopped && timers.length > 0) void this.kick();
  }

  /**
   * Tells the scheduler that timers were cancelled in its store by another writer. A fire already
   * handed to `onFire` cannot be taken back: the receiver must ignore fires it no longer expects
   * (the trigger engine does, by run and step).
   */
  cancelled(ids: readonly string[]): void {
    for (const id of ids) this.drop(id);
  }

  stats(): TimerSchedulerStats {
    return { ...this.stats_, inMemory: this.live.size };
  }

  /** Resolves when the scheduler has nothing to do until its next wake-up: every fire handed over is settled. */
  async idle(): Promise<void> {
    while (this.running || this.atWork.size > 0 || this.completing) {
      if (this.running) await this.running;
      else if (this.completing) await this.completing;
      else await new Promise((r) => setImmediate(r));
    }
  }

  /** Stops firing and hands the claims held in memory back to the store, for the next process. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.options.wakeup.clear();
    await this.idle();
    const held = [...this.live.values()];
    this.live.clear();
    this.heap.clear();
    this.horizonEnd = this.refillAt = Number.NEGATIVE_INFINITY;
    await this.store.release(held);
  }

  private drop(id: string): void {
    this.live.delete(id);
    if (this.refilling) this.touched.set(id, this.refills);
  }

  private kick(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.tick();
        } catch (error) {
          // The store failed: try again a little later rather than at once, in a loop.
          this.refillAt = this.clock.now() + retryAfterErrorMs;
          this.options.onError?.(error);
        }
      } while (this.again && !this.stopped);
      this.running = null;
      this.arm();
    })();
    return this.running;
  }

  private async tick(): Promise<void> {
    while (!this.stopped) {
      const now = this.clock.now();
      if (this.dirty > 0 || now >= this.refillAt) await this.refill(now);
      // The clock is read again: it may have moved (even backwards) while the store answered.
      const due = this.heap.popDue(this.clock.now());
      if (due.length === 0) return;
      await this.fire(due);
    }
  }

  private async refill(now: number): Promise<void> {
    const want = Math.max(this.capacity - this.live.size, this.dirty, 1);
    this.dirty = 0;
    this.refilling = true;
    const refill = ++this.refills;
    let claimed: ClaimedTimer[];
    try {
      claimed = await this.store.claimDue(now, want, { lookaheadMs: this.lookaheadMs, leaseMs: this.leaseMs });
    } finally {
      this.refilling = false;
    }
    for (const c of claimed) {
      if ((this.touched.get(c.id) ?? -1) >= refill) continue; // cancelled or replaced meanwhile
      if (this.live.get(c.id)?.version === c.version) continue; // our own claim, expired while held
      if (this.atWork.get(c.id) === c.version) continue; // fired, its onFire still at work past the lease
      this.live.set(c.id, c);
      this.heap.push(c);
    }
    this.touched.clear();
    if (this.heap.size > 2 * this.live.size + 1024) this.heap.rebuild(this.live.values());
    const last = claimed[claimed.length - 1];
    if (claimed.length === want && last) {
      // More is due within the lookahead than was claimed: claim again when half of it has fired.
      this.horizonEnd = last.dueAt - 1;
      this.refillAt = claimed[claimed.length >> 1]!.dueAt;
    } else {
      this.horizonEnd = now + this.lookaheadMs;
      const next = await this.store.nextDueAt();
      // `next` may be the lease end of a claim held here; refilling at most every half lookahead keeps that from spinning.
      this.refillAt = next === null ? Number.POSITIVE_INFINITY : Math.max(next - this.lookaheadMs, now + Math.max(1, this.lookaheadMs >> 1));
    }
  }

  /**
   * Hands every due timer to `onFire` in due order without waiting for one before the next, so a
   * receiver may record a whole batch of fires in one transaction. Each is completed once its
   * `onFire` resolves (`settle`); only when `capacity` fires are at work does firing wait for room.
   */
  private async fire(due: readonly ClaimedTimer[]): Promise<void> {
    for (const [i, timer] of due.entries()) {
      if (this.live.get(timer.id) !== timer) continue; // cancelled or replaced before its time
      const firedAt = this.clock.now();
      if (firedAt < timer.dueAt) {
        // The clock went backwards: the rest wait for their time.
        for (const later of due.slice(i)) this.heap.push(later);
        break;
      }
      this.live.delete(timer.id);
      const latenessMs = Math.max(0, firedAt - timer.dueAt);
      let result: Promise<void>;
      try {
        result = Promise.resolve(this.options.onFire({ timer, firedAt, latenessMs }));
      } catch (error) {
        result = Promise.reject(error);
      }
      this.atWork.set(timer.id, timer.version);
      void this.settle(timer, latenessMs, result);
    }
    if (this.atWork.size >= this.capacity) {
      if (!this.roomAgain) {
        let resolve!: () => void;
        const promise = new Promise<void>((r) => (resolve = r));
        this.roomAgain = { promise, resolve };
      }
      await this.roomAgain.promise;
    }
  }

  private async settle(timer: ClaimedTimer, latenessMs: number, result: Promise<void>): Promise<void> {
    try {
      await result;
      this.completable.push(timer);
      this.stats_.fired++;
      this.stats_.maxLatenessMs = Math.max(this.stats_.maxLatenessMs, latenessMs);
      this.completing ??= this.completeAll();
    } catch (error) {
      this.options.onError?.(error, timer);
    } finally {
      if (this.atWork.get(timer.id) === timer.version) this.atWork.delete(timer.id);
      if (this.roomAgain && this.atWork.size < this.capacity) {
        this.roomAgain.resolve();
        this.roomAgain = null;
      }
    }
  }

  /** Completes the settled fires, in groups: those that settle during one `complete` go in the next. */
  private async completeAll(): Promise<void> {
    // Let the fires that settle in this turn join the first group.
    await new Promise((r) => setImmediate(r));
    try {
      while (this.completable.length > 0) {
        const group = this.completable;
        this.completable = [];
        try {
          await this.store.complete(group);
        } catch (error) {
          // Left claimed: they fire again when their lease expires (the effect is recorded idempotently).
          this.options.onError?.(error);
        }
      }
    } finally {
      this.completing = null;
    }
  }

  private arm(): void {
    if (this.stopped) return;
    const at = Math.min(this.heap.peekDueAt() ?? Number.POSITIVE_INFINITY, this.refillAt, this.dirty > 0 ? this.clock.now() : Number.POSITIVE_INFINITY);
    if (at === Number.POSITIVE_INFINITY) this.options.wakeup.clear();
    else this.options.wakeup.set(at, () => void this.kick());
  }
}
