/**
 * A tiny driver for the pure trigger core on a simulated clock: it holds every user's
 * TriggerState and profile, keeps the timers that `schedule` effects ask for (and drops those that
 * `cancel` effects name), and fires due timers in due order by calling `transition` with a timer
 * input at `now = dueAt`. Delivery reports are handed in as the dispatcher would (`deliver`).
 * Nothing sleeps and nothing reads the real clock.
 *
 * Times in its API are ms after `origin`. An event is handled at its arrival time (`arrives`,
 * default its own time `t`); timers due at or before that instant fire first.
 *
 * It also checks, on every input, what the core promises of itself: `transition` leaves the state
 * it was given untouched, and (with `roundTrip`) the state survives JSON.stringify/parse, as it
 * does when a store writes it and a restarted process reads it back. It keeps the waiting gauge as
 * the `waiting` effects move it (`waiting`), for comparison with the states (`waitingInStates`).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseTrigger } from '../../../src/config/triggers.js';
import type { EventType, JsonObject, NudgeEvent } from '../../../src/core/event.js';
import { withPhaseAt } from '../../../src/core/phases.js';
import { applyEvent, defaultProfileOptions, draftOf, emptyProfile, mergeProfileInto, type Profile, type ProfileOptions } from '../../../src/core/profile.js';
import { buildCatalog, type Catalog } from '../../../src/core/triggers/catalog.js';
import { compileTrigger, type TriggerProgram } from '../../../src/core/triggers/program.js';
import { emptyTriggerState, type Effect, type OutboundMessage, type RunRecord, type TriggerState } from '../../../src/core/triggers/state.js';
import { transition, type EngineInput } from '../../../src/core/triggers/transition.js';

export const s = 1000;
export const m = 60 * s;
export const h = 60 * m;
export const d = 24 * h;

/** A Monday noon, far from any DST change, for scenarios that do not care about the calendar. */
export const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);

const examplesDir = fileURLToPath(new URL('../../../examples/shop/triggers/', import.meta.url));

