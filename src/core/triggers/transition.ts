/**
 * The heart of the engine: `transition(state, input, context) -> { state, effects }`, pure. It
 * reads no clock (`context.now` is given), no random source (experiment buckets hash the user)
 * and does no I/O: the effects say what to schedule, cancel, send and record, and the caller
 * carries them out, writing the next state and the effects in one transaction.
 *
 * Time. An event counts at its own timestamp (never later than `now`), a timer at its due time, so
 * a sequence's steps are placed from when things happened, not from when they were processed:
 * "wait 3m" after a page view that arrived a minute late is due two minutes from now, and one
 * that is already past goes on at once.
 *
 * On an event, in this order:
 * 1. Runs in flight: a goal match is recorded; an `exit_on` match (at or after the run's entry)
 *    ends the run and cancels its timer; a match for the `wait_for` it is parked on (at or after
 *    the wait's lookback start, not after its timeout) takes the `on_event` path.
 * 2. Goal watches of finished runs record a goal in their window.
 * 3. Unopened watches (below): an open or click of the message, or an exit event of its trigger at
 *    or after its run's entry, stops the watch and cancels its timer.
 * 4. Entries: each enabled trigger whose entry matches starts a run unless one is in flight, the
 *    re-entry rule forbids it, or an exit event of it already came in with a later timestamp
 *    (the two arrived out of order: the user has already done what ends the run).
 *
 * Unopened fallback (`fallback_if_unopened` on a send step; state.ts, "unopened watch"):
 * - The send starts a watch under the message's key (one per run and step); it outlives a run
 *   that completes, and ends with a run that exits (or is merged away, or loses its steps). It
 *   moves with a merge, keeping its key.
 * - Its delivery report arms it, once: `delivered:<the step's channel>` schedules a timer at
 *   delivery time + the duration. `deferred` leaves it waiting; any other outcome (failed,
 *   suppressed, delivered on a fallback channel already) ends it, as do a watch that is already
 *   armed or gone (a report that comes twice or late does nothing). A watch whose report never
 *   comes is forgotten after a week.
 * - `Message Opened` or `Message Clicked` with `properties.messageKey` = its key ends it: before the
 *   report, or stamped at or before the deadline (the deadline itself counts as opened in time).
 * - The timer sends the same message once more, due at the deadline, on the step's first fallback
 *   channel other than its own (the rest are that message's fallbacks), under the key
 *   `unopenedKeyOf(...)`: a timer that comes again decides the same key, which the outbox takes
 *   once. That message's own delivery arms nothing: at most one extra message per step.
 *
 * The waiting gauge (state.ts, "waiting gauge"). Every transition ends with one `waiting` effect
 * per step whose number of waiting runs it changed: the runs waiting after it minus those waiting
 * before it (the given state, and for a merge the state merged in too), per (trigger, step). No
 * path that starts or ends a wait says so itself — a timer that fires, the awaited event, a
 * timeout, `exit_on`, a merge (the run moved, or merged away), a step or version gone, the step
 * limit, a run started and parked in the same input — so each is counted exactly once, and a
 * path added later cannot forget it. Summed over the inputs a user's states went through, the
 * gauge equals the runs their last state has waiting; whoever drops a state without a transition
 * (an erasure) takes `waitingChanges([state], null)` off the gauge with it.
 *
 * Unchanged is the same object. A delivery report that no unopened watch awaits (most of them)
 * only adds to the counters: the state given comes back as is, not a copy, so the caller can tell
 * it has nothing to store.
 */
import type { JsonObject, NudgeEvent } from '../event.js';
import type { Profile } from '../profile.js';
import type { Channel } from '../trigger-definition.js';
import { openedEvents, type Catalog } from './catalog.js';
import { hash53, unitInterval } from './hash.js';
import { nextLocalTime } from './local-time.js';
import type { EventMatcher, ProgramNode, TriggerProgram } from './program.js';
import {
  cloneTriggerState,
  emptyTriggerState,
  RecordKind,
  variantLabel,
  waitingChanges,
  type Effect,
  type EventSummary,
  type Run,
  type RunRecord,
  type TimerPayload,
  type TriggerState,
  type UnopenedWatch,
} from './state.js';

