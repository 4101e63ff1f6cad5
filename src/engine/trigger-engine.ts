/**
 * The trigger engine's loop: inputs in (committed events, timer fires, delivery outcomes), the pure
 * `transition` of the core over each, and one atomic commit of what it decided.
 *
 *   input -> queue -> flush: load states -> transition, per input, in order -> EngineStore.commit
 *         (states + outbox + counters + timers + log position, one transaction) -> scheduler, dispatcher
 *
 * Inputs are queued and handled in groups, one group at a time: one user's inputs are handled one
 * by one in the order they came, and a group of many users costs one transaction. Because the
 * state that says "sent" and the outbox entry are committed together, and a fired timer's version
 * is completed in the same commit, a crash never loses or repeats a send: the inputs of a commit
 * that did not happen come again (events from the log after the engine's position, timers after
 * their lease).
 *
 * Counters go in the same commit as the states that cause them: records and sends add one each,
 * and the core's `waiting` effects move the waiting gauge of a step (state.ts), so that it always
 * equals the runs the committed states have waiting there (a merge's source state, emptied here,
 * is in its transition's "before").
 *
 * After a crash, events logged but not yet applied are read back from the log at start and
 * applied with the profile as rebuilt by then (not as it was right after each event: a condition
 * on a count may see a higher count for those few events).
 */
import type { ChangeSet } from '../core/ingest-fold.js';
import { withPhaseAt, type PhaseRules } from '../core/phases.js';
import type { NudgeEvent } from '../core/event.js';
import type { Profile } from '../core/profile.js';
import type { Catalog } from '../core/triggers/catalog.js';
import { variantLabel, type OutboundMessage, type TriggerState } from '../core/triggers/state.js';
import { matchName, transition, type EngineInput } from '../core/triggers/transition.js';
import type { Clock } from '../ports/clock.js';
import { OutboxStatus, userOfPartitionKey, userRefKey, waitingCounter, type CounterKey, type EngineCommit, type EngineStore, type MergeRecord, type OutboxEntry, type UserRef } from '../ports/engine-store.js';
import type { EventLog } from '../ports/event-log.js';
import type { Timer, TimerVersion } from '../ports/timer-store.js';
import { profilesByUser, type ProfilesOf } from './profiles-by-user.js';
import type { TimerFiring } from './timer-scheduler.js';

export interface TriggerEngineOptions {
  store: EngineStore;
  clock: Clock;
  catalog: Catalog;
  /** Current profiles by id, for timer inputs (conditions at a later step see the user as they are now). */
  profiles: ProfilesOf;
  /** Behavioral phases: a timer input sees the phase as of its due time (inactivity moves it on). Default none. */
  phases?: PhaseRules | null;
  /** Told about timers the engine committed or cancelled, so they fire (or not) on time. */
  timers?: { scheduled(timers: readonly Timer[]): void; cancelled(ids: readonly string[]): void };
  /** Told after a commit that added outbox entries it did not hand over. */
  onSends?: (count: number) => void;
  /** Takes fresh sends straight from the commit, already claimed (see `Dispatcher.reserve`). */
  handoff?: { reserve(n: number): number; unreserve(n: number): void; readonly leaseMs: number; deliverClaimed(entries: readonly OutboxEntry[]): void };
  onError?: (error: unknown) => void;
  /** Most user states kept in memory. Default 100,000. */
  cacheMaxStates?: number;
  /** Most inputs handled in one commit. Default 5,000. */
  maxGroup?: number;
  /** How long the first input of a group waits for others to join it. Default 1 ms; 0 = none. */
  coalesceMs?: number;
}

/** Merges remembered for routing delivery reports (see `mergedInto`). */
const maxRememberedMerges = 100_000;

interface QueuedInput {
  user: UserRef | null;
  input: PendingInput;
  done: () => void;
  failed: (error: unknown) => void;
}

type PendingInput =
  | { type: 'event'; event: NudgeEvent; user: Profile | null; position: number }
  | { type: 'timer'; timer: TimerVersion; payload: string; dueAt: number }
  | { type: 'merge'; fromProfileId: string }
  | Extract<EngineInput, { type: 'delivery' }>
  /** Only moves the engine's log position (past events no trigger is concerned with). */
  | { type: 'position'; position: number };