/** A trigger file's text through the same parser `nudge validate` uses, then compiled. */
export function triggerFrom(yaml: string, file = 'inline.yaml'): TriggerProgram {
  const parsed = parseTrigger(yaml, file);
  if (!parsed.trigger) throw new Error(`${file} does not parse: ${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  return compileTrigger(parsed.trigger);
}

/** The text of one of the shop's example triggers (examples/shop/triggers/<name>.yaml). */
export function exampleText(name: string): string {
  return readFileSync(`${examplesDir}${name}.yaml`, 'utf8');
}

/** One of the shop's example triggers, compiled. */
export function exampleTrigger(name: string): TriggerProgram {
  return triggerFrom(exampleText(name), `${name}.yaml`);
}

/** An event as tests write it. */
export interface Ev {
  /** The user's id, which is also their profile id here. */
  user: string;
  /** A track event's name, or `page`/`identify` for those calls. */
  name: string;
  /** When it happened, ms after the origin. */
  t: number;
  /** When it reaches the engine, ms after the origin. Default `t`. */
  arrives?: number;
  props?: JsonObject;
  context?: JsonObject;
  /** The sender's message id; the same id twice is a duplicate delivery. */
  id?: string;
}

export interface Sent {
  profileId: string;
  /** When the harness handled the input that produced it, ms after the origin. */
  now: number;
  message: OutboundMessage;
}

export interface Recorded {
  profileId: string;
  now: number;
  record: RunRecord;
}

export interface PendingTimer {
  id: string;
  profileId: string;
  /** Absolute ms. */
  dueAt: number;
  payload: string;
  seq: number;
}

export interface TimerHistory {
  profileId: string;
  dueAt: number;
  payload: string;
  scheduled: number;
  fired: number;
  /** Cancels that found the timer pending. */
  cancelled: number;
}

export interface HarnessOptions {
  triggers: readonly TriggerProgram[];
  retained?: readonly TriggerProgram[];
  /** Absolute ms that API time 0 stands for. Default T0. */
  origin?: number;
  /** Write every state through JSON.stringify/parse, as a store and a restart would. */
  roundTrip?: boolean;
  workspaceId?: string;
  /** How events fold into profiles (phase rules included). Default defaultProfileOptions. */
  profileOptions?: ProfileOptions;
}

const kindOf = (name: string): { type: EventType; name: string } =>
  name === 'page' || name === 'identify' || name === 'screen' ? { type: name, name: '' } : { type: 'track', name };

export class Harness {
  readonly origin: number;
  readonly workspaceId: string;
  readonly roundTrip: boolean;
  readonly profileOptions: ProfileOptions;
  catalog: Catalog;
  /** Absolute ms. */
  private clock: number;
  private readonly states = new Map<string, TriggerState>();
  /** Profiles merged away -> the profile they went into (delivery reports follow them). */
  private readonly mergedInto = new Map<string, string>();
  private readonly profiles = new Map<string, Profile>();
  /** Message ids already folded into a profile: a duplicate is stored once (ingest dedups). */
  private readonly folded = new Set<string>();
  private readonly pending = new Map<string, PendingTimer>();
  /** Min-heap of pending timers by (dueAt, seq); entries no longer in `pending` are skipped. */
  private readonly heap: PendingTimer[] = [];
  readonly timers = new Map<string, TimerHistory>();
  readonly sends: Sent[] = [];
  readonly records: Recorded[] = [];
  /** The waiting gauge as the `waiting` effects moved it, by `triggerId/stepId`; steps back at 0 are removed. */
  readonly waiting = new Map<string, number>();
  /** Every effect in the order the core returned them, with the number of the input (1, 2, …) that did. */
  readonly log: { input: number; profileId: string; effect: Effect }[] = [];
  /** Inputs handled so far. */
  inputs = 0;
  private seq = 0;
  private taken = 0;
  private messageIds = 0;

  constructor(options: HarnessOptions) {
    this.origin = options.origin ?? T0;
    this.clock = this.origin;
    this.workspaceId = options.workspaceId ?? 'w1';
    this.roundTrip = options.roundTrip ?? false;
    this.profileOptions = options.profileOptions ?? defaultProfileOptions;
    this.catalog = buildCatalog(options.triggers, options.retained);
  }

  /** The clock, ms after the origin. */
  get now(): number {
    return this.clock - this.origin;
  }

  setCatalog(current: readonly TriggerProgram[], retained: readonly TriggerProgram[] = []): void {
    this.catalog = buildCatalog(current, retained);
  }

  /** The event as the core sees it (absolute times). */
  toEvent(ev: Ev): NudgeEvent {
    const timestamp = this.origin + ev.t;
    return {
      workspaceId: this.workspaceId,
      messageId: ev.id ?? `${ev.user}-${++this.messageIds}`,
      ...kindOf(ev.name),
      userId: ev.user,
      anonymousId: null,
      previousId: null,
      groupId: null,
      properties: ev.props ?? {},
      traits: {},
      context: ev.context ?? {},
      timestamp,
      receivedAt: this.origin + (ev.arrives ?? ev.t),
    };
  }

  /**
   * Delivers an event at its arrival time, after the timers due by then (unless `fire` is false,
   * see `advanceTo`). The profile passed along is the user's right after the event (as ingest
   * hands it over), unless `user` overrides it.
   */
  submit(ev: Ev, options: { user?: Profile | null; fire?: boolean } = {}): Effect[] {
    const event = this.toEvent(ev);
    this.advanceTo(event.receivedAt - this.origin, { fire: options.fire ?? true });
    const profileId = ev.user;
    this.mergedInto.delete(profileId); // a profile of that id lives (again), as after an erasure
    if (!this.folded.has(event.messageId)) {
      this.folded.add(event.messageId);
      const draft = draftOf(this.profiles.get(profileId) ?? emptyProfile(this.workspaceId, profileId, event.timestamp));
      applyEvent(draft, event, this.profileOptions);
      this.profiles.set(profileId, draft);
    }
    const user = options.user !== undefined ? options.user : (this.profiles.get(profileId) ?? null);
    return this.apply(profileId, { type: 'event', event, user });
  }

  /**
   * Moves the clock to `t` (ms after the origin). With `fire` (the default) every timer due by
   * then fires first, in due order, each at `now = dueAt`; without it the clock moves while the
   * timers wait, as when a scheduler falls behind (`fireDue` catches up later).
   */
  advanceTo(t: number, options: { fire?: boolean } = {}): void {
    const target = this.origin + t;
    if (target < this.clock) throw new Error(`time only moves forward: at ${this.now}, asked for ${t}`);
    if (options.fire ?? true) {
      for (let next = this.nextDue(target); next; next = this.nextDue(target)) {
        this.clock = Math.max(this.clock, next.dueAt);
        this.fire(next);
      }
    }
    this.clock = target;
  }

  advanceBy(ms: number, options: { fire?: boolean } = {}): void {
    this.advanceTo(this.now + ms, options);
  }

  /** Fires, late, at the current time, every timer already due (in due order). */
  fireDue(): void {
    for (let next = this.nextDue(this.clock); next; next = this.nextDue(this.clock)) this.fire(next);
  }

  /**
   * Hands the core a timer that is no longer pending (it fired already, or was cancelled): what an
   * at-least-once timer store does after a lost completion, or when a cancel races a fire.
   */
  redeliver(timerId: string): Effect[] {
    const past = this.timers.get(timerId);
    if (!past) throw new Error(`no timer ${timerId} was ever scheduled`);
    return this.apply(past.profileId, { type: 'timer', timerId, payload: past.payload, dueAt: past.dueAt, user: this.profileNow(past.profileId) });
  }

  /**
   * What the dispatcher reports on a message (`delivered:<channel>`, `failed`, `suppressed:<reason>`,
   * `deferred`) at `t` ms after the origin (default now), after the timers due by then (unless
   * `fire` is false). It goes to the message's profile, or the one it was merged into since, as
   * the engine's `delivered` sends it.
   */
  deliver(message: OutboundMessage, outcome: string, t = this.now, options: { fire?: boolean } = {}): Effect[] {
    this.advanceTo(t, options);
    const { triggerId, version, runId, stepId } = message;
    let profileId = message.profileId;
    while (this.mergedInto.has(profileId)) profileId = this.mergedInto.get(profileId)!;
    return this.apply(profileId, { type: 'delivery', triggerId, version, runId, stepId, messageKey: message.key, outcome, at: this.clock });
  }

  /** `from` turned out to be the same person as `to`: profiles merge, then the trigger state follows. */
  merge(from: string, to: string): Effect[] {
    this.mergedInto.set(from, to);
    const source = this.profiles.get(from);
    if (source) {
      const target = draftOf(this.profiles.get(to) ?? emptyProfile(this.workspaceId, to, source.createdAt));
      mergeProfileInto(target, source);
      this.profiles.set(to, target);
      this.profiles.delete(from);
    }
    const fromState = this.states.get(from) ?? emptyTriggerState();
    this.states.delete(from);
    return this.apply(to, { type: 'merge', fromProfileId: from, from: this.roundTrip ? viaJson(fromState) : fromState });
  }

  state(profileId: string): TriggerState | null {
    return this.states.get(profileId) ?? null;
  }

  profile(profileId: string): Profile | null {
    return this.profiles.get(profileId) ?? null;
  }

  profileIds(): string[] {
    return [...this.states.keys()];
  }

  /** What the waiting gauge should say: the runs of every user's state waiting at each step, by `triggerId/stepId`. */
  waitingInStates(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const state of this.states.values()) {
      for (const run of Object.values(state.runs)) {
        if (!run.waiting) continue;
        const key = `${run.triggerId}/${run.waiting.node}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
    return counts;
  }

  /** Pending timers in the order they would fire. */
  pendingTimers(): PendingTimer[] {
    return [...this.pending.values()].sort(byDue);
  }

  /** The sends since the previous call. */
  takeSends(): Sent[] {
    const fresh = this.sends.slice(this.taken);
    this.taken = this.sends.length;
    return fresh;
  }

  private nextDue(until: number): PendingTimer | undefined {
    const heap = this.heap;
    while (heap.length > 0 && this.pending.get(heap[0]!.id) !== heap[0]) popHeap(heap);
    const top = heap[0];
    return top && top.dueAt <= until ? top : undefined;
  }

  private fire(timer: PendingTimer): void {
    this.pending.delete(timer.id);
    this.timers.get(timer.id)!.fired++;
    this.apply(timer.profileId, { type: 'timer', timerId: timer.id, payload: timer.payload, dueAt: timer.dueAt, user: this.profileNow(timer.profileId) });
  }

  /** The profile as a timer input gets it: as it is now, its phase moved on by the time passed. */
  private profileNow(profileId: string): Profile | null {
    const profile = this.profiles.get(profileId);
    return profile ? withPhaseAt(profile, this.profileOptions.phases, this.clock) : null;
  }

  private apply(profileId: string, input: EngineInput): Effect[] {
    const before = this.states.get(profileId) ?? null;
    const snapshot = JSON.stringify(before);
    const result = transition(before, input, { now: this.clock, workspaceId: this.workspaceId, profileId, catalog: this.catalog });
    // Pure: the caller keeps the old state until the new one is committed, so it must not change.
    assert.equal(JSON.stringify(before), snapshot, `transition changed the state it was given (${input.type} for ${profileId})`);
    if (result.state) this.states.set(profileId, this.roundTrip ? viaJson(result.state) : result.state);
    else this.states.delete(profileId);
    this.inputs++;
    for (const effect of result.effects) {
      this.log.push({ input: this.inputs, profileId, effect });
      this.carryOut(profileId, effect);
    }
    return result.effects;
  }

  private carryOut(profileId: string, effect: Effect): void {
    const now = this.now;
    switch (effect.type) {
      case 'schedule': {
        const { id, dueAt, payload } = effect.timer;
        const timer = { id, profileId, dueAt, payload, seq: ++this.seq };
        this.pending.set(id, timer);
        pushHeap(this.heap, timer);
        const history = this.timers.get(id);
        if (history) Object.assign(history, { profileId, dueAt, payload, scheduled: history.scheduled + 1 });
        else this.timers.set(id, { profileId, dueAt, payload, scheduled: 1, fired: 0, cancelled: 0 });
        break;
      }
      case 'cancel':
        if (this.pending.delete(effect.timerId)) this.timers.get(effect.timerId)!.cancelled++;
        break;
      case 'send':
        this.sends.push({ profileId, now, message: this.roundTrip ? viaJson(effect.message) : effect.message });
        break;
      case 'record':
        this.records.push({ profileId, now, record: effect.record });
        break;
      case 'waiting': {
        const key = `${effect.triggerId}/${effect.stepId}`;
        const n = (this.waiting.get(key) ?? 0) + effect.delta;
        assert.ok(n >= 0, `the waiting gauge of ${key} went below 0 (${n})`);
        if (n === 0) this.waiting.delete(key);
        else this.waiting.set(key, n);
        break;
      }
    }
  }
}