export type EngineInput =
  /** An event of the user, with their profile as it was right after the event. */
  | { type: 'event'; event: NudgeEvent; user: Profile | null }
  /** A durable timer came due; `user` is the profile now. */
  | { type: 'timer'; timerId: string; payload: string; dueAt: number; user: Profile | null }
  /** Another profile was merged into this one: its runs come along. */
  | { type: 'merge'; fromProfileId: string; from: TriggerState }
  /** What became of a send (from the delivery side). */
  /** `messageKey`: the message's key, which is its unopened watch's key (kept across a merge). */
  | { type: 'delivery'; triggerId: string; version: string; runId: string; stepId: string; messageKey: string; outcome: string; at: number };

export interface TransitionContext {
  now: number;
  workspaceId: string;
  profileId: string;
  catalog: Catalog;
}

export interface TransitionResult {
  /** null when nothing is left worth keeping. */
  state: TriggerState | null;
  effects: Effect[];
}

/** How long the event that started a run is remembered, so that a repeat of it starts no other. */
const repeatWindowMs = 3_600_000;
/** Most recent events remembered per user for lookback. */
const maxRecent = 32;
/** At most this many nodes run in one transition: a guard against a definition that loops. */
const maxNodesPerInput = 1000;
/** How long an unopened watch waits for its delivery report: one lost in a crash must not keep it forever. */
const deliveryReportMs = 7 * 86_400_000;

/** The name triggers use for an event: the track event's name, else its type (page, identify …). */
export const matchName = (e: Pick<NudgeEvent, 'type' | 'name'>): string => (e.type === 'track' ? e.name : e.type);

export function transition(state: TriggerState | null, input: EngineInput, context: TransitionContext): TransitionResult {
  if (input.type === 'delivery' && !awaitsReport(state, input, context)) {
    // Most reports concern no unopened watch: counted, and the state is the very same object,
    // which tells the engine there is nothing to write.
    return { state, effects: [{ type: 'record', record: deliveryRecord(input) }] };
  }
  const t = new Transition(state ? cloneTriggerState(state) : emptyTriggerState(), context);
  switch (input.type) {
    case 'event':
      t.onEvent(input.event, input.user);
      break;
    case 'timer':
      t.onTimer(input.payload, input.dueAt, input.user);
      break;
    case 'merge':
      t.onMerge(input.fromProfileId, input.from);
      break;
    case 'delivery':
      t.record(deliveryRecord(input));
      t.onDelivery(input.messageKey, input.stepId, input.outcome, input.at);
      break;
  }
  const next = t.finish();
  for (const change of waitingChanges(input.type === 'merge' ? [state, input.from] : [state], next)) t.effects.push({ type: 'waiting', ...change });
  return { state: next, effects: t.effects };
}

type DeliveryInput = Extract<EngineInput, { type: 'delivery' }>;

const deliveryRecord = (input: DeliveryInput): RunRecord => ({
  kind: RecordKind.delivery,
  triggerId: input.triggerId,
  runId: input.runId,
  version: input.version,
  at: input.at,
  stepId: input.stepId,
  reason: input.outcome,
});

/** Whether a delivery report can change the state: an unopened watch not yet armed waits for it (see `onDelivery`). */
function awaitsReport(state: TriggerState | null, input: DeliveryInput, context: TransitionContext): boolean {
  const watch = state?.unopened?.[input.messageKey];
  return watch !== undefined && !watch.timer && input.outcome !== 'deferred';
}

/**
 * A run is named by its trigger and the event that started it (one event starts at most one run of
 * a trigger), not by a counter: the name stays unique after the user's state is dropped, and a
 * repeated delivery of the event yields the same message keys, which the outbox accepts once.
 */
export function runIdOf(triggerId: string, entryMessageId: string): string {
  return `${triggerId}:${hash53(entryMessageId).toString(36)}`;
}

/** Timer ids and message keys name the workspace, the profile, the run and the step. */
export function stepKeyOf(context: Pick<TransitionContext, 'workspaceId'>, profileId: string, runId: string, nodeId: string): string {
  return `${context.workspaceId}/${profileId}/${runId}/${nodeId}`;
}

