/**
 * The backtest: recorded events replayed through the same pure `transition` as the live engine,
 * on a simulated clock, as fast as the CPU allows, counting what every trigger would have done.
 *
 * The clock. Events are taken in timestamp order (ties keep their input order). Before an event
 * at time t, every pending timer due at or before t fires, in due order (then by id), each as a
 * timer input at `now = dueAt` with the user's profile as it is then. The event is then folded
 * into the profiles by the core fold (identity links and merges included); a merge moves the
 * source's trigger state to the target (a merge input, as the live engine does), and the event
 * goes to the transition with the profile as it is right after it, at `now = t`. After the last
 * event the clock runs on to `until` (default: the last event's time, so nothing more fires and
 * the waits still open are reported as pending timers).
 *
 * What is not simulated: caps, quiet hours, consent and channel fallbacks are applied when a
 * message is sent, not by the transition, so "messages" are what the triggers would hand to the
 * dispatcher; and no delivery outcomes come back.
 *
 * Memory. Per user: the profile, its identity links, a small trigger state while there is
 * something to remember (a user with none has no entry), and one timer per waiting run: about
 * 2.5 KB for a user in an abandoned-cart sequence. The timer heap deletes lazily (a cancelled
 * timer stays in the heap until its time or the next compaction) and is compacted when stale
 * entries outnumber live ones. Duplicates are dropped within the dedup window, so only the
 * message ids of that window are held (about 100 bytes per event in it).
 *
 * Order. With `order: 'stream'` events are handled as they are read, in constant memory beyond
 * the above, and an event earlier than its predecessor stops the run with `UnorderedHistoryError`.
 * With `order: 'sort'` (the default) every event is read into memory first and sorted: that costs
 * the events themselves, about a kilobyte each as parsed objects (an array that is already sorted
 * is used as it is). The CLI streams first and sorts only a history that turns out not to be sorted.
 */
import { identityKeysOf, foldEvents } from '../core/ingest-fold.js';
import { withPhaseAt } from '../core/phases.js';
import type { NudgeEvent } from '../core/event.js';
import type { Profile, ProfileOptions } from '../core/profile.js';
import type { Catalog } from '../core/triggers/catalog.js';
import { variantLabel, type Effect, type OutboundMessage, type TimerPayload, type TriggerState } from '../core/triggers/state.js';
import { matchName, transition, type EngineInput } from '../core/triggers/transition.js';
import type { ClaimedTimer } from '../ports/timer-store.js';
import { TimerHeap } from './timer-heap.js';

export interface BacktestOptions {
  events: AsyncIterable<NudgeEvent> | Iterable<NudgeEvent>;
  catalog: Catalog;
  profileOptions: ProfileOptions;
  workspaceId: string;
  /**
   * Where the simulated clock stops, in ms since the epoch: after the last event, timers due at or
   * before it fire. `Infinity` fires every timer. Default: the last event's time.
   */
  until?: number;
  /** Instead of `until`: run the clock this long past the last event. */
  drainMs?: number;
  /** 'sort' (default): read everything, then sort; 'stream': handle events as read, which must be sorted. */
  order?: 'sort' | 'stream';
  /** A message id seen again within this window is a duplicate and is dropped, as ingestion does. Default 24 h; 0 keeps all. */
  dedupWindowMs?: number;
  /** Called with every message the triggers would send, in the order they would be sent. */
  onSend?: (message: OutboundMessage) => void;
}

/** What one trigger would have done. Counts are of runs: a user who re-enters counts again. */
export interface BacktestTriggerReport {
  id: string;
  name: string;
  version: string;
  entered: number;
  /** Runs that went through all their steps. */
  completed: number;
  /** Runs ended early, by reason: `exit_on`, `merged` (the user's other profile had a run), `step_removed` … */
  exited: Record<string, number>;
  /** Goals reached within the trigger's window (also after the run completed). */
  goals: number;
  /** Goals by variant label (`experiment=variant`, '' without an experiment). */
  goalsByVariant: Record<string, number>;
  /** Experiment id -> variant (or `holdout`) -> runs assigned. */
  assigned: Record<string, Record<string, number>>;
  /** Messages handed to the dispatcher, per step, channel and variant label, in step order. */
  messages: { stepId: string; channel: string; template: string; variant: string; count: number }[];
  /** Runs still waiting when the clock stopped, i.e. their pending timers, in total and by step id (the node ids of program.ts). */
  pendingTimers: number;
  pendingByStep: Record<string, number>;
}

