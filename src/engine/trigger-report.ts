/**
 * A trigger's numbers, from the engine store's counters: how many users entered, left (and why),
 * finished, converted; which variants they got; what was sent on which step and channel, and
 * what became of it; how many runs wait at each step now.
 *
 * All but `waiting` only grow. `waiting` is the waiting gauge (core/triggers/state.ts): it goes up
 * and down, and is read here as kept, without looking at a single state, so a report costs the
 * same with a million users. It is shown never below 0 and without the steps where none wait.
 */
import type { CounterKey } from '../ports/engine-store.js';

export interface TriggerReport {
  entered: number;
  completed: number;
  goals: number;
  /** By reason: exit_on, merged, step_removed … */
  exited: Record<string, number>;
  /** By `experiment=variant`. */
  assigned: Record<string, number>;
  /** Goals by variant label (empty label: no experiment). */
  goalsByVariant: Record<string, number>;
  sent: { stepId: string; channel: string; variant: string; count: number }[];
  /** By outcome: `delivered:<channel>`, `failed`. */
  deliveries: Record<string, number>;
  /**
   * Runs waiting now (at a `wait`, a `wait` until a local time, a `wait_for`), by step id (the node
   * ids of program.ts), over every version of the trigger: a run on an older version is counted at
   * its step's id. Steps where none wait are left out.
   */
  waiting: Record<string, number>;
}

export const emptyReport = (): TriggerReport => ({ entered: 0, completed: 0, goals: 0, exited: {}, assigned: {}, goalsByVariant: {}, sent: [], deliveries: {}, waiting: {} });

/** Reports per trigger id from a workspace's counters. */
export function reportsOf(counters: readonly { key: CounterKey; count: number }[]): Map<string, TriggerReport> {
  const reports = new Map<string, TriggerReport>();
  const add = (into: Record<string, number>, label: string, n: number): void => {
    into[label] = (into[label] ?? 0) + n;
  };
  for (const { key, count } of counters) {
    let r = reports.get(key.triggerId);
    if (!r) reports.set(key.triggerId, (r = emptyReport()));
    switch (key.kind) {
      case 'entered':
        r.entered += count;
        break;
      case 'completed':
        r.completed += count;
        break;
      case 'goal':
        r.goals += count;
        add(r.goalsByVariant, key.variant, count);
        break;
      case 'exited':
        add(r.exited, key.variant || 'unknown', count);
        break;
      case 'assigned':
        add(r.assigned, key.variant, count);
        break;
      case 'delivery':
        add(r.deliveries, key.variant, count);
        break;
      case 'sent':
        r.sent.push({ stepId: key.stepId, channel: key.channel, variant: key.variant, count });
        break;
      case 'waiting':
        if (count > 0) add(r.waiting, key.stepId, count);
        break;
    }
  }
  for (const r of reports.values()) r.sent.sort((a, b) => (a.stepId < b.stepId ? -1 : a.stepId > b.stepId ? 1 : 0) || (a.channel < b.channel ? -1 : 1));
  return reports;
}