/** The key of a step's unopened fallback message. */
export function unopenedKeyOf(context: Pick<TransitionContext, 'workspaceId'>, profileId: string, runId: string, nodeId: string): string {
  return stepKeyOf(context, profileId, runId, `${nodeId}:unopened`);
}

/**
 * A run's timer id: the run's start, as fixed-width hex, then the step's key. The key alone names
 * the user first, so the timers a batch schedules would land all over the store's id index; led by
 * the start they land together, near its end (runs start about now), and a store appends them
 * instead of rewriting a page per timer. The same run and step still make the same id.
 */
export function timerIdOf(startedAt: number, key: string): string {
  return `${Math.max(0, Math.floor(startedAt)).toString(16).padStart(12, '0')}/${key}`;
}

class Transition {
  readonly effects: Effect[] = [];
  private user: Profile | null = null;
  private steps = 0;

  constructor(
    readonly state: TriggerState,
    private readonly context: TransitionContext,
  ) {}

  record(record: RunRecord): void {
    this.effects.push({ type: 'record', record });
  }

  finish(): TriggerState | null {
    const s = this.state;
    for (const [id, w] of Object.entries(s.goalWatches)) if (w.until < this.context.now) delete s.goalWatches[id];
    for (const [key, w] of Object.entries(s.unopened)) if (!w.timer && w.sentAt + deliveryReportMs < this.context.now) delete s.unopened[key];
    this.forgetEntries();
    const horizon = this.context.now - this.context.catalog.maxLookbackMs;
    if (s.recent.length > 0 && s.recent[0]!.timestamp < horizon) s.recent = s.recent.filter((r) => r.timestamp >= horizon);
    const empty = s.recent.length === 0 && isEmpty(s.runs) && isEmpty(s.goalWatches) && isEmpty(s.unopened) && isEmpty(s.lastEntryAt);
    return empty ? null : s;
  }

  /**
   * Drops the last entry of a trigger once no rule can use it, so a user with nothing under way
   * costs nothing: after the cooldown (and the window in which a repeated entry event is
   * recognised), or when the trigger is gone. `never` needs it forever.
   */
  private forgetEntries(): void {
    const s = this.state;
    for (const [triggerId, at] of Object.entries(s.lastEntryAt)) {
      if (s.runs[triggerId]) continue;
      const reentry = this.context.catalog.current(triggerId)?.reentry;
      if (reentry?.kind === 'never') continue;
      const keepMs = reentry === undefined ? 0 : Math.max(reentry.kind === 'cooldown' ? reentry.ms : 0, repeatWindowMs);
      if (at + keepMs >= this.context.now) continue;
      delete s.lastEntryAt[triggerId];
      delete s.lastEntryIds[triggerId];
    }
  }

