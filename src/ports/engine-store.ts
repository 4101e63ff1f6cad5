/**
 * What the trigger engine persists: each user's trigger state, the outbox of messages to send,
 * the counters trigger reports are made of, the trigger versions runs are on, the log position
 * the engine has applied, and (through `timers`) the durable timers.
 *
 * Glossary
 * - state: a user's `TriggerState` (core/triggers/state.ts), opaque JSON to the store.
 * - outbox entry: a message the engine decided to send, keyed by `message.key` (user, run, step).
 *   pending -> (claimed by a dispatcher for a lease) -> delivered | failed | suppressed, or pending
 *   again (retry, deferred); a claim that is not settled before its lease ends is pending again
 *   (the dispatcher died).
 * - record counters: per (trigger, record kind, step, channel, variant) the number of records.
 * - waiting gauge: the counter of kind `waiting` per (trigger, step) (`waitingCounter`): how many
 *   runs wait at the step now. The engine commits its changes (+1, −1: counts may be negative) with
 *   the states that cause them, so it always equals the runs the stored states have waiting there.
 * - position: the event-log position up to which the engine has applied events.
 *
 * Guarantees
 * - `commit` applies a whole `EngineCommit` atomically and durably before it resolves: states,
 *   outbox entries, counters, timer schedules, cancels and completions, and the position. If it
 *   rejects, none of it was applied. This is what makes a send happen at most once: the state that
 *   says "sent" and the outbox entry are written together, and an entry whose key already exists is
 *   not added again.
 * - `timers` is a `TimerStore` over the same storage; timers written by `commit` are claimable
 *   through it. Completing a timer version in a commit deletes it as `timers.complete` would.
 * - Reads see every commit that resolved before the read began.
 * - Counters add what a commit gives, negative counts included (a gauge going down), and are
 *   kept when they reach 0.
 * - `exportUser` and `eraseUser` cover states and outbox entries of the profile (counters hold
 *   no personal data). `eraseUser` applies `erasureCounters` in the same transaction: the erased
 *   runs count as exited (`erased`) and leave the waiting gauge, so both stay equal to the states.
 */
import { RecordKind, waitingChanges, type OutboundMessage, type TriggerState } from '../core/triggers/state.js';
import type { FailureReason } from './channel.js';
import type { Page, PageRequest } from './pagination.js';
import type { Timer, TimerStore, TimerVersion } from './timer-store.js';

export interface UserRef {
  workspaceId: string;
  profileId: string;
}

export interface StateWrite extends UserRef {
  /** null deletes the state. */
  state: TriggerState | null;
}

/** Which counter a record adds one to (or the waiting gauge moves). Empty strings where a field does not apply. */
export interface CounterKey {
  workspaceId: string;
  triggerId: string;
  kind: RecordKind | 'sent' | 'waiting';
  stepId: string;
  channel: string;
  variant: string;
}

/** The waiting gauge of a step: runs waiting there now, over every version of the trigger. */
export const waitingCounter = (workspaceId: string, triggerId: string, stepId: string): CounterKey => ({ workspaceId, triggerId, kind: 'waiting', stepId, channel: '', variant: '' });

/**
 * What erasing a user's state adds to the counters: each of its runs leaves as `exited` with the
 * reason `erased` (so entered − completed − exited stays the runs in flight), and its waiting runs
 * leave the waiting gauge. Both stores apply it in the transaction that deletes the state.
 */
export function erasureCounters(workspaceId: string, state: TriggerState): { key: CounterKey; count: number }[] {
  const exited = new Map<string, number>();
  for (const run of Object.values(state.runs)) exited.set(run.triggerId, (exited.get(run.triggerId) ?? 0) + 1);
  return [
    ...[...exited].map(([triggerId, count]) => ({ key: { workspaceId, triggerId, kind: RecordKind.exited, stepId: '', channel: '', variant: 'erased' }, count })),
    ...waitingChanges([state], null).map((w) => ({ key: waitingCounter(workspaceId, w.triggerId, w.stepId), count: w.delta })),
  ];
}

export interface EngineCommit {
  states: readonly StateWrite[];
  /**
   * New outbox entries; one whose key is already in the outbox is ignored. With `claimedUntil`
   * the entry is added already claimed until then: the committing process delivers it at once,
   * without a separate claim.
   */
  sends: readonly { workspaceId: string; message: OutboundMessage; claimedUntil?: number }[];
  /** Added to the counters (a negative count subtracts: the waiting gauge going down). */
  counters: readonly { key: CounterKey; count: number }[];
  schedule: readonly Timer[];
  cancel: readonly string[];
  /** Fired timer versions whose effect this commit records. */
  completeTimers: readonly TimerVersion[];
  /** Set when events were applied: the log position of the newest one. */
  position?: number;
  /** Profiles merged into others by this commit's inputs, remembered for their delivery reports. */
  merges?: readonly MergeRecord[];
}

/**
 * A profile merged into another (a visitor who signed up), at a time: a delivery report for a
 * message sent to it before goes where its state went. Remembered for `mergeMemoryMs` after `at`,
 * longer than an unopened watch waits for its report (a week); a commit forgets the older ones.
 */
