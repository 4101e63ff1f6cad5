/**
 * A trigger definition compiled for the engine: conditions compiled once, durations in ms, and the
 * nested step lists flattened into nodes that name their successor. A node's id is the step's own
 * `id` when it has one, else its path (`2`, `0.on_timeout.1`, `3.branch.0.0`), so runs in flight
 * find their step again after an edit that keeps ids.
 *
 * Node kinds and where they go next:
 *   send        -> next (with `fallback_if_unopened`, the unopened message's fallback: transition.ts)
 *   wait        -> (timer) -> next
 *   wait_for    -> (matching event) -> onEvent, or (timer) -> onTimeout; each defaults to next
 *   branch      -> first arm whose condition holds, else `else`, else next
 *   experiment  -> one variant's first node (or, for the holdout, the end of the steps)
 * `next` null is the end of the steps. A nested list ends by going to its parent's next.
 */
import { parseDuration } from '../duration.js';
import { compileCondition, type Condition } from '../expression/index.js';
import type { Channel, StepDefinition, TriggerDefinition } from '../trigger-definition.js';
import { canonicalJson, hash53 } from './hash.js';

export interface EventMatcher {
  /** The track event's name, or page, screen, identify, group, alias. */
  readonly event: string;
  readonly when: Condition | null;
}

/**
 * `fallback_if_unopened`: a message delivered on the step's channel and not opened within `afterMs`
 * goes out again on `channels[0]`, with the rest as its fallbacks. `channels` are the step's
 * fallbacks other than its own channel, never empty.
 */
export interface UnopenedFallback {
  readonly afterMs: number;
  readonly channels: readonly [Channel, ...Channel[]];
}

export type Reentry = { kind: 'never' } | { kind: 'always' } | { kind: 'cooldown'; ms: number };

interface NodeBase {
  readonly id: string;
  readonly next: string | null;
}

export type ProgramNode =
  | (NodeBase & { kind: 'send'; channel: Channel; template: string; fallback: readonly Channel[]; topic: string; unopenedFallback: UnopenedFallback | null })
  | (NodeBase & { kind: 'wait'; ms: number })
  | (NodeBase & { kind: 'wait_until'; localTime: string })
  | (NodeBase & { kind: 'wait_for'; matches: readonly EventMatcher[]; timeoutMs: number; lookbackMs: number; onEvent: string | null; onTimeout: string | null })
  | (NodeBase & { kind: 'branch'; arms: readonly { when: Condition | null; first: string | null }[] })
  | (NodeBase & { kind: 'experiment'; experimentId: string; holdoutPercent: number; variants: readonly { name: string; weight: number; first: string | null }[] });

export interface TriggerProgram {
  readonly id: string;
  readonly name: string;
  /** Changes whenever the definition does: a run keeps the version it started with. */
  readonly version: string;
  readonly enabled: boolean;
  readonly priority: number;
  readonly entry: EventMatcher;
  readonly reentry: Reentry;
  readonly exitOn: readonly EventMatcher[];
  readonly goal: (EventMatcher & { withinMs: number }) | null;
  readonly first: string | null;
  readonly nodes: ReadonlyMap<string, ProgramNode>;
  readonly definition: TriggerDefinition;
}

export const defaultLookbackMs = 5000;
export const defaultPriority = 50;
export const defaultTopic = 'marketing';

/** Compiles a definition that passed validation (config/triggers.ts); throws on one that did not. */
export function compileTrigger(definition: TriggerDefinition): TriggerProgram {
  const nodes = new Map<string, ProgramNode>();
  const first = compileSteps(definition.steps, '', null, nodes);
  const reentry: Reentry =
    definition.reentry === undefined || definition.reentry === 'never'
      ? { kind: 'never' }
      : definition.reentry === 'always'
        ? { kind: 'always' }
        : { kind: 'cooldown', ms: ms(definition.reentry) };
  return {
    id: definition.id,
    name: definition.name ?? definition.id,
    version: hash53(canonicalJson(definition)).toString(36),
    enabled: definition.enabled ?? true,
    priority: definition.priority ?? defaultPriority,
    entry: matcher(definition.entry),
    reentry,
    exitOn: (definition.exit_on ?? []).map(matcher),
    goal: definition.goal ? { ...matcher(definition.goal), withinMs: ms(definition.goal.within) } : null,
    first,
    nodes,
    definition,
  };
}

/** Compiles a list of steps ending in `after`; returns the id of its first node. */
function compileSteps(steps: readonly StepDefinition[], prefix: string, after: string | null, nodes: Map<string, ProgramNode>): string | null {
  const ids = steps.map((s, i) => s.id ?? `${prefix}${i}`);
  steps.forEach((step, i) => {
    const id = ids[i]!;
    const next = ids[i + 1] ?? after;
    const path = `${prefix}${i}.`;
    nodes.set(id, compileStep(step, id, next, path, nodes));
  });
  return ids[0] ?? after;
}

function compileStep(step: StepDefinition, id: string, next: string | null, path: string, nodes: Map<string, ProgramNode>): ProgramNode {
  if ('send' in step) {
    const fallback = step.fallback ?? [];
    return { kind: 'send', id, next, channel: step.send, template: step.template, fallback, topic: step.topic ?? defaultTopic, unopenedFallback: unopenedFallback(step.send, fallback, step.fallback_if_unopened) };
  }
  if ('wait' in step) {
    return typeof step.wait === 'string' ? { kind: 'wait', id, next, ms: ms(step.wait) } : { kind: 'wait_until', id, next, localTime: step.wait.until };
  }
  if ('wait_for' in step) {
    return {
      kind: 'wait_for',
      id,
      next,
      matches: step.wait_for.map(matcher),
      timeoutMs: ms(step.timeout),
      lookbackMs: step.lookback === undefined ? defaultLookbackMs : ms(step.lookback),
      onEvent: step.on_event ? compileSteps(step.on_event, `${path}on_event.`, next, nodes) : next,
      onTimeout: step.on_timeout ? compileSteps(step.on_timeout, `${path}on_timeout.`, next, nodes) : next,
    };
  }
  if ('branch' in step) {
    return {
      kind: 'branch',
      id,
      next,
      arms: step.branch.map((arm, j) =>
        'else' in arm
          ? { when: null, first: compileSteps(arm.else, `${path}branch.${j}.`, next, nodes) }
          : { when: condition(arm.when), first: compileSteps(arm.steps, `${path}branch.${j}.`, next, nodes) },
      ),
    };
  }
  const e = step.experiment;
  return {
    kind: 'experiment',
    id,
    next,
    experimentId: e.id,
    holdoutPercent: e.holdout ?? 0,
    variants: e.variants.map((v) => ({ name: v.name, weight: v.weight ?? 1, first: compileSteps(v.steps, `${path}${v.name}.`, next, nodes) })),
  };
}

function unopenedFallback(channel: Channel, fallback: readonly Channel[], after: string | undefined): UnopenedFallback | null {
  const [first, ...rest] = fallback.filter((c) => c !== channel);
  return after === undefined || first === undefined ? null : { afterMs: ms(after), channels: [first, ...rest] };
}

function matcher(m: { event: string; when?: string | undefined }): EventMatcher {
  return { event: m.event, when: m.when === undefined ? null : condition(m.when) };
}

function condition(source: string): Condition {
  const compiled = compileCondition(source);
  if (!compiled.ok) throw new Error(`condition "${source}" does not compile: ${compiled.error.message}`);
  return compiled.condition;
}

function ms(duration: string): number {
  const parsed = parseDuration(duration);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.ms;
}
