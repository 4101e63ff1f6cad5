/**
 * The triggers the engine runs: the current version of each, indexed by entry event, plus every
 * older version a run in flight still uses. Immutable; loading new definitions builds a new one.
 */
import { defaultLookbackMs, type TriggerProgram } from './program.js';

export interface Catalog {
  /** Current, enabled triggers whose entry is this event name (see `matchName`). */
  entriesFor(name: string): readonly TriggerProgram[];
  /** A trigger at a given version, current or retained for runs in flight. */
  version(triggerId: string, version: string): TriggerProgram | undefined;
  /**
   * Whether an event of this name can start, move or end any run, or stop an unopened fallback
   * (`openedEvents`, when some version has one): if not, the engine may skip it.
   */
  concerns(name: string): boolean;
  /** The current version of a trigger, enabled or not. */
  current(triggerId: string): TriggerProgram | undefined;
  readonly triggers: readonly TriggerProgram[];
  /** Event names some run may wait for, exit on or convert on: only these are remembered for lookback. */
  readonly watchedNames: ReadonlySet<string>;
  /**
   * How long recent watched events are kept: the longest lookback of any wait_for, and at least the
   * default lookback, so an exit event that overtook its entry event is still seen (transition.ts, 3.).
   */
  readonly maxLookbackMs: number;
}

/** Track events that say the user saw a message (engine/message-events.ts, with `messageKey`): they stop its unopened fallback. */
export const openedEvents: ReadonlySet<string> = new Set(['Message Opened', 'Message Clicked']);

/** `current` are the triggers as defined now; `retained` are older versions runs may still be on. */
export function buildCatalog(current: readonly TriggerProgram[], retained: readonly TriggerProgram[] = []): Catalog {
  const byEntry = new Map<string, TriggerProgram[]>();
  const byVersion = new Map<string, TriggerProgram>();
  const byId = new Map<string, TriggerProgram>();
  const watched = new Set<string>();
  let maxLookbackMs = defaultLookbackMs;
  let opensMatter = false;
  for (const p of [...retained, ...current]) {
    byVersion.set(`${p.id}@${p.version}`, p);
    for (const m of p.exitOn) watched.add(m.event);
    if (p.goal) watched.add(p.goal.event);
    for (const node of p.nodes.values()) {
      if (node.kind === 'send' && node.unopenedFallback) opensMatter = true;
      if (node.kind !== 'wait_for') continue;
      for (const m of node.matches) watched.add(m.event);
      maxLookbackMs = Math.max(maxLookbackMs, node.lookbackMs);
    }
  }
  for (const p of current) {
    byId.set(p.id, p);
    if (!p.enabled) continue;
    let list = byEntry.get(p.entry.event);
    if (!list) byEntry.set(p.entry.event, (list = []));
    list.push(p);
  }
  // Higher priority first, so its sends come first when a cap lets only some through.
  for (const list of byEntry.values()) list.sort((a, b) => b.priority - a.priority || (a.id < b.id ? -1 : 1));
  return {
    entriesFor: (name) => byEntry.get(name) ?? [],
    concerns: (name) => byEntry.has(name) || watched.has(name) || (opensMatter && openedEvents.has(name)),
    version: (id, version) => byVersion.get(`${id}@${version}`),
    current: (id) => byId.get(id),
    triggers: current,
    watchedNames: watched,
    maxLookbackMs,
  };
}