  onEvent(event: NudgeEvent, user: Profile | null): void {
    this.see(user);
    const { catalog, now } = this.context;
    const at = Math.min(event.timestamp, now);
    const name = matchName(event);
    const summary = summarize(event);

    for (const run of Object.values(this.state.runs)) {
      const program = this.programOf(run);
      // Its version is gone (it no longer compiles): the run ends rather than block the trigger.
      if (!program) {
        this.end(run, at, 'step_removed');
        continue;
      }
      if (program.goal && !run.goalReached && matches(program.goal, name, event, user, now) && inWindow(event.timestamp, run.startedAt, run.startedAt + program.goal.withinMs)) {
        run.goalReached = true;
        this.record({ kind: RecordKind.goal, triggerId: run.triggerId, runId: run.id, version: run.version, at, ...variantOf(run.variants) });
      }
      if (event.timestamp >= run.startedAt && program.exitOn.some((m) => matches(m, name, event, user, now))) {
        this.end(run, at, 'exit_on');
        continue;
      }
      const node = run.waiting && program.nodes.get(run.waiting.node);
      if (node?.kind === 'wait_for' && run.waiting && this.awaited(node, run, run.waiting.since, run.waiting.dueAt, name, event, user)) {
        this.cancelWait(run);
        this.advance(program, run, node.onEvent, Math.max(at, run.waiting?.since ?? at));
      }
    }

    for (const [triggerId, watch] of Object.entries(this.state.goalWatches)) {
      const program = catalog.version(triggerId, watch.version);
      if (!program?.goal || !matches(program.goal, name, event, user, now) || !inWindow(event.timestamp, watch.startedAt, watch.until)) continue;
      delete this.state.goalWatches[triggerId];
      this.record({ kind: RecordKind.goal, triggerId, runId: watch.runId, version: watch.version, at, ...variantOf(watch.variants) });
    }

    const openedKey = openedEvents.has(name) ? event.properties['messageKey'] : undefined;
    for (const [key, watch] of Object.entries(this.state.unopened)) {
      const opened = key === openedKey && (!watch.timer || event.timestamp <= watch.timer.dueAt);
      const exited = event.timestamp >= watch.startedAt && (catalog.version(watch.triggerId, watch.version)?.exitOn.some((m) => matches(m, name, event, user, now)) ?? false);
      if (opened || exited) this.stopWatch(key);
    }

    if (catalog.watchedNames.has(name)) this.remember(summary);

    for (const program of catalog.entriesFor(name)) {
      if (this.state.runs[program.id]) continue;
      if (this.state.lastEntryIds[program.id] === event.messageId) continue; // the same event again
      if (!this.mayEnter(program, at)) continue;
      if (program.entry.when && !program.entry.when.test({ event, user, now })) continue;
      const converted = this.state.recent.some(
        (r) => r.messageId !== event.messageId && r.timestamp >= event.timestamp && program.exitOn.some((m) => matchesSummary(m, r, user, now)),
      );
      if (converted) continue;
      this.start(program, summary, at);
    }
  }

  onTimer(payloadText: string, dueAt: number, user: Profile | null): void {
    this.see(user);
    const payload = parsePayload(payloadText);
    if (!payload) return;
    if (payload.k !== undefined) return this.onUnopenedDue(payload.k, payload.r, dueAt);
    const run = this.state.runs[payload.t];
    // A timer of a run that has ended or moved on (its cancel raced the fire) does nothing.
    if (!run || run.id !== payload.r || run.waiting?.node !== payload.n) return;
    const program = this.programOf(run);
    if (!program) return this.end(run, dueAt, 'step_removed');
    const node = program.nodes.get(payload.n);
    run.waiting = null;
    if (!node) return this.end(run, dueAt, 'step_removed');
    const next = node.kind === 'wait_for' ? node.onTimeout : node.next;
    this.advance(program, run, next, dueAt);
  }

  /** A message's delivery report arms its unopened watch, or ends it (see the header). */
  onDelivery(key: string, stepId: string, outcome: string, at: number): void {
    const watch = this.state.unopened[key];
    if (!watch || watch.timer || outcome === 'deferred') return;
    const node = this.context.catalog.version(watch.triggerId, watch.version)?.nodes.get(stepId);
    if (node?.kind !== 'send' || !node.unopenedFallback || outcome !== `delivered:${node.channel}`) {
      delete this.state.unopened[key];
      return;
    }
    this.arm(key, watch, at + node.unopenedFallback.afterMs);
  }

  /** An unopened watch's deadline passed: the message goes out once more, on its next channel. */
  private onUnopenedDue(key: string, runId: string, dueAt: number): void {
    const watch = this.state.unopened[key];
    // Opened, ended or sent already (a cancel raced the fire, or the timer came again): nothing.
    if (!watch?.timer || watch.runId !== runId) return;
    delete this.state.unopened[key];
    const program = this.context.catalog.version(watch.triggerId, watch.version);
    const node = program?.nodes.get(watch.stepId);
    if (!program || node?.kind !== 'send' || !node.unopenedFallback) return;
    const [channel, ...fallback] = node.unopenedFallback.channels;
    this.send(program, node, watch, unopenedKeyOf(this.context, this.context.profileId, watch.runId, watch.stepId), channel, fallback, dueAt);
  }