export interface TriggerEngineStats {
  inputs: number;
  commits: number;
  sends: number;
  queued: number;
}

const retryAfterErrorMs = 1000;
const replayChunk = 5000;
/** Skipped events between two records of the engine's position. */
const positionEvery = 10_000;

export class TriggerEngine {
  private catalog: Catalog;
  private queue: QueuedInput[] = [];
  private running: Promise<void> | null = null;
  private readonly states = new Map<string, TriggerState | null>();
  /**
   * Recent merges (profile merged away -> the profile it went into), so that a delivery report
   * for a message sent to a visitor who has since signed up reaches the state holding its
   * unopened watch. The latest `maxRememberedMerges` in memory; the store keeps each merge of a
   * profile that had a state for `mergeMemoryMs` (a commit records it), and a report for a
   * profile without a state asks it (after a restart, or a merge long ago).
   */
  private readonly mergedInto = new Map<string, UserRef>();
  private readonly cacheMax: number;
  private readonly maxGroup: number;
  private readonly coalesceMs: number;
  private position = 0;
  /** The newest log position handed to the engine, applied or skipped. */
  private skippedTo = 0;
  private closed = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly stats_ = { inputs: 0, commits: 0, sends: 0 };

  constructor(private readonly options: TriggerEngineOptions) {
    this.catalog = options.catalog;
    this.cacheMax = options.cacheMaxStates ?? 100_000;
    this.maxGroup = options.maxGroup ?? 5000;
    this.coalesceMs = options.coalesceMs ?? 1;
  }

  /**
   * Applies the events the log holds beyond the engine's position (those a crash left unapplied).
   * Call once, after the ingest pipeline has started and before new events arrive.
   */
  async start(log: EventLog): Promise<{ caughtUp: number }> {
    this.position = await this.options.store.position();
    let caughtUp = 0;
    for (;;) {
      const logged = await log.readAfter(this.position, replayChunk);
      if (logged.length === 0) return { caughtUp };
      const profiles = await profilesByUser(
        logged.map(({ event }) => event),
        this.options.profiles,
      );
      await Promise.all(
        logged
          .filter(({ event }) => this.catalog.concerns(matchName(event)))
          .map(({ position, event }) =>
            this.enqueue({ workspaceId: event.workspaceId, profileId: event.profileId }, { type: 'event', event, user: profiles.get(userRefKey(event)) ?? null, position }),
          ),
      );
      await this.enqueue(null, { type: 'position', position: logged[logged.length - 1]!.position });
      caughtUp += logged.length;
    }
  }

  /** The triggers to run from now on; runs in flight stay on their version (keep it in `retained`). */
  setCatalog(catalog: Catalog): void {
    this.catalog = catalog;
  }

  /**
   * Feeds a committed ingest group: merges first (runs move with the profile), then its events in
   * order. Events no trigger is concerned with (by name) cannot change any run and are skipped;
   * their position is still recorded with the next commit.
   */
  applyCommitted(changes: ChangeSet, position: number): Promise<void> {
    const inputs: Promise<void>[] = [];
    for (const m of changes.merges) inputs.push(this.enqueue({ workspaceId: m.workspaceId, profileId: m.to }, { type: 'merge', fromProfileId: m.from }));
    const first = position - changes.events.length + 1;
    changes.events.forEach((event, i) => {
      if (!this.catalog.concerns(matchName(event))) return;
      const user = changes.profileAfter?.[i] ?? null;
      inputs.push(this.enqueue({ workspaceId: event.workspaceId, profileId: event.profileId }, { type: 'event', event, user, position: first + i }));
    });
    this.skippedTo = Math.max(this.skippedTo, position);
    // Record progress through skipped events now and then, so a restart does not read them all again.
    if (inputs.length === 0 && this.skippedTo - this.position >= positionEvery) inputs.push(this.enqueue(null, { type: 'position', position: this.skippedTo }));
    return Promise.all(inputs).then(() => undefined);
  }

  /** A due timer (from the scheduler); resolves when its effect is committed. */
  fire(firing: TimerFiring): Promise<void> {
    const { timer } = firing;
    return this.enqueue(userOfPartitionKey(timer.partitionKey), {
      type: 'timer',
      timer: { id: timer.id, version: timer.version },
      payload: timer.payload,
      dueAt: timer.dueAt,
    });
  }

