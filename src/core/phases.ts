/**
 * Behavioral phases: where a user stands (exploring, considering, hesitating, disengaged …), named
 * by ordered rules from nudge.yaml over the profile and the time. Pure.
 *
 * Glossary
 * - rule: `{ name, when }` from nudge.yaml; at a time t the first whose condition holds names the
 *   phase, else the last phase, which has no condition (the fallback): a user with events always
 *   has a phase.
 * - A condition reads `user` (the profile) and `now` (t), never `event`: the phase is a function of
 *   the profile and the time alone, so it can be asked at any instant with the same answer live,
 *   after a replay and in a backtest.
 * - stored phase: `computed.phase` and `computed.phaseSince`, as of `computed.lastSeenAt`. The fold
 *   updates them on every event (t = the latest event time the profile has seen; no clock).
 * - time-driven change: with no new event, a rule on `now` (inactivity, dwell) may start to hold.
 *   No event shows it, so it is found when asked (`phaseAt`, `withPhaseAt`) or at the next event
 *   (`advancePhase`): by bisection over the time since the stored phase, to the millisecond. That is
 *   exact for rules that, once true, stay true until the next event (as `now - x >= duration(…)`
 *   does); a phase that begins and ends between two events is not on the timeline.
 * - phase change: `{ from, to, at }`; the fold returns those up to and by each event, and the
 *   ingest fold records them on the stored event (`context.phaseChanges`).
 */
import type { JsonObject } from './event.js';
import { compileCondition, type Condition } from './expression/index.js';
import { parse, type Ast } from './expression/parser.js';
import { positionOf } from './expression/syntax-failure.js';
import type { Profile } from './profile.js';

export interface PhaseDefinition {
  name: string;
  /** A condition over `user` and `now` (docs/conditions.md); absent on the last phase only. */
  when?: string | undefined;
}

export interface PhaseRule {
  readonly name: string;
  readonly when: Condition;
}

export interface PhaseRules {
  /** In order: the first that holds names the phase. */
  readonly rules: readonly PhaseRule[];
  /** The phase when none holds. */
  readonly fallback: string;
  /** Whether any rule reads `now`: if none does, a phase changes only at events. */
  readonly timed: boolean;
}

/** A phase and since when (null for a profile without events). */
export interface PhaseState {
  phase: string | null;
  since: number | null;
}

/** One change of phase: `from` is null for a profile's first. `at` in ms since the epoch. */
export interface PhaseChange {
  from: string | null;
  to: string;
  at: number;
}

export interface PhaseProblem {
  /** Relative to the list of phases: `[2, 'when']`. */
  path: (string | number)[];
  message: string;
  /** Where in the condition's text (1-based), for a problem inside it. */
  within?: { line: number; column: number };
}

export function compilePhases(definitions: readonly PhaseDefinition[]): { ok: true; phases: PhaseRules } | { ok: false; problems: PhaseProblem[] } {
  const problems: PhaseProblem[] = [];
  const rules: PhaseRule[] = [];
  const seen = new Set<string>();
  let timed = false;
  definitions.forEach((d, i) => {
    if (seen.has(d.name)) problems.push({ path: [i, 'name'], message: `phase "${d.name}" is named twice` });
    seen.add(d.name);
    const last = i === definitions.length - 1;
    if (d.when === undefined) {
      if (!last) problems.push({ path: [i], message: 'needs `when`: only the last phase, the fallback, has none' });
      return;
    }
    if (last) {
      problems.push({ path: [i, 'when'], message: 'the last phase is the fallback, taken when no other holds: give it no `when` (add one without it after this)' });
      return;
    }
    const compiled = compileCondition(d.when);
    if (!compiled.ok) {
      const { message, line, column } = compiled.error;
      problems.push({ path: [i, 'when'], message, within: { line, column } });
      return;
    }
    const free = freeVariables(parse(d.when));
    const event = free.get('event');
    if (event !== undefined) {
      problems.push({
        path: [i, 'when'],
        message: 'a phase rule reads `user` and `now` only, not `event`: a phase must be known at any time, also between events',
        within: positionOf(d.when, event),
      });
      return;
    }
    if (free.has('now')) timed = true;
    rules.push({ name: d.name, when: compiled.condition });
  });
  const fallback = definitions[definitions.length - 1]?.name;
  if (problems.length > 0 || fallback === undefined) return { ok: false, problems };
  return { ok: true, phases: { rules, fallback, timed } };
}

const noEvent: JsonObject = Object.freeze({});

/** The phase of `profile` at time `now`. */
function phaseOf(profile: Profile, phases: PhaseRules, now: number): string {
  const activation = { event: noEvent, user: profile, now };
  for (const rule of phases.rules) if (rule.when.test(activation)) return rule.name;
  return phases.fallback;
}

/** The stored phase, or for a profile folded before phases were configured, its phase then. */
function storedPhase(profile: Profile, phases: PhaseRules): PhaseState {
  const c = profile.computed;
  if (c.phase != null) return { phase: c.phase, since: c.phaseSince ?? c.lastSeenAt };
  return c.eventCount === 0 ? { phase: null, since: null } : { phase: phaseOf(profile, phases, c.lastSeenAt), since: c.lastSeenAt };
}