const byDue = (a: PendingTimer, b: PendingTimer): number => a.dueAt - b.dueAt || a.seq - b.seq;

function pushHeap(heap: PendingTimer[], item: PendingTimer): void {
  heap.push(item);
  for (let i = heap.length - 1; i > 0; ) {
    const parent = (i - 1) >> 1;
    if (byDue(heap[i]!, heap[parent]!) >= 0) break;
    [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
    i = parent;
  }
}

function popHeap(heap: PendingTimer[]): void {
  const last = heap.pop()!;
  if (heap.length === 0) return;
  heap[0] = last;
  for (let i = 0; ; ) {
    const l = 2 * i + 1;
    const r = l + 1;
    let least = i;
    if (l < heap.length && byDue(heap[l]!, heap[least]!) < 0) least = l;
    if (r < heap.length && byDue(heap[r]!, heap[least]!) < 0) least = r;
    if (least === i) return;
    [heap[i], heap[least]] = [heap[least]!, heap[i]!];
    i = least;
  }
}

function viaJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** `90061001` -> `1d1h1m1s1ms`; negative times get a leading `-`; 0 -> `0`. */
export function fmt(ms: number): string {
  if (ms === 0) return '0';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  let out = '';
  for (const [unit, size] of [['d', d], ['h', h], ['m', m], ['s', s], ['ms', 1]] as const) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) out += `${n}${unit}`;
  }
  return sign + out;
}

/**
 * A send as one line, for tables: `<when it was due> <user> <channel> <template>`, plus
 * `(sent <when>)` when the harness handled it later than it was due (a late event or timer).
 */
export function describeSend(sent: Sent, origin: number): string {
  const due = sent.message.at - origin;
  return `${fmt(due)} ${sent.profileId} ${sent.message.channel} ${sent.message.template}${sent.now === due ? '' : ` (sent ${fmt(sent.now)})`}`;
}

/** A record as one line: `<at> <user> <kind> <trigger>[ reason][ experiment=variant]`. */
export function describeRecord(r: Recorded, origin: number): string {
  const { kind, triggerId, at, reason, experiment, variant } = r.record;
  const detail = [reason, experiment ? `${experiment}=${variant}` : variant].filter((x) => x !== undefined).join(' ');
  return `${fmt(at - origin)} ${r.profileId} ${kind} ${triggerId}${detail ? ` ${detail}` : ''}`;
}