  /**
   * What became of a message (from the dispatcher): for its profile, or the one that was merged
   * into by the time the report is applied (`loadStates` follows the merges).
   */
  delivered(workspaceId: string, message: OutboundMessage, outcome: string, at: number): Promise<void> {
    return this.enqueue({ workspaceId, profileId: message.profileId }, {
      type: 'delivery',
      triggerId: message.triggerId,
      version: message.version,
      runId: message.runId,
      stepId: message.stepId,
      messageKey: message.key,
      outcome,
      at,
    });
  }

  /** The profile `user`'s state went into by the merges applied so far (itself when none). */
  private followMerges(user: UserRef): UserRef {
    let current = user;
    for (let hops = 0; hops < 8; hops++) {
      const next = this.mergedInto.get(userRefKey(current));
      if (!next) break;
      current = next;
    }
    return current;
  }

  /** A user's trigger state, as committed (for the API). */
  async stateOf(user: UserRef): Promise<TriggerState | null> {
    await this.idle();
    const key = userRefKey(user);
    if (this.states.has(key)) return this.states.get(key) ?? null;
    return (await this.options.store.loadStates([user])).get(key) ?? null;
  }

  /**
   * Erases a user's trigger state, outbox entries and timers (GDPR) between two groups: no group is
   * being committed meanwhile, so none can write the erased state back from the cache, and inputs
   * that come meanwhile wait for it. The user's runs count as exited (`erased`).
   */
  async eraseUser(user: UserRef): Promise<{ states: number; outbox: number; timers: number }> {
    while (this.running) await this.running;
    // From here to `this.running = …` nothing is awaited: no flush can start in between.
    const erasing = this.options.store.eraseUser(user).finally(() => this.states.delete(userRefKey(user)));
    this.running = erasing.then(
      () => undefined,
      () => undefined,
    );
    try {
      return await erasing;
    } finally {
      this.running = null;
      if (this.queue.length > 0) this.kick();
    }
  }

  /** A profile as a timer due at `at` sees it: with its behavioral phase moved on to then. */
  private userAt(profile: Profile | undefined, at: number): Profile | null {
    return profile ? withPhaseAt(profile, this.options.phases ?? null, at) : null;
  }

  stats(): TriggerEngineStats {
    return { ...this.stats_, queued: this.queue.length };
  }