export interface BacktestReport {
  workspaceId: string;
  events: {
    /** Events handed in. */
    read: number;
    /** Events replayed (read minus duplicates). */
    applied: number;
    /** Dropped as repeats of a message id within the dedup window. */
    duplicates: number;
    /** Whether the input had to be sorted (it was not in timestamp order). */
    reordered: boolean;
  };
  /** Times in ms since the epoch; null without events. */
  firstEventAt: number | null;
  lastEventAt: number | null;
  /** Where the clock stopped (null without events; with `until: Infinity`, at the last timer fired). */
  until: number | null;
  /** Profiles at the end (after merges). */
  profiles: number;
  merges: number;
  timersFired: number;
  timersPending: number;
  messages: number;
  triggers: BacktestTriggerReport[];
}

/** A `stream` run met an event earlier than the one before it. */
export class UnorderedHistoryError extends Error {
  override readonly name = 'UnorderedHistoryError';
  constructor(
    /** 0-based position of the event in the input. */
    readonly index: number,
    readonly timestamp: number,
    readonly previous: number,
  ) {
    super(`event ${index} (${new Date(timestamp).toISOString()}) is earlier than the one before it (${new Date(previous).toISOString()}): the input is not sorted by timestamp`);
  }
}

export const defaultDedupWindowMs = 86_400_000;

/** Replays the events through the catalog's triggers (see the top of this file) and counts what they did. */
export async function runBacktest(options: BacktestOptions): Promise<BacktestReport> {
  if (options.until !== undefined && options.drainMs !== undefined) throw new Error('runBacktest: give `until` or `drainMs`, not both');
  const replay = new Replay(options);
  const order = options.order ?? 'sort';
  if (order === 'stream') {
    let index = 0;
    await each(options.events, (event) => {
      const previous = replay.lastEventAt;
      if (previous !== null && event.timestamp < previous) throw new UnorderedHistoryError(index, event.timestamp, previous);
      replay.event(event);
      index++;
    });
  } else {
    let events: NudgeEvent[];
    if (Array.isArray(options.events)) events = options.events as NudgeEvent[];
    else {
      const read: NudgeEvent[] = (events = []);
      await each(options.events, (event) => void read.push(event));
    }
    if (!isSorted(events)) {
      // Array.prototype.sort is stable: events of the same time keep their input order.
      events = [...events].sort((a, b) => a.timestamp - b.timestamp);
      replay.reordered = true;
    }
    for (const event of events) replay.event(event);
  }
  return replay.finish();
}

/** `for await` only over an async source: over a plain one it would cost a microtask per event. */
async function each<T>(source: AsyncIterable<T> | Iterable<T>, fn: (item: T) => void): Promise<void> {
  if (Symbol.asyncIterator in source) for await (const item of source) fn(item);
  else for (const item of source) fn(item);
}

function isSorted(events: readonly NudgeEvent[]): boolean {
  for (let i = 1; i < events.length; i++) if (events[i]!.timestamp < events[i - 1]!.timestamp) return false;
  return true;
}

interface TriggerCounts {
  entered: number;
  completed: number;
  exited: Record<string, number>;
  goals: number;
  goalsByVariant: Record<string, number>;
  assigned: Record<string, Record<string, number>>;
  messages: Map<string, { stepId: string; channel: string; template: string; variant: string; count: number }>;
}

/** Stale heap entries tolerated beyond the live ones before the heap is rebuilt. */
const compactSlack = 10_000;

class Replay {
  private readonly catalog: Catalog;
  private readonly workspaceId: string;
  private readonly dedupWindowMs: number;
  /** Profiles by id, and identity key -> profile id, as a store would hold them. */
  private readonly profiles = new Map<string, Profile>();
  private readonly identities = new Map<string, string>();
  /**
   * A merged profile's id -> the profile it went into. A store moves every identity link of the
   * source on a merge; here a link still naming the source is followed (and fixed) when next read.
   */
  private readonly mergedInto = new Map<string, string>();
  /** Users with something to remember; a user whose state is null has no entry. */
  private readonly states = new Map<string, TriggerState>();
  private readonly heap = new TimerHeap();
  /** The scheduled version of each pending timer: a heap entry not found here was cancelled or replaced. */
  private readonly live = new Map<string, ClaimedTimer>();
  private timerVersion = 0;
  /** Message ids of the dedup window; the queue holds them with their times, oldest first. */
  private readonly seen = new Set<string>();
  private seenIds: string[] = [];
  private seenAt: number[] = [];
  private seenHead = 0;
  private readonly counts = new Map<string, TriggerCounts>();
  private readonly links = new Map<string, string>();
  private readonly preloaded = new Map<string, Profile>();