  onMerge(fromProfileId: string, from: TriggerState): void {
    const s = this.state;
    for (const [triggerId, at] of Object.entries(from.lastEntryAt)) {
      if (at < (s.lastEntryAt[triggerId] ?? -Infinity)) continue;
      s.lastEntryAt[triggerId] = at;
      const id = from.lastEntryIds[triggerId];
      if (id !== undefined) s.lastEntryIds[triggerId] = id;
    }
    for (const [triggerId, watch] of Object.entries(from.goalWatches)) s.goalWatches[triggerId] ??= watch;
    s.recent = [...s.recent, ...from.recent].sort((a, b) => a.timestamp - b.timestamp).slice(-maxRecent);
    s.timezone ??= from.timezone;
    const mergedAway = new Set<string>();
    for (const [triggerId, run] of Object.entries(from.runs)) {
      if (run.waiting) this.effects.push({ type: 'cancel', timerId: run.waiting.timerId });
      if (s.runs[triggerId]) {
        mergedAway.add(run.id);
        this.record({ kind: RecordKind.exited, triggerId, runId: run.id, version: run.version, at: this.context.now, reason: 'merged' });
        continue;
      }
      const moved: Run = { ...run };
      s.runs[triggerId] = moved;
      if (moved.waiting) {
        moved.waiting = { ...moved.waiting, timerId: this.runTimerId(moved, moved.waiting.node) };
        this.schedule(moved, moved.waiting.node, moved.waiting.dueAt);
      }
    }
    // Watches keep their key (an open names the message sent); armed ones get a timer of this profile.
    // A state stored before watches existed has none.
    for (const [key, watch] of Object.entries(from.unopened ?? {})) {
      if (watch.timer) this.effects.push({ type: 'cancel', timerId: watch.timer.id });
      if (mergedAway.has(watch.runId) || this.watching(watch.runId, watch.stepId)) continue;
      if (watch.timer) this.arm(key, watch, watch.timer.dueAt);
      else s.unopened[key] = watch;
    }
  }

  private see(user: Profile | null): void {
    this.user = user;
    if (user?.computed.timezone) this.state.timezone = user.computed.timezone;
  }

  private programOf(run: Run): TriggerProgram | undefined {
    return this.context.catalog.version(run.triggerId, run.version);
  }

  private mayEnter(program: TriggerProgram, at: number): boolean {
    const last = this.state.lastEntryAt[program.id];
    if (last === undefined) return true;
    switch (program.reentry.kind) {
      case 'never':
        return false;
      case 'always':
        return true;
      case 'cooldown':
        return at >= last + program.reentry.ms;
    }
  }

  private start(program: TriggerProgram, entry: EventSummary, at: number): void {
    const s = this.state;
    const run: Run = { id: runIdOf(program.id, entry.messageId), triggerId: program.id, version: program.version, startedAt: at, entry, waiting: null, variants: {}, sent: [], goalReached: false };
    s.runs[program.id] = run;
    s.lastEntryAt[program.id] = at;
    s.lastEntryIds[program.id] = entry.messageId;
    delete s.goalWatches[program.id];
    this.record({ kind: RecordKind.entered, triggerId: program.id, runId: run.id, version: run.version, at });
    this.advance(program, run, program.first, at);
  }

