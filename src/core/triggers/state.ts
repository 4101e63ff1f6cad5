/**
 * What the engine remembers per user (profile) between inputs, and what it asks the world to do.
 * Plain JSON: stores persist it as it is, and it survives a restart of the process.
 *
 * Glossary
 * - run: one pass of a user through one trigger, from its entry event to the end of its steps or
 *   an exit. A user has at most one run per trigger at a time; it keeps the trigger version it
 *   started with.
 * - waiting: a run is parked on a `wait`, `wait_until` or `wait_for` node until its timer fires
 *   (or, for `wait_for`, a matching event arrives); `timerId` names the durable timer.
 * - waiting gauge: how many runs wait at each (trigger, step), kept as a counter beside the states
 *   (`waiting` effects): the live "N waiting" of trigger reports, read without a scan of the states.
 *   It is derived from the states, never told: `waitingChanges` compares the runs waiting before an
 *   input with those waiting after it (transition.ts, "The waiting gauge").
 * - goal watch: after its steps end, a run whose conversion window is still open is remembered
 *   only to record the goal if it is reached in time.
 * - unopened watch: a message of a step with `fallback_if_unopened`, from its send until it is
 *   opened or clicked, its run exits, its delivery fails (or goes to a fallback channel), or its
 *   fallback goes out; once it is delivered on its step's channel, a timer sends the fallback at
 *   the deadline. It outlives a run that completes.
 * - recent: the user's last few events that some run could wait for or exit on, so an event that
 *   arrived just before the run reached its `wait_for` (or before its entry event, reordered)
 *   still counts.
 */
import type { EventType, JsonObject } from '../event.js';
import type { Channel } from '../trigger-definition.js';

/** The parts of an event a run keeps: enough for conditions and templates. */
export interface EventSummary {
  messageId: string;
  type: EventType;
  name: string;
  properties: JsonObject;
  timestamp: number;
}

export interface Waiting {
  node: string;
  timerId: string;
  dueAt: number;
  /** When the wait began (for wait_for, the start of its lookback). */
  since: number;
}

export interface Run {
  /** `<trigger id>:<hash of the entry event's messageId>` (see `runIdOf`), unique within the user. */
  id: string;
  triggerId: string;
  version: string;
  /** The entry event's time. */
  startedAt: number;
  entry: EventSummary;
  waiting: Waiting | null;
  /** Experiment id -> variant name ("holdout" for the held-out). */
  variants: Record<string, string>;
  /** Ids of the send nodes this run has sent: never the same step twice. */
  sent: string[];
  goalReached: boolean;
}

export interface GoalWatch {
  runId: string;
  version: string;
  startedAt: number;
  until: number;
  variants: Record<string, string>;
}

export interface UnopenedWatch {
  triggerId: string;
  version: string;
  runId: string;
  stepId: string;
  /** The run's start: exit events before it do not stop the watch. */
  startedAt: number;
  /** The run's entry event and variants, for the fallback message. */
  entry: EventSummary;
  variants: Record<string, string>;
  /** When the message was decided (the transition's `now`); unreported this long after, the watch is forgotten. */
  sentAt: number;
  /** Set once the message is delivered on its step's channel: the fallback goes out at `dueAt` unless it is opened by then. */
  timer: { id: string; dueAt: number } | null;
}

export interface TriggerState {
  /** Active runs by trigger id. */
  runs: Record<string, Run>;
  /** When the last run of each trigger started, for re-entry rules. */
  lastEntryAt: Record<string, number>;
  /** The messageId of the event that started the last run of each trigger: a repeat of it starts none. */
  lastEntryIds: Record<string, string>;
  /** Finished runs whose goal window is still open, by trigger id. */
  goalWatches: Record<string, GoalWatch>;
  /** Messages awaiting an open before their unopened fallback, by message key. */
  unopened: Record<string, UnopenedWatch>;
  /** Recent watched events, oldest first. */
  recent: EventSummary[];
  /** The user's time zone, last seen on their profile. */
  timezone: string | null;
}