  lastEventAt: number | null = null;
  reordered = false;
  private firstEventAt: number | null = null;
  private read = 0;
  private duplicates = 0;
  private merges = 0;
  private timersFired = 0;
  private lastFiredAt = -Infinity;
  private messages = 0;

  constructor(private readonly options: BacktestOptions) {
    this.catalog = options.catalog;
    this.workspaceId = options.workspaceId;
    this.dedupWindowMs = options.dedupWindowMs ?? defaultDedupWindowMs;
  }

  event(raw: NudgeEvent): void {
    const t = raw.timestamp;
    this.read++;
    this.firstEventAt ??= t;
    this.lastEventAt = t;
    this.fireDue(t);
    if (this.isDuplicate(raw.messageId, t)) {
      this.duplicates++;
      return;
    }

    // The fold gets only the links and profiles this event can touch, as the live engine preloads
    // them (it reads its inputs during the call only, so two maps serve every event).
    const links = this.links;
    const preloaded = this.preloaded;
    links.clear();
    preloaded.clear();
    for (const key of identityKeysOf(raw)) {
      const id = this.resolve(key);
      if (id === undefined) continue;
      links.set(key, id);
      const profile = this.profiles.get(id);
      if (profile) preloaded.set(id, profile);
    }
    const changes = foldEvents({ workspaceId: this.workspaceId, events: [raw], identities: links, profiles: preloaded }, this.options.profileOptions);
    for (const link of changes.identities) this.identities.set(link.key, link.profileId);
    for (const profile of changes.profiles) this.profiles.set(profile.profileId, profile);
    // Merges before the event, as the live engine feeds them: the source's runs come along first.
    for (const m of changes.merges) {
      this.merges++;
      this.profiles.delete(m.from);
      this.mergedInto.set(m.from, m.to);
      const from = this.states.get(m.from);
      if (!from) continue;
      this.states.delete(m.from);
      this.step(m.to, { type: 'merge', fromProfileId: m.from, from }, t);
    }
    const event = changes.events[0]!;
    // As the live engine does: an event no trigger enters on, waits for, exits on or converts on
    // cannot change a run, so only the profile takes it.
    if (!this.catalog.concerns(matchName(event))) return;
    const user = changes.profileAfter?.[0] ?? this.profiles.get(event.profileId) ?? null;
    this.step(event.profileId, { type: 'event', event, user }, t);
  }

  finish(): BacktestReport {
    const last = this.lastEventAt;
    let until: number | null = null;
    if (last !== null) {
      const end = this.options.until ?? last + (this.options.drainMs ?? 0);
      if (end > last) this.fireDue(end);
      // Run to the end of time, the clock stops at the last timer it fired.
      until = end === Infinity ? Math.max(last, this.lastFiredAt) : Math.max(last, end);
    }

    const pending = new Map<string, { total: number; byStep: Record<string, number> }>();
    for (const timer of this.live.values()) {
      const payload = JSON.parse(timer.payload) as TimerPayload;
      let p = pending.get(payload.t);
      if (!p) pending.set(payload.t, (p = { total: 0, byStep: {} }));
      p.total++;
      p.byStep[payload.n] = (p.byStep[payload.n] ?? 0) + 1;
    }

    const ids = [...this.catalog.triggers.map((p) => p.id)];
    for (const id of [...this.counts.keys(), ...pending.keys()]) if (!ids.includes(id)) ids.push(id);
    const triggers = ids.map((id): BacktestTriggerReport => {
      const program = this.catalog.current(id);
      const c = this.countsOf(id);
      const stepOrder = program ? [...program.nodes.keys()] : [];
      const rank = (stepId: string): number => {
        const i = stepOrder.indexOf(stepId);
        return i < 0 ? stepOrder.length : i;
      };
      const messages = [...c.messages.values()].sort(
        (a, b) => rank(a.stepId) - rank(b.stepId) || compare(a.stepId, b.stepId) || compare(a.channel, b.channel) || compare(a.variant, b.variant),
      );
      const p = pending.get(id);
      return {
        id,
        name: program?.name ?? id,
        version: program?.version ?? '',
        entered: c.entered,
        completed: c.completed,
        exited: c.exited,
        goals: c.goals,
        goalsByVariant: c.goalsByVariant,
        assigned: c.assigned,
        messages,
        pendingTimers: p?.total ?? 0,
        pendingByStep: p?.byStep ?? {},
      };
    });

    return {
      workspaceId: this.workspaceId,
      events: { read: this.read, applied: this.read - this.duplicates, duplicates: this.duplicates, reordered: this.reordered },
      firstEventAt: this.firstEventAt,
      lastEventAt: last,
      until,
      profiles: this.profiles.size,
      merges: this.merges,
      timersFired: this.timersFired,
      timersPending: this.live.size,
      messages: this.messages,
      triggers,
    };
  }