  /** Runs nodes from `nodeId` at time `at` until the run parks on a wait or its steps end. */
  private advance(program: TriggerProgram, run: Run, nodeId: string | null, at: number): void {
    const { now } = this.context;
    let id = nodeId;
    while (id !== null) {
      if (++this.steps > maxNodesPerInput) return this.end(run, at, 'step_limit');
      const node: ProgramNode | undefined = program.nodes.get(id);
      if (!node) return this.end(run, at, 'step_removed');
      switch (node.kind) {
        case 'send':
          if (!run.sent.includes(node.id)) {
            run.sent.push(node.id);
            const key = stepKeyOf(this.context, this.context.profileId, run.id, node.id);
            const source = { triggerId: run.triggerId, version: run.version, runId: run.id, stepId: node.id, startedAt: run.startedAt, entry: run.entry, variants: { ...run.variants } };
            this.send(program, node, source, key, node.channel, node.fallback, at);
            if (node.unopenedFallback && !this.watching(run.id, node.id)) this.state.unopened[key] = { ...source, sentAt: now, timer: null };
          }
          id = node.next;
          break;
        case 'wait':
        case 'wait_until': {
          const dueAt = node.kind === 'wait' ? at + node.ms : nextLocalTime(at, node.localTime, this.state.timezone);
          if (dueAt <= now) {
            at = dueAt; // already past (a late event): go on as if the timer had fired
            id = node.next;
            break;
          }
          return this.park(run, node.id, at, dueAt);
        }
        case 'wait_for': {
          const dueAt = at + node.timeoutMs;
          const since = Math.max(at - node.lookbackMs, run.startedAt);
          const early = this.state.recent.find((r) => r.messageId !== run.entry.messageId && r.timestamp >= since && r.timestamp <= dueAt && this.awaitedSummary(node, r));
          if (early) {
            at = Math.max(at, Math.min(early.timestamp, now));
            id = node.onEvent;
            break;
          }
          if (dueAt <= now) {
            at = dueAt;
            id = node.onTimeout;
            break;
          }
          return this.park(run, node.id, since, dueAt);
        }
        case 'branch': {
          const activation = { event: run.entry as unknown as JsonObject, user: this.user, now };
          const arm = node.arms.find((a) => a.when === null || a.when.test(activation));
          id = arm ? arm.first : node.next;
          break;
        }
        case 'experiment': {
          const variant = pickVariant(node, this.context.profileId);
          run.variants[node.experimentId] = variant?.name ?? 'holdout';
          this.record({ kind: RecordKind.assigned, triggerId: run.triggerId, runId: run.id, version: run.version, at, experiment: node.experimentId, variant: run.variants[node.experimentId], stepId: node.id });
          id = variant ? variant.first : null;
          break;
        }
      }
    }
    this.complete(program, run, at);
  }

  private send(program: TriggerProgram, node: SendNode, of: MessageSource, key: string, channel: Channel, fallback: readonly Channel[], at: number): void {
    this.effects.push({
      type: 'send',
      message: {
        key,
        profileId: this.context.profileId,
        triggerId: of.triggerId,
        version: of.version,
        runId: of.runId,
        stepId: of.stepId,
        channel,
        fallback,
        template: node.template,
        topic: node.topic,
        priority: program.priority,
        variants: { ...of.variants },
        entry: of.entry,
        at,
      },
    });
  }

  /** Gives an unopened watch its timer, of this profile: the fallback goes out at `dueAt` unless it is opened by then. */
  private arm(key: string, watch: UnopenedWatch, dueAt: number): void {
    const timer = { id: timerIdOf(watch.startedAt, unopenedKeyOf(this.context, this.context.profileId, watch.runId, watch.stepId)), dueAt };
    this.state.unopened[key] = { ...watch, timer };
    const payload: TimerPayload = { t: watch.triggerId, r: watch.runId, n: watch.stepId, k: key };
    this.effects.push({ type: 'schedule', timer: { ...timer, payload: JSON.stringify(payload) } });
  }

  /**
   * One watch per (run, step), so that its timer id is unique: a run started again by a late repeat
   * of its entry event, or merged in, keeps the watch it has.
   */
  private watching(runId: string, stepId: string): boolean {
    return Object.values(this.state.unopened).some((w) => w.runId === runId && w.stepId === stepId);
  }

  private stopWatch(key: string): void {
    const timer = this.state.unopened[key]?.timer;
    if (timer) this.effects.push({ type: 'cancel', timerId: timer.id });
    delete this.state.unopened[key];
  }

  private park(run: Run, node: string, since: number, dueAt: number): void {
    run.waiting = { node, timerId: this.runTimerId(run, node), dueAt, since };
    this.schedule(run, node, dueAt);
  }

  private runTimerId(run: Run, node: string): string {
    return timerIdOf(run.startedAt, stepKeyOf(this.context, this.context.profileId, run.id, node));
  }

  private schedule(run: Run, node: string, dueAt: number): void {
    const payload: TimerPayload = { t: run.triggerId, r: run.id, n: node };
    this.effects.push({ type: 'schedule', timer: { id: run.waiting!.timerId, dueAt, payload: JSON.stringify(payload) } });
  }

  private cancelWait(run: Run): void {
    if (!run.waiting) return;
    this.effects.push({ type: 'cancel', timerId: run.waiting.timerId });
    run.waiting = null;
  }