export const emptyTriggerState = (): TriggerState => ({ runs: {}, lastEntryAt: {}, lastEntryIds: {}, goalWatches: {}, unopened: {}, recent: [], timezone: null });

/** Watches are replaced, never changed in place, so the copy of their record is shallow. */
export function cloneTriggerState(s: TriggerState): TriggerState {
  const runs: Record<string, Run> = {};
  for (const [k, r] of Object.entries(s.runs)) runs[k] = { ...r, waiting: r.waiting && { ...r.waiting }, variants: { ...r.variants }, sent: [...r.sent] };
  // States stored before unopened watches existed have none: spreading undefined gives {}.
  return { runs, lastEntryAt: { ...s.lastEntryAt }, lastEntryIds: { ...s.lastEntryIds }, goalWatches: { ...s.goalWatches }, unopened: { ...s.unopened }, recent: [...s.recent], timezone: s.timezone };
}

/** A message to send, as written to the outbox. `key` makes it at most once per (user, run, step). */
export interface OutboundMessage {
  key: string;
  profileId: string;
  triggerId: string;
  version: string;
  runId: string;
  stepId: string;
  channel: Channel;
  fallback: readonly Channel[];
  template: string;
  topic: string;
  priority: number;
  variants: Record<string, string>;
  /** The run's entry event, for the template. */
  entry: EventSummary;
  /** When the step was due. */
  at: number;
}

export const RecordKind = {
  entered: 'entered',
  exited: 'exited',
  completed: 'completed',
  goal: 'goal',
  assigned: 'assigned',
  delivery: 'delivery',
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

/** Something worth counting: what trigger reports and journey analytics are built from. */
export interface RunRecord {
  kind: RecordKind;
  triggerId: string;
  runId: string;
  version: string;
  at: number;
  /** exited: why (`exit_on`, `merged`, `step_removed`, `step_limit`); delivery: the outcome. */
  reason?: string;
  /** assigned: experiment id and variant. */
  experiment?: string;
  variant?: string;
  /** The node concerned. */
  stepId?: string;
}

export interface TimerRequest {
  id: string;
  dueAt: number;
  payload: string;
}

/** The waiting gauge of a step moves by `delta` (+1 per run that began waiting there, −1 per run that stopped). */
export interface WaitingChange {
  triggerId: string;
  stepId: string;
  delta: number;
}

export type Effect =
  | { type: 'schedule'; timer: TimerRequest }
  | { type: 'cancel'; timerId: string }
  | { type: 'send'; message: OutboundMessage }
  | { type: 'record'; record: RunRecord }
  | ({ type: 'waiting' } & WaitingChange);

/** How counters and reports name a run's variants: `experiment=variant` pairs, comma-separated; '' without any. */
export function variantLabel(variants: Readonly<Record<string, string>>): string {
  return Object.entries(variants)
    .map(([e, v]) => `${e}=${v}`)
    .join(',');
}

/**
 * What moves the waiting gauge from the states `before` to the state `after`: per (trigger, step),
 * the runs waiting there after minus those waiting there before, in first-seen order, without the
 * steps that did not change. `before` is a list because a merge starts from two states (the
 * profile's and the one merged into it) and ends with one; erasing a state is `after` null.
 */
export function waitingChanges(before: readonly (TriggerState | null)[], after: TriggerState | null): WaitingChange[] {
  const changes = new Map<string, WaitingChange>();
  const add = (state: TriggerState | null, delta: number): void => {
    for (const run of Object.values(state?.runs ?? {})) {
      if (!run.waiting) continue;
      const id = `${run.triggerId}\u0000${run.waiting.node}`;
      const c = changes.get(id);
      if (c) c.delta += delta;
      else changes.set(id, { triggerId: run.triggerId, stepId: run.waiting.node, delta });
    }
  };
  for (const state of before) add(state, -1);
  add(after, +1);
  return [...changes.values()].filter((c) => c.delta !== 0);
}

export interface TimerPayload {
  /** Trigger id. */
  t: string;
  /** Run id. */
  r: string;
  /** Node id. */
  n: string;
  /** Only on the timer of an unopened watch: the key of the message watched. */
  k?: string;
}