  /** Fires every pending timer due at or before `t`, earliest first, each at its own time. */
  private fireDue(t: number): void {
    for (let due = this.heap.peekDueAt(); due !== null && due <= t; due = this.heap.peekDueAt()) {
      // A fire schedules only later timers (a wait already over goes on at once), so all that are
      // due at `due` can be taken together; one fired earlier may still cancel one taken here.
      for (const timer of this.heap.popDue(due)) {
        if (this.live.get(timer.id) !== timer) continue;
        this.live.delete(timer.id);
        this.timersFired++;
        this.lastFiredAt = timer.dueAt;
        const profile = this.profiles.get(timer.partitionKey);
        const user = profile ? withPhaseAt(profile, this.options.profileOptions.phases, timer.dueAt) : null;
        this.step(timer.partitionKey, { type: 'timer', timerId: timer.id, payload: timer.payload, dueAt: timer.dueAt, user }, timer.dueAt);
      }
    }
  }

  private step(profileId: string, input: EngineInput, now: number): void {
    const result = transition(this.states.get(profileId) ?? null, input, { now, workspaceId: this.workspaceId, profileId, catalog: this.catalog });
    if (result.state) this.states.set(profileId, result.state);
    else this.states.delete(profileId);
    for (const effect of result.effects) this.apply(profileId, effect);
  }

  private apply(profileId: string, effect: Effect): void {
    switch (effect.type) {
      case 'schedule': {
        const { id, dueAt, payload } = effect.timer;
        const timer: ClaimedTimer = { id, partitionKey: profileId, dueAt, payload, version: ++this.timerVersion, attempt: 0 };
        this.live.set(id, timer);
        this.heap.push(timer);
        break;
      }
      case 'cancel':
        if (this.live.delete(effect.timerId) && this.heap.size > 2 * this.live.size + compactSlack) this.heap.rebuild(this.live.values());
        break;
      case 'send': {
        const m = effect.message;
        this.options.onSend?.(m);
        const variant = variantLabel(m.variants);
        const messages = this.countsOf(m.triggerId).messages;
        const key = `${m.stepId}\u0000${m.channel}\u0000${variant}`;
        const row = messages.get(key);
        if (row) row.count++;
        else messages.set(key, { stepId: m.stepId, channel: m.channel, template: m.template, variant, count: 1 });
        this.messages++;
        break;
      }
      case 'record': {
        const r = effect.record;
        const c = this.countsOf(r.triggerId);
        switch (r.kind) {
          case 'entered':
            c.entered++;
            break;
          case 'completed':
            c.completed++;
            break;
          case 'exited':
            add(c.exited, r.reason ?? 'unknown');
            break;
          case 'goal':
            c.goals++;
            add(c.goalsByVariant, r.variant ?? '');
            break;
          case 'assigned':
            add((c.assigned[r.experiment ?? ''] ??= {}), r.variant ?? '');
            break;
          case 'delivery':
            break; // nothing is delivered in a backtest
        }
        break;
      }
      case 'waiting':
        break; // the waits still open at the end are read from the pending timers (pendingByStep)
    }
  }

