/**
 * The waiting gauge (state.ts, "waiting gauge"; transition.ts, "The waiting gauge"): every way a
 * run starts or stops waiting at a step moves the gauge of that step once, by the `waiting`
 * effects of the transition that did it — a wait's timer, the awaited event, a wait_for's timeout,
 * an exit, a version gone, a merge — and an erasure takes a state's waits off with
 * `waitingChanges`. The random histories of properties.test.ts check the same over many inputs.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { emptyTriggerState, waitingChanges, type Effect, type Run, type TriggerState } from '../../../src/core/triggers/state.js';
import { h, Harness, m, triggerFrom } from './harness.js';

const definition = `
id: follow
entry: { event: signed_up }
reentry: always
exit_on:
  - event: account_closed
steps:
  - id: pause
    wait: 10m
  - id: await-upgrade
    wait_for:
      - event: upgraded
    timeout: 1h
  - wait: { until: "09:00" }
  - send: email
    template: hello
`;
const follow = triggerFrom(definition);
/** The same trigger edited: its runs in flight lose their version when it is not retained. */
const followEdited = triggerFrom(definition.replace('wait: 10m', 'wait: 20m'));

const gauge = (harness: Harness) => Object.fromEntries(harness.waiting);
const moves = (effects: readonly Effect[]) => effects.flatMap((e) => (e.type === 'waiting' ? [`${e.stepId} ${e.delta > 0 ? '+' : ''}${e.delta}`] : []));

function started(...users: string[]): Harness {
  const harness = new Harness({ triggers: [follow] });
  for (const user of users) harness.submit({ user, name: 'signed_up', t: 0 });
  return harness;
}

describe('the waiting gauge', () => {
  test('a run counts at each step it waits at, in turn, and nowhere once its steps end', () => {
    const harness = new Harness({ triggers: [follow] });
    assert.deepEqual(moves(harness.submit({ user: 'ann', name: 'signed_up', t: 0 })), ['pause +1']);
    assert.deepEqual(gauge(harness), { 'follow/pause': 1 });
    harness.advanceTo(10 * m);
    assert.deepEqual(gauge(harness), { 'follow/await-upgrade': 1 }, 'the timer moved it on: -1 at pause, +1 at the wait_for');
    assert.deepEqual(moves(harness.submit({ user: 'ann', name: 'upgraded', t: 20 * m })), ['await-upgrade -1', '2 +1'], 'the awaited event');
    harness.advanceTo(21 * h);
    assert.equal(harness.takeSends().length, 1);
    assert.deepEqual(gauge(harness), {}, 'sent and done at 09:00');
    assert.deepEqual(harness.waitingInStates(), new Map());
  });

  test("a wait_for's timeout moves the run on once", () => {
    const harness = started('ann');
    harness.advanceTo(10 * m + 1 * h);
    assert.deepEqual(gauge(harness), { 'follow/2': 1 });
  });

  test('an exit takes the run off the step it waits at; the others stay', () => {
    const harness = started('ann', 'bob');
    assert.deepEqual(gauge(harness), { 'follow/pause': 2 });
    assert.deepEqual(moves(harness.submit({ user: 'ann', name: 'account_closed', t: 5 * m })), ['pause -1']);
    assert.deepEqual(gauge(harness), { 'follow/pause': 1 });
    harness.advanceTo(10 * m);
    assert.deepEqual(gauge(harness), { 'follow/await-upgrade': 1 });
  });

  test('a run whose version is gone leaves the gauge when its timer fires, or at its next event', () => {
    const harness = started('ann', 'bob');
    harness.setCatalog([followEdited]);
    assert.deepEqual(moves(harness.submit({ user: 'bob', name: 'browsed', t: 1 * m })), ['pause -1'], 'an event: the run ends (step_removed)');
    harness.advanceTo(10 * m);
    assert.deepEqual(gauge(harness), {}, 'the timer: the run ends (step_removed)');
    assert.deepEqual(
      harness.records.filter((r) => r.record.kind === 'exited').map((r) => [r.profileId, r.record.reason]),
      [['bob', 'step_removed'], ['ann', 'step_removed']],
    );
  });

  test('a merge that moves a run moves no gauge; one that merges a run away takes it off', () => {
    const moved = started('anon');
    assert.deepEqual(moves(moved.merge('anon', 'ann')), [], 'the run waits at the same step, now on ann');
    assert.deepEqual(gauge(moved), { 'follow/pause': 1 });
    moved.advanceTo(10 * m);
    assert.deepEqual(gauge(moved), { 'follow/await-upgrade': 1 }, "its timer, now ann's, moves it on");

    const both = started('anon', 'ann');
    assert.deepEqual(moves(both.merge('anon', 'ann')), ['pause -1'], "ann's run goes on; anon's is merged away");
    assert.deepEqual(gauge(both), { 'follow/pause': 1 });
    assert.deepEqual(both.waitingInStates(), both.waiting);
  });

  test('an input that changes no wait moves nothing; a timer handed back again moves nothing', () => {
    const harness = started('ann');
    assert.deepEqual(moves(harness.submit({ user: 'ann', name: 'browsed', t: 1 * m })), []);
    harness.advanceTo(10 * m);
    const [timerId] = [...harness.timers.keys()];
    assert.deepEqual(harness.redeliver(timerId!), []);
    assert.deepEqual(gauge(harness), { 'follow/await-upgrade': 1 });
  });
});

describe('waitingChanges', () => {
  const run = (triggerId: string, node: string | null): Run => ({
    id: `${triggerId}:1`,
    triggerId,
    version: 'v1',
    startedAt: 0,
    entry: { messageId: 'm1', type: 'track', name: 'e', properties: {}, timestamp: 0 },
    waiting: node === null ? null : { node, timerId: `t/${node}`, dueAt: 1, since: 0 },
    variants: {},
    sent: [],
    goalReached: false,
  });
  const stateWith = (...runs: Run[]): TriggerState => ({ ...emptyTriggerState(), runs: Object.fromEntries(runs.map((r) => [r.triggerId, r])) });

  test('is the runs waiting after minus before, per (trigger, step), without the steps that did not change', () => {
    const before = stateWith(run('a', 'w1'), run('b', 'w1'), run('c', null));
    const after = stateWith(run('a', 'w2'), run('b', 'w1'), run('c', 'w1'));
    assert.deepEqual(waitingChanges([before], after), [
      { triggerId: 'a', stepId: 'w1', delta: -1 },
      { triggerId: 'a', stepId: 'w2', delta: 1 },
      { triggerId: 'c', stepId: 'w1', delta: 1 },
    ]);
    assert.deepEqual(waitingChanges([before], before), []);
  });

  test('an erased state (after: null) takes every wait it had off; two states before (a merge) count both', () => {
    assert.deepEqual(waitingChanges([stateWith(run('a', 'w1'), run('b', 'w2'))], null), [
      { triggerId: 'a', stepId: 'w1', delta: -1 },
      { triggerId: 'b', stepId: 'w2', delta: -1 },
    ]);
    assert.deepEqual(waitingChanges([stateWith(run('a', 'w1')), stateWith(run('a', 'w1'))], stateWith(run('a', 'w1'))), [{ triggerId: 'a', stepId: 'w1', delta: -1 }]);
    assert.deepEqual(waitingChanges([null], null), []);
  });
});