  /** Resolves when every queued input is committed. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async close(): Promise<void> {
    await this.idle();
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  private enqueue(user: UserRef | null, input: PendingInput): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the trigger engine is closed'));
    return new Promise((done, failed) => {
      this.queue.push({ user, input, done, failed });
      this.kick();
    });
  }

  private kick(): void {
    if (this.running || this.retryTimer) return;
    this.running = (async () => {
      // Inputs come a few at a time (timers fire as they come due); a moment's wait lets a group
      // gather, so a busy engine pays one transaction for many inputs instead of one for each.
      if (this.coalesceMs > 0 && this.queue.length < this.maxGroup / 8) await new Promise((r) => setTimeout(r, this.coalesceMs));
      while (this.queue.length > 0 && !this.retryTimer) await this.flush(this.queue.splice(0, this.maxGroup));
      this.running = null;
    })();
  }

  private async flush(group: QueuedInput[]): Promise<void> {
    const touched = new Map<string, UserRef>();
    let reserved = 0;
    // With nothing queued behind this group, every event handed over so far is in it or done:
    // the skipped ones up to `skippedTo` may be recorded as applied with it.
    const covered = this.queue.length === 0 ? this.skippedTo : 0;
    try {
      await this.loadStates(group, touched);
      const profiles = await this.timerProfiles(group);
      const commit = this.decide(group, profiles, touched);
      if (covered > (commit.position ?? 0) && covered > this.position) commit.position = covered;
      const now = this.options.clock.now();
      const handoff = this.options.handoff;
      reserved = handoff?.reserve(commit.sends.length) ?? 0;
      const claimedUntil = now + (handoff?.leaseMs ?? 0);
      const sends = commit.sends.map((s, i) => (i < reserved ? { ...s, claimedUntil } : s));
      const { addedSends } = await this.options.store.commit({ ...commit, sends });
      this.stats_.commits++;
      this.stats_.inputs += group.length;
      this.stats_.sends += commit.sends.length;
      if (commit.position !== undefined) this.position = commit.position;
      this.evict();
      this.options.timers?.cancelled(commit.cancel);
      this.options.timers?.scheduled(commit.schedule);
      let handedOver = 0;
      if (handoff && reserved > 0) {
        // Only entries this commit added: a key already in the outbox is someone else's message.
        const added = new Set(addedSends);
        const handed: OutboxEntry[] = sends
          .slice(0, reserved)
          .filter((s) => added.has(s.message.key))
          .map(({ workspaceId, message }) => ({ workspaceId, message, status: OutboxStatus.pending, attempts: 0, notBefore: message.at, createdAt: now, updatedAt: now, deliveredVia: null, lastError: null }));
        handoff.unreserve(reserved - handed.length);
        reserved = 0;
        handoff.deliverClaimed(handed);
        handedOver = handed.length;
      }
      if (addedSends.length > handedOver) this.options.onSends?.(addedSends.length - handedOver);
      for (const q of group) q.done();
    } catch (error) {
      this.options.handoff?.unreserve(reserved);
      // Nothing was committed: forget what the transitions changed in memory and try the same
      // inputs again a little later, in the same order, ahead of anything that came since.
      for (const key of touched.keys()) this.states.delete(key);
      this.queue.unshift(...group);
      this.options.onError?.(error);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.kick();
      }, retryAfterErrorMs);
      this.retryTimer.unref();
    }
  }

  private async loadStates(group: readonly QueuedInput[], touched: Map<string, UserRef>): Promise<void> {
    let missing: UserRef[] = [];
    const need = (u: UserRef): void => {
      const key = userRefKey(u);
      if (touched.has(key)) return;
      touched.set(key, u);
      if (!this.states.has(key)) missing.push(u);
    };
    const load = async (): Promise<void> => {
      if (missing.length === 0) return;
      const loaded = await this.options.store.loadStates(missing);
      for (const u of missing) {
        const key = userRefKey(u);
        this.states.set(key, loaded.get(key) ?? null);
      }
      missing = [];
    };
    for (const q of group) {
      if (!q.user) continue;
      // A report goes where its profile's state went, by the merges applied before this group.
      if (q.input.type === 'delivery') q.user = this.followMerges(q.user);
      need(q.user);
      if (q.input.type === 'merge') need({ workspaceId: q.user.workspaceId, profileId: q.input.fromProfileId });
    }
    await load();
    // A report for a profile with no state may be for one merged away before this process
    // started (or so long ago it is no longer in memory): the store remembers where it went.
    for (let hops = 0; hops < 8; hops++) {
      const orphans = group.filter((q) => q.input.type === 'delivery' && q.user && !this.states.get(userRefKey(q.user)));
      if (orphans.length === 0) return;
      const merged = await this.options.store.mergedInto(orphans.map((q) => q.user!));
      if (merged.size === 0) return;
      for (const q of orphans) {
        const to = merged.get(userRefKey(q.user!));
        if (!to) continue;
        this.rememberMerge(userRefKey(q.user!), to);
        q.user = to;
        need(to);
      }
      await load();
    }
  }

  private rememberMerge(fromKey: string, to: UserRef): void {
    this.mergedInto.delete(fromKey); // re-inserted last: the map drops the oldest
    this.mergedInto.set(fromKey, to);
    if (this.mergedInto.size > maxRememberedMerges) this.mergedInto.delete(this.mergedInto.keys().next().value!);
  }

  private timerProfiles(group: readonly QueuedInput[]): Promise<Map<string, Profile>> {
    return profilesByUser(
      group.flatMap((q) => (q.input.type === 'timer' && q.user ? [q.user] : [])),
      this.options.profiles,
    );
  }

  /** Runs the transitions of a group in order and gathers one commit from their effects. */
  private decide(group: readonly QueuedInput[], profiles: Map<string, Profile>, touched: Map<string, UserRef>): EngineCommit {
    const now = this.options.clock.now();
    const timers = new Map<string, Timer | null>(); // last effect per id wins: a schedule, or null for a cancel
    const sends: EngineCommit['sends'][number][] = [];
    const counters = new Map<string, { key: CounterKey; count: number }>();
    const completeTimers: TimerVersion[] = [];
    const merges: MergeRecord[] = [];
    // The users whose state a transition replaced: only those are written (a delivery report
    // usually leaves the state as it was, the very same object).
    const written = new Set<string>();
    let position: number | undefined;
    const count = (key: CounterKey, n = 1): void => {
      const id = `${key.workspaceId}\u0000${key.triggerId}\u0000${key.kind}\u0000${key.stepId}\u0000${key.channel}\u0000${key.variant}`;
      const c = counters.get(id);
      if (c) c.count += n;
      else counters.set(id, { key, count: n });
    };

    for (const { user, input } of group) {
      if (input.type === 'position' || !user) {
        if (input.type === 'position') position = Math.max(position ?? 0, input.position);
        continue;
      }
      const key = userRefKey(user);
      const context = { now, workspaceId: user.workspaceId, profileId: user.profileId, catalog: this.catalog };
      let engineInput: EngineInput;
      switch (input.type) {
        case 'event':
          // A profile of this id lives again (after an erasure its keys may make it anew): its
          // reports are its own.
          this.mergedInto.delete(key);
          engineInput = { type: 'event', event: input.event, user: input.user };
          position = Math.max(position ?? 0, input.position);
          if (input.position <= this.position) continue; // applied before the restart
          break;
        case 'timer':
          engineInput = { type: 'timer', timerId: input.timer.id, payload: input.payload, dueAt: input.dueAt, user: this.userAt(profiles.get(key), input.dueAt) };
          completeTimers.push(input.timer);
          break;
        case 'merge': {
          const fromKey = userRefKey({ workspaceId: user.workspaceId, profileId: input.fromProfileId });
          const from = this.states.get(fromKey);
          this.states.set(fromKey, null);
          this.rememberMerge(fromKey, user);
          if (!from) continue;
          // Only a profile with a state can have a report still to come (its unopened watches).
          merges.push({ from: { workspaceId: user.workspaceId, profileId: input.fromProfileId }, to: user, at: now });
          written.add(fromKey);
          engineInput = { type: 'merge', fromProfileId: input.fromProfileId, from };
          break;
        }
        case 'delivery':
          engineInput = input;
          break;
      }
      const before = this.states.get(key) ?? null;
      const result = transition(before, engineInput, context);
      this.states.set(key, result.state);
      if (result.state !== before) written.add(key);
      for (const effect of result.effects) {
        switch (effect.type) {
          case 'schedule':
            timers.set(effect.timer.id, { ...effect.timer, partitionKey: key });
            break;
          case 'cancel':
            timers.set(effect.timerId, null);
            break;
          case 'send': {
            const m = effect.message;
            sends.push({ workspaceId: user.workspaceId, message: m });
            count({ workspaceId: user.workspaceId, triggerId: m.triggerId, kind: 'sent', stepId: m.stepId, channel: m.channel, variant: variantLabel(m.variants) });
            break;
          }
          case 'record': {
            const r = effect.record;
            const variant = r.experiment ? `${r.experiment}=${r.variant}` : (r.variant ?? r.reason ?? '');
            count({ workspaceId: user.workspaceId, triggerId: r.triggerId, kind: r.kind, stepId: r.stepId ?? '', channel: '', variant });
            break;
          }
          case 'waiting':
            count(waitingCounter(user.workspaceId, effect.triggerId, effect.stepId), effect.delta);
            break;
        }
      }
    }

    const schedule: Timer[] = [];
    const cancel: string[] = [];
    for (const [id, t] of timers) {
      if (t) schedule.push(t);
      else cancel.push(id);
    }
    const states = [...written].map((key) => ({ ...touched.get(key)!, state: this.states.get(key) ?? null }));
    // A gauge that went up and down again within the group (a wait begun and ended) has nothing to write.
    const changed = [...counters.values()].filter((c) => c.count !== 0);
    return { states, sends, counters: changed, schedule, cancel, completeTimers, merges, ...(position === undefined ? {} : { position }) };
  }

  /** Drops the oldest cached states beyond the limit (all are committed: the store has them). */
  private evict(): void {
    let over = this.states.size - this.cacheMax;
    if (over <= 0) return;
    for (const key of this.states.keys()) {
      if (over-- <= 0) break;
      this.states.delete(key);
    }
  }
}