  private complete(program: TriggerProgram, run: Run, at: number): void {
    delete this.state.runs[run.triggerId];
    this.record({ kind: RecordKind.completed, triggerId: run.triggerId, runId: run.id, version: run.version, at });
    if (program.goal && !run.goalReached && run.startedAt + program.goal.withinMs >= this.context.now) {
      this.state.goalWatches[run.triggerId] = { runId: run.id, version: run.version, startedAt: run.startedAt, until: run.startedAt + program.goal.withinMs, variants: run.variants };
    }
  }

  private end(run: Run, at: number, reason: string): void {
    this.cancelWait(run);
    for (const [key, watch] of Object.entries(this.state.unopened)) if (watch.runId === run.id) this.stopWatch(key);
    delete this.state.runs[run.triggerId];
    this.record({ kind: RecordKind.exited, triggerId: run.triggerId, runId: run.id, version: run.version, at, reason });
  }

  private awaited(node: Extract<ProgramNode, { kind: 'wait_for' }>, run: Run, since: number, dueAt: number, name: string, event: NudgeEvent, user: Profile | null): boolean {
    return event.messageId !== run.entry.messageId && inWindow(event.timestamp, since, dueAt) && node.matches.some((m) => matches(m, name, event, user, this.context.now));
  }

  private awaitedSummary(node: Extract<ProgramNode, { kind: 'wait_for' }>, r: EventSummary): boolean {
    return node.matches.some((m) => matchesSummary(m, r, this.user, this.context.now));
  }

  private remember(summary: EventSummary): void {
    const recent = this.state.recent;
    let i = recent.length;
    while (i > 0 && recent[i - 1]!.timestamp > summary.timestamp) i--;
    recent.splice(i, 0, summary);
    const horizon = recent[recent.length - 1]!.timestamp - Math.max(this.context.catalog.maxLookbackMs, 0);
    let drop = 0;
    while (drop < recent.length && (recent[drop]!.timestamp < horizon || recent.length - drop > maxRecent)) drop++;
    if (drop > 0) recent.splice(0, drop);
  }
}

type SendNode = Extract<ProgramNode, { kind: 'send' }>;

/** What a message takes from its run (or from the unopened watch that outlived the run). */
type MessageSource = Pick<UnopenedWatch, 'triggerId' | 'version' | 'runId' | 'stepId' | 'variants' | 'entry'>;

function summarize(e: NudgeEvent): EventSummary {
  return { messageId: e.messageId, type: e.type, name: e.name, properties: e.properties, timestamp: e.timestamp };
}

function matches(m: EventMatcher, name: string, event: NudgeEvent, user: Profile | null, now: number): boolean {
  return m.event === name && (m.when === null || m.when.test({ event, user, now }));
}

function matchesSummary(m: EventMatcher, r: EventSummary, user: Profile | null, now: number): boolean {
  return m.event === matchName(r) && (m.when === null || m.when.test({ event: r as unknown as JsonObject, user, now }));
}

const inWindow = (t: number, from: number, to: number): boolean => t >= from && t <= to;

function variantOf(variants: Record<string, string>): { variant?: string } {
  const label = variantLabel(variants);
  return label === '' ? {} : { variant: label };
}

function pickVariant(node: Extract<ProgramNode, { kind: 'experiment' }>, profileId: string) {
  const bucket = unitInterval(`${profileId}\u0000${node.experimentId}`) * 100;
  if (bucket < node.holdoutPercent) return null;
  // A second, independent draw picks among the variants, so changing the holdout does not reshuffle them.
  const total = node.variants.reduce((sum, v) => sum + v.weight, 0);
  let point = unitInterval(`${profileId}\u0000${node.experimentId}\u0000variant`) * total;
  for (const v of node.variants) {
    point -= v.weight;
    if (point < 0) return v;
  }
  return node.variants[node.variants.length - 1]!;
}

function parsePayload(text: string): TimerPayload | null {
  try {
    const p = JSON.parse(text) as Partial<TimerPayload>;
    return typeof p.t === 'string' && typeof p.r === 'string' && typeof p.n === 'string' && (p.k === undefined || typeof p.k === 'string') ? (p as TimerPayload) : null;
  } catch {
    return null;
  }
}

function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
}
