/**
 * Durable timers: "fire input X for user U at time T".
 *
 * Glossary
 * - timer: `{ id, partitionKey, dueAt, payload }`. The id is chosen by the caller and stable
 *   (e.g. `${runId}:${step}`); the partition key is the user the input is for; `dueAt` is ms since
 *   the epoch; the payload is small opaque text (a few hundred bytes at most) the engine reads back.
 * - version: a number the store gives each `schedule` of an id, never reused for that id. A
 *   rescheduled id is a new timer under the same name; a claim names the version it claimed.
 * - pending: scheduled, not claimed (or its claim expired or was released).
 * - claim: a lease on a due timer, taken by `claimDue`, until `max(dueAt, now) + leaseMs`. Within
 *   the lease no other `claimDue` returns it. `attempt` counts the claims of this version.
 * - fire: the holder of a claim hands the timer to the engine as an input of its user.
 * - complete: after the engine has durably recorded the effect of the fire, `complete` deletes
 *   the claimed version.
 *
 * Guarantees
 * - `schedule`, `cancel`, `complete` and `release` apply a whole batch atomically and durably
 *   (for durable stores) before they resolve; if they reject, nothing was applied.
 * - Scheduling an existing id replaces it, claimed or not: new dueAt, payload and version,
 *   pending, attempt 0. A `complete` or `release` naming the old version does nothing to it.
 * - A cancelled timer is never claimed again, and a `complete` of it is a no-op. Cancel wins over
 *   every claim that has not yet been fired: a holder must drop a claimed timer that is cancelled
 *   before it fires (the scheduler does). Once fired, the fire is an input in the user's order, and
 *   a later cancel is a cancel of a timer that already fired. Cancelling an unknown id is fine.
 * - At least once, then idempotent: a claim that is neither completed nor released (the process
 *   died between claim and complete) is returned again by `claimDue` once its lease has expired,
 *   with `attempt` + 1. The effect of a fire must therefore be recorded idempotently, keyed by
 *   `(id, version)`; with that, every timer that is not cancelled has its effect exactly once.
 * - `claimDue` returns timers oldest first (by `dueAt`, then `id`), never one due after
 *   `now + lookaheadMs`, never one held by an unexpired claim.
 * - Everything but unexpired-claim bookkeeping survives a reopen of a durable store; an expired
 *   claim is pending again.
 */
import { ErrorCode, formatIssues, NudgeError, type Issue } from '../core/errors.js';

export interface Timer {
  /** Stable, caller-chosen; scheduling the same id again replaces the timer. */
  readonly id: string;
  /** The user (or other partition) whose input this timer is. */
  readonly partitionKey: string;
  /** When it is due, in ms since the epoch. */
  readonly dueAt: number;
  /** Small opaque text, returned as given. */
  readonly payload: string;
}

/** Names one scheduled version of a timer, for `complete` and `release`. */
export interface TimerVersion {
  readonly id: string;
  readonly version: number;
}

export interface ClaimedTimer extends Timer, TimerVersion {
  /** 1 for the first claim of this version; more means an earlier claim may already have fired. */
  readonly attempt: number;
}

export interface ClaimOptions {
  /** Also claim timers due up to this long after `now` (a holder keeps the near future in memory). Default 0. */
  lookaheadMs?: number;
  /** How long a claim protects a timer past `max(dueAt, now)`. Default 30,000. */
  leaseMs?: number;
}

export const defaultLeaseMs = 30_000;

export interface TimerStoreCapabilities {
  /** Timers survive a restart of the process. */
  durable: boolean;
}

export interface TimerStore {
  readonly capabilities: TimerStoreCapabilities;
  /** Adds or replaces timers by id, atomically. Within one batch the last timer of an id wins. */
  schedule(timers: readonly Timer[]): Promise<void>;
  /** Deletes timers by id, claimed or not; unknown ids are ignored. Returns how many existed. */
  cancel(ids: readonly string[]): Promise<number>;
  /**
   * Claims up to `limit` timers that are due by `now + lookaheadMs` and pending, or whose claim
   * expired at or before `now`; oldest first.
   */
  claimDue(now: number, limit: number, options?: ClaimOptions): Promise<ClaimedTimer[]>;
  /** Deletes the named versions (after their effect is recorded). Returns how many were deleted. */
  complete(claims: readonly TimerVersion[]): Promise<number>;
  /** Makes the named claimed versions pending again at once (a clean hand-over). Returns how many. */
  release(claims: readonly TimerVersion[]): Promise<number>;
  /**
   * The earliest time at which `claimDue` (without lookahead) has something to return: the least
   * `dueAt` of the pending timers and the least lease end of the claimed ones; null when empty.
   */
  nextDueAt(): Promise<number | null>;
  /** Timers held, pending or claimed. */
  count(): Promise<number>;
  close(): Promise<void>;
}

/** Rejects a batch with a field that no store can hold, naming each bad field. */
export function assertTimers(timers: readonly Timer[]): void {
  const issues: Issue[] = [];
  timers.forEach((t, i) => {
    if (typeof t.id !== 'string' || t.id === '') issues.push({ path: `timers[${i}].id`, message: 'must be a non-empty string' });
    if (typeof t.partitionKey !== 'string') issues.push({ path: `timers[${i}].partitionKey`, message: 'must be a string' });
    if (!Number.isSafeInteger(t.dueAt)) issues.push({ path: `timers[${i}].dueAt`, message: 'must be an integer number of ms' });
    if (typeof t.payload !== 'string') issues.push({ path: `timers[${i}].payload`, message: 'must be a string' });
  });
  if (issues.length > 0) throw new NudgeError(ErrorCode.invalidInput, `invalid timers: ${formatIssues(issues)}`, issues);
}