/**
 * The changes of phase of an unchanging `profile` in (after, until], whose phase at `after` was
 * `from`, in order. The last one's `to` is always the phase at `until`.
 */
function changesBetween(profile: Profile, phases: PhaseRules, from: string | null, after: number, until: number): PhaseChange[] {
  const changes: PhaseChange[] = [];
  const final = phaseOf(profile, phases, until);
  let current = from;
  let lo = after;
  while (current !== final) {
    if (changes.length > phases.rules.length) {
      // Only rules that go back and forth without an event get here: settle on where they end.
      changes.push({ from: current, to: final, at: until });
      break;
    }
    let hi = until;
    let to = final;
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2);
      const name = phaseOf(profile, phases, mid);
      if (name === current) {
        lo = mid;
      } else {
        hi = mid;
        to = name;
      }
    }
    changes.push({ from: current, to, at: hi });
    current = to;
    lo = hi;
  }
  return changes;
}

/** The phase at `now` and since when; `now` before the latest event gives the stored phase. */
export function phaseAt(profile: Profile, phases: PhaseRules, now: number): PhaseState {
  const stored = storedPhase(profile, phases);
  if (stored.phase === null || !phases.timed || now <= profile.computed.lastSeenAt) return stored;
  const last = changesBetween(profile, phases, stored.phase, profile.computed.lastSeenAt, now).at(-1);
  return last ? { phase: last.to, since: last.at } : stored;
}

/**
 * The profile as it is at `now`: its phase moved on by the time passed (the same object when it
 * did not move). For whatever reads a profile later than its latest event: the API, and conditions
 * evaluated when a timer fires.
 */
export function withPhaseAt(profile: Profile, phases: PhaseRules | null, now: number): Profile {
  if (!phases) return profile;
  const { phase, since } = phaseAt(profile, phases, now);
  const c = profile.computed;
  if (phase === c.phase && since === c.phaseSince) return profile;
  return { ...profile, computed: { ...c, phase, phaseSince: since } };
}

/**
 * The time-driven changes of `profile` (before an event is applied to it) up to `until`, the
 * time the event brings the profile to. Empty when nothing can have changed.
 */
export function phaseChangesUntil(profile: Profile, phases: PhaseRules, until: number): PhaseChange[] {
  const c = profile.computed;
  if (!phases.timed || c.eventCount === 0 || until <= c.lastSeenAt) return [];
  return changesBetween(profile, phases, storedPhase(profile, phases).phase, c.lastSeenAt, until);
}

/**
 * After an event was applied to `draft` (in place): sets its phase as of `computed.lastSeenAt`.
 * `before` are the time-driven changes up to the event (`phaseChangesUntil`, taken before it was
 * applied); returns them with the event's own change, if any: what the event's timeline shows.
 */
export function advancePhase(draft: Profile, phases: PhaseRules, before: PhaseChange[]): PhaseChange[] {
  const c = draft.computed;
  const last = before.at(-1);
  const current: PhaseState = last ? { phase: last.to, since: last.at } : { phase: c.phase ?? null, since: c.phaseSince ?? null };
  const phase = phaseOf(draft, phases, c.lastSeenAt);
  c.phase = phase;
  if (phase === current.phase) {
    c.phaseSince = current.since;
    return before;
  }
  c.phaseSince = c.lastSeenAt;
  before.push({ from: current.phase, to: phase, at: c.lastSeenAt });
  return before;
}

/**
 * The variables an expression reads, each with the offset of its first use; the variables of
 * macros (`list.exists(x, …)`) are not free inside their macro.
 */
function freeVariables(ast: Ast): Map<string, number> {
  const free = new Map<string, number>();
  const visit = (node: Ast, bound: ReadonlySet<string>): void => {
    switch (node.kind) {
      case 'literal':
        return;
      case 'ident':
        if (!bound.has(node.name) && !free.has(node.name)) free.set(node.name, node.at);
        return;
      case 'select':
        return visit(node.operand, bound);
      case 'index':
        visit(node.operand, bound);
        return visit(node.index, bound);
      case 'call': {
        if (node.target) visit(node.target, bound);
        const variable = node.args[0];
        if (node.target && comprehensions.has(node.name) && variable?.kind === 'ident') {
          const inner = new Set(bound).add(variable.name);
          for (const arg of node.args.slice(1)) visit(arg, inner);
          return;
        }
        for (const arg of node.args) visit(arg, bound);
        return;
      }
      case 'unary':
        return visit(node.operand, bound);
      case 'binary':
        visit(node.left, bound);
        return visit(node.right, bound);
      case 'logical':
        for (const operand of node.operands) visit(operand, bound);
        return;
      case 'conditional':
        visit(node.test, bound);
        visit(node.then, bound);
        return visit(node.otherwise, bound);
      case 'list':
        for (const element of node.elements) visit(element, bound);
        return;
      case 'map':
        for (const entry of node.entries) {
          visit(entry.key, bound);
          visit(entry.value, bound);
        }
        return;
    }
  };
  visit(ast, new Set());
  return free;
}

const comprehensions = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);