export interface MergeRecord {
  from: UserRef;
  to: UserRef;
  at: number;
}

export const mergeMemoryMs = 8 * 24 * 3_600_000;

export const OutboxStatus = {
  pending: 'pending',
  delivered: 'delivered',
  failed: 'failed',
  /** Not sent, by the delivery policy: no consent, a frequency cap, quiet hours with `drop`. */
  suppressed: 'suppressed',
} as const;
export type OutboxStatus = (typeof OutboxStatus)[keyof typeof OutboxStatus];

export interface OutboxEntry {
  workspaceId: string;
  message: OutboundMessage;
  status: OutboxStatus;
  /** Delivery attempts made so far. */
  attempts: number;
  /** pending: not before this time (ms); the start of the next attempt. */
  notBefore: number;
  createdAt: number;
  updatedAt: number;
  /** The channel that delivered it (may be a fallback), once delivered. */
  deliveredVia: string | null;
  /** Why the last attempt failed. */
  lastError: string | null;
}

export interface OutboxQuery extends PageRequest {
  status?: OutboxStatus;
  profileId?: string;
  triggerId?: string;
}

export interface DeliveryResult {
  key: string;
  /**
   * delivered, failed, suppressed: final. retry: pending again from `notBefore`, an attempt made.
   * deferred: pending again from `notBefore` without an attempt (quiet hours).
   */
  status: 'delivered' | 'failed' | 'suppressed' | 'retry' | 'deferred';
  /** delivered: the channel used. */
  via?: string;
  /** failed, retry: what went wrong; suppressed, deferred: why. */
  error?: string;
  /** retry, deferred: when to try again. */
  notBefore?: number;
  /** failed: how the channel failed, when it said (not stored: for the outcome's event). */
  reason?: FailureReason;
  /** delivered: the provider's id for the message, when it gave one (not stored). */
  providerId?: string;
}

export interface TriggerVersionRecord {
  triggerId: string;
  version: string;
  /** The trigger definition as JSON text. */
  definition: string;
  firstSeenAt: number;
}

export interface EngineStore {
  readonly timers: TimerStore;
  /** States of these profiles (missing ones are absent from the map), keyed by `workspaceId/profileId`. */
  loadStates(users: readonly UserRef[]): Promise<Map<string, TriggerState>>;
  /** Applies the commit; returns the keys of the outbox entries it added (not those already there). */
  commit(changes: EngineCommit): Promise<{ addedSends: string[] }>;
  /** The last committed `EngineCommit.position` (0 if none). */
  position(): Promise<number>;
  /** Where each of these profiles was merged (one step; absent when not merged, or forgotten), keyed by `userRefKey`. */
  mergedInto(users: readonly UserRef[]): Promise<Map<string, UserRef>>;

  /** Claims up to `limit` pending entries with `notBefore <= now`, oldest first, for `leaseMs`. */
  claimOutbox(now: number, limit: number, leaseMs: number): Promise<OutboxEntry[]>;
  /** Records what delivery attempts did; `attempts` grows by one for each. */
  settleOutbox(results: readonly DeliveryResult[], now: number): Promise<void>;
  /** Outbox entries of a workspace, newest first. */
  listOutbox(workspaceId: string, query: OutboxQuery): Promise<Page<OutboxEntry>>;
  /** The earliest `notBefore` of a pending entry (or lease end of a claimed one); null if none. */
  nextOutboxAt(): Promise<number | null>;

  /** All counters of a workspace (optionally one trigger). */
  counters(workspaceId: string, triggerId?: string): Promise<{ key: CounterKey; count: number }[]>;

  /** Remembers trigger versions (idempotent by trigger id and version). */
  saveVersions(versions: readonly TriggerVersionRecord[]): Promise<void>;
  /** Every version remembered. */
  versions(): Promise<TriggerVersionRecord[]>;

  /**
   * Makes every claim, of timers and of outbox entries, pending again at once. Called at start by
   * a process that is the store's only user (`sharedWriters` false): whoever held them is gone, so
   * their steps and messages need not wait for the leases to run out.
   */
  releaseAllClaims(): Promise<{ timers: number; outbox: number }>;

  exportUser(user: UserRef): Promise<{ state: TriggerState | null; outbox: OutboxEntry[] }>;
  /**
   * Removes the state and outbox entries of the profile and cancels its timers, and takes the
   * state's waiting runs off the waiting gauge, in one transaction; counts what was removed. The
   * merges it is part of, either side, go too.
   */
  eraseUser(user: UserRef): Promise<{ states: number; outbox: number; timers: number }>;
  close(): Promise<void>;
}

export const userRefKey = (u: UserRef): string => `${u.workspaceId}/${u.profileId}`;

/** Timers carry the user in `partitionKey` as `workspaceId/profileId` (workspace ids have no slash). */
export function userOfPartitionKey(partitionKey: string): UserRef {
  const slash = partitionKey.indexOf('/');
  return { workspaceId: partitionKey.slice(0, slash), profileId: partitionKey.slice(slash + 1) };
}