  private countsOf(triggerId: string): TriggerCounts {
    let c = this.counts.get(triggerId);
    if (!c) this.counts.set(triggerId, (c = { entered: 0, completed: 0, exited: {}, goals: 0, goalsByVariant: {}, assigned: {}, messages: new Map() }));
    return c;
  }

  /** The profile an identity key leads to now, following merges. */
  private resolve(key: string): string | undefined {
    const id = this.identities.get(key);
    if (id === undefined) return undefined;
    let target = id;
    for (let next = this.mergedInto.get(target); next !== undefined; next = this.mergedInto.get(target)) target = next;
    if (target !== id) this.identities.set(key, target);
    return target;
  }

  private isDuplicate(messageId: string, t: number): boolean {
    if (this.dedupWindowMs <= 0) return false;
    const horizon = t - this.dedupWindowMs;
    const ids = this.seenIds;
    const ats = this.seenAt;
    while (this.seenHead < ids.length && ats[this.seenHead]! < horizon) this.seen.delete(ids[this.seenHead++]!);
    if (this.seenHead > 4096 && this.seenHead * 2 > ids.length) {
      this.seenIds = ids.slice(this.seenHead);
      this.seenAt = ats.slice(this.seenHead);
      this.seenHead = 0;
    }
    if (this.seen.has(messageId)) return true;
    this.seen.add(messageId);
    this.seenIds.push(messageId);
    this.seenAt.push(t);
    return false;
  }
}

function add(into: Record<string, number>, label: string): void {
  into[label] = (into[label] ?? 0) + 1;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}


/** The report as text tables for a terminal. `title` heads it (e.g. the history file). */
export function formatBacktestReport(report: BacktestReport, title: string): string {
  const iso = (t: number | null): string => (t === null ? '-' : new Date(t).toISOString());
  const n = (x: number): string => x.toLocaleString('en-US');
  const e = report.events;
  const lines = [
    `Backtest of ${title}`,
    `  events     ${n(e.applied)} replayed${e.duplicates ? `, ${n(e.duplicates)} duplicate(s) dropped` : ''}${e.reordered ? ' (sorted by timestamp first)' : ''}`,
    `  time       ${iso(report.firstEventAt)} .. ${iso(report.lastEventAt)}, clock stopped at ${iso(report.until)}`,
    `  profiles   ${n(report.profiles)} (${n(report.merges)} merge(s))`,
    `  timers     ${n(report.timersFired)} fired, ${n(report.timersPending)} pending at the end`,
    `  messages   ${n(report.messages)} (before caps, quiet hours and consent, which apply when sending)`,
    '',
    table(
      ['trigger', 'entered', 'completed', 'exited', 'goals', 'pending'],
      report.triggers.map((t) => [
        t.id,
        n(t.entered),
        n(t.completed),
        labelled(t.exited) || '0',
        n(t.goals),
        n(t.pendingTimers) + (t.pendingTimers ? ` (${labelled(t.pendingByStep, (step, count) => `step ${step}: ${count}`)})` : ''),
      ]),
      [false, true, true, false, true, false],
    ),
    '',
    'Messages',
    table(
      ['trigger', 'step', 'channel', 'template', 'variant', 'count'],
      report.triggers.flatMap((t) => t.messages.map((m) => [t.id, m.stepId, m.channel, m.template, m.variant || '-', n(m.count)])),
      [false, false, false, false, false, true],
    ),
  ];
  const experiments = report.triggers.flatMap((t) =>
    Object.entries(t.assigned).flatMap(([experiment, variants]) =>
      Object.entries(variants).map(([variant, count]) => [t.id, experiment, variant, n(count), n(t.goalsByVariant[`${experiment}=${variant}`] ?? 0)]),
    ),
  );
  if (experiments.length > 0) lines.push('', 'Experiments', table(['trigger', 'experiment', 'variant', 'assigned', 'goals'], experiments, [false, false, false, true, true]));
  return lines.join('\n');
}

/** Counts by label, largest first: `exit_on 80, merged 1`. */
function labelled(counts: Record<string, number>, format = (label: string, count: string) => `${label} ${count}`): string {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1] || compare(a[0], b[0]))
    .map(([label, count]) => format(label, count.toLocaleString('en-US')))
    .join(', ');
}

function table(header: readonly string[], rows: readonly (readonly string[])[], right: readonly boolean[]): string {
  if (rows.length === 0) return '  (none)';
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `  ${cells
      .map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()}`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
