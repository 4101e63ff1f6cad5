/**
 * Properties of the trigger core over random histories: a few users browse, fill and empty carts,
 * buy, merge, open and click messages; events arrive late and twice; the dispatcher reports
 * deliveries (on the message's channel or a fallback, failed, deferred; late and twice); the timer
 * scheduler falls behind and catches up; an at-least-once timer store hands back timers that
 * already fired or were cancelled. Over the abandoned-cart and product-page-inactivity triggers,
 * their pushes with unopened fallbacks (email after 1h; email, then sms, after 30m), whatever
 * happens:
 *
 * - no send for a run after the input that ended it (its exit, its last step, its wait_for match),
 *   but for an unopened fallback after the last step; never one after an exit;
 * - never the same (user, run, step) twice, and never the same outbox key twice; a step's
 *   unopened fallback at most once, on another channel, exactly its duration after a report that
 *   the message was delivered on its own channel, and never after an open or click of it stamped
 *   by then, nor after an exit event of its trigger;
 * - every timer is scheduled once (per start of its run) and ends fired or cancelled, never both, never fired twice; a
 *   timer handed back after that does nothing;
 * - the timers pending are exactly those the users' runs and armed unopened watches wait on;
 * - the waiting gauge, as the core's `waiting` effects move it, equals after every input the runs
 *   the states have waiting at each step (so it is never negative, and a wait that ends by its
 *   timer, the awaited event, an exit, a merge or anything else comes off it exactly once), and
 *   is 0 everywhere once every run has ended;
 * - each step is due at its offset from the run's start (0, 10m, 24h10m; 3m), never sent early;
 * - one event starts at most one run of a trigger; a repeat of the event that started the last run
 *   of a trigger, within the hour, starts none (dropping other repeats is ingestion's
 *   deduplication by messageId, and the engine applies each logged event once), and a run started
 *   again by a late repeat decides its messages under the same keys, which the outbox takes once;
 * - the same history with the state written through JSON between inputs sends the same.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { openedEvents } from '../../../src/core/triggers/catalog.js';
import { d, exampleText, h, Harness, m, s, T0, triggerFrom, type Ev, type Recorded, type Sent } from './harness.js';

const cart = triggerFrom(exampleText('abandoned-cart').replace('fallback: [email, in_app]', 'fallback: [email]\n    fallback_if_unopened: 1h'), 'abandoned-cart.yaml');
const inactivity = triggerFrom(
  exampleText('product-page-inactivity').replace('fallback: [in_app]', 'fallback: [email, sms]\n        fallback_if_unopened: 30m'),
  'product-page-inactivity.yaml',
);

const people = ['ann', 'bob', 'anon'] as const;
type Person = (typeof people)[number];
const kinds = ['cart+', 'cart0', 'order', 'product', 'page', 'added', 'other'] as const;
type Kind = (typeof kinds)[number];

type Op =
  | { op: 'event'; who: Person; kind: Kind; dt: number; late: number }
  /** One of the last few events delivered again, same messageId. */
  | { op: 'duplicate'; pick: number; dt: number }
  /** Time passes; the scheduler fires timers on time. */
  | { op: 'tick'; dt: number }
  /** The scheduler falls behind: time passes, due timers wait. */
  | { op: 'stall'; dt: number }
  /** It catches up: overdue timers fire, late. */
  | { op: 'catchUp' }
  /** A timer that fired or was cancelled comes again. */
  | { op: 'redeliver'; pick: number }
  /** anon turns out to be ann or bob; anon's later events resolve to them. */
  | { op: 'merge'; into: 'ann' | 'bob' }
  /** The dispatcher reports on one of the last few messages: delivered on its channel (`own`) or its first fallback (`other`), failed, deferred. */
  | { op: 'report'; pick: number; outcome: 'own' | 'other' | 'failed' | 'deferred'; dt: number }
  /** Its user opens (or clicks) one of the last few messages. */
  | { op: 'open'; pick: number; clicked: boolean; dt: number; late: number };

// Step lengths: often tiny (events a moment apart, which is where ordering matters), and ones that
// hit the triggers' boundaries (3m, 10m, 24h) exactly and by a millisecond.
const dt = fc.oneof(
  { weight: 1, arbitrary: fc.constant(0) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 2 * s }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 90 * s }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 15 * m }) },
  { weight: 2, arbitrary: fc.constantFrom(3 * m - 1, 3 * m, 3 * m + 1, 10 * m - 1, 10 * m, 10 * m + 1, 24 * h, 24 * h + 1) },
  { weight: 1, arbitrary: fc.integer({ min: 1 * h, max: 30 * h }) },
);
const late = fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: 1, max: 10 * s }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 5 * m }) });

// Mostly ann and anon (who may merge into her), so that one person's events interleave densely.
const who = fc.oneof({ weight: 2, arbitrary: fc.constantFrom<Person>('ann', 'anon') }, { weight: 1, arbitrary: fc.constant<Person>('bob') });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ op: fc.constant('event' as const), who, kind: fc.constantFrom(...kinds), dt, late }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('duplicate' as const), pick: fc.nat(), dt }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('tick' as const), dt }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('stall' as const), dt }) },
  { weight: 1, arbitrary: fc.constant({ op: 'catchUp' as const }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('redeliver' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('merge' as const), into: fc.constantFrom('ann' as const, 'bob' as const) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('report' as const), pick: fc.nat(), outcome: fc.constantFrom('own' as const, 'own' as const, 'other' as const, 'failed' as const, 'deferred' as const), dt }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('open' as const), pick: fc.nat(), clicked: fc.boolean(), dt, late }) },
);

function eventOf(kind: Kind, user: string, t: number): Omit<Ev, 'arrives'> {
  switch (kind) {
    case 'cart+':
      return { user, name: 'cart_updated', t, props: { item_count: 2 } };
    case 'cart0':
      return { user, name: 'cart_updated', t, props: { item_count: 0 } };
    case 'order':
      return { user, name: 'order_completed', t, props: { revenue: 30 } };
    case 'product':
      return { user, name: 'page', t, props: { page_type: 'product' } };
    case 'page':
      return { user, name: 'page', t, props: { page_type: 'home' } };
    case 'added':
      return { user, name: 'product_added', t };
    case 'other':
      return { user, name: 'searched', t };
  }
}

/** Offsets of each send step from its run's start. */
const dueOffset: Record<string, number> = {
  'abandoned-cart/nudge-in-app': 0,
  'abandoned-cart/personal-code': 10 * m,
  'abandoned-cart/last-call': 24 * h + 10 * m,
  'product-page-inactivity/0.on_timeout.0': 3 * m,
};

/** Per send step with an unopened fallback: how long it waits, and the fallback's channels. */
const unopened: Record<string, { afterMs: number; channels: string[] }> = {
  'abandoned-cart/personal-code': { afterMs: 1 * h, channels: ['email'] },
  'product-page-inactivity/0.on_timeout.0': { afterMs: 30 * m, channels: ['email', 'sms'] },
};

/** Processed events, for "what had the run seen before it sent?". */
interface Seen {
  profileId: string;
  input: number;
  messageId: string;
  name: string;
  props: Record<string, unknown>;
  t: number;
}

/**
 * Would this event, stamped at or after the run's start, end a run of the trigger that is due to
 * send at `due`? abandoned-cart: its exit_on, whenever stamped; inactivity: its wait_for, if
 * stamped within the wait.
 */
function ends(triggerId: string, e: Seen, due: number): boolean {
  if (triggerId === 'abandoned-cart') return exits(triggerId, e);
  return (e.name === 'product_added' || e.name === 'page') && e.t <= due;
}

/** Is this event one of the trigger's `exit_on`? (product-page-inactivity has none.) */
function exits(triggerId: string, e: Seen): boolean {
  return triggerId === 'abandoned-cart' && (e.name === 'order_completed' || (e.name === 'cart_updated' && e.props['item_count'] === 0));
}

/** A message as first sent, for its unopened fallback. */
interface Original {
  channel: string;
  profileId: string;
  input: number;
}

/** A report that a message was delivered on its own channel. */
interface OwnDelivery {
  key: string;
  runId: string;
  stepId: string;
  at: number;
  input: number;
}

interface Played {
  sends: Sent[];
  records: Recorded[];
  /** Timers of unopened watches cancelled (by an open, a click or an exit). */
  watchesStopped: number;
  /** Timers handed back after they were cancelled, and after they fired. */
  staleCancelled: number;
  staleFired: number;
  /** Runs that stopped waiting at a step (the gauge going down), by what ended the wait. */
  waitsEnded: { exit: number; merge: number; other: number };
}

/** Plays a history, checking the invariants after every input. */
function play(ops: readonly Op[], roundTrip: boolean): Played {
  const harness = new Harness({ triggers: [cart, inactivity], roundTrip });
  const alias = new Map<string, string>();
  const route = (who: string): string => alias.get(who) ?? who;
  const delivered: Ev[] = [];
  const seen: Seen[] = [];
  let behind = false;

  const keys = new Set<string>();
  const steps = new Set<string>();
  /** `profile/run` of runs that exited or completed. */
  const ended = new Set<string>();
  /** `profile/run` -> the input that started it (runs that moved in a merge have none). */
  const entered = new Map<string, number>();
  /** `trigger/messageId` -> runs that event started. */
  const startedBy = new Map<string, number>();
  /** Per (profile, trigger), the event that started the last run, and its time (the run's start). */
  const lastStarter = new Map<string, { id: string; at: number }>();
  /** Runs started again by a late repeat of their entry event, and how often. */
  const restarted = new Map<string, number>();
  /** Ids of runs that exited (and were not started again since). */
  const exitedRuns = new Set<string>();
  /** Messages by key, as first sent. */
  const originals = new Map<string, Original>();
  const ownDeliveries: OwnDelivery[] = [];
  /** Run id -> how often it was entered (a late repeat of its entry event starts it again, also on the profile it merged into). */
  const starts = new Map<string, number>();
  /** When anon merged, into whom: the events that reach a watch of anon's are anon's before, theirs after. */
  let merged: { into: string; input: number } | null = null;
  const reachesWatchOf = (owner: string, e: Seen): boolean =>
    merged && owner === 'anon' ? (e.profileId === 'anon' && e.input < merged.input) || (e.profileId === merged.into && e.input > merged.input) : e.profileId === owner;
  let watchesStopped = 0;
  const waitsEnded = { exit: 0, merge: 0, other: 0 };
  /** Per input, `reason/trigger` of the runs it ended early (its records come before its gauge changes). */
  const exitsOf = new Map<number, Set<string>>();
  let logChecked = 0;
  let sendsChecked = 0;

  /** Checks, in order, the effects of the inputs since the last check; `event` is the event just handled, if any. */
  const checkInput = (event: Ev | null, repeat = false): void => {
    for (const { input, profileId, effect } of harness.log.slice(logChecked)) {
      if (effect.type === 'record') {
        const r = effect.record;
        if (r.kind === 'entered') {
          entered.set(`${profileId}/${r.runId}`, input);
          // Only the event handled last can start runs (timers never do).
          assert.ok(event && input === harness.inputs, `${r.runId} entered on an input that was not an event`);
          const key = `${r.triggerId}/${event.id}`;
          if (repeat) {
            const last = lastStarter.get(`${profileId}/${r.triggerId}`);
            assert.ok(!(last !== undefined && last.id === event.id && harness.now - last.at <= h), `${key} started again by a repeat of the event that started its last run`);
          } else {
            startedBy.set(key, (startedBy.get(key) ?? 0) + 1);
            assert.ok(startedBy.get(key)! <= 1, `${key} started a second run`);
          }
          lastStarter.set(`${profileId}/${r.triggerId}`, { id: event.id!, at: Math.min(event.t, harness.now) });
          // A late repeat starts the run of the same event again, under the same id.
          if (ended.delete(`${profileId}/${r.runId}`)) restarted.set(`${profileId}/${r.runId}`, (restarted.get(`${profileId}/${r.runId}`) ?? 0) + 1);
          exitedRuns.delete(r.runId);
          starts.set(r.runId, (starts.get(r.runId) ?? 0) + 1);
        }
        if (r.kind === 'exited') exitedRuns.add(r.runId);
        // A run ended by a merge is the merged-in profile's (only anon is ever merged): its record is
        // written on the target, under the run id it had on anon.
        const owner = r.reason === 'merged' ? 'anon' : profileId;
        if (r.kind === 'exited' || r.kind === 'completed') ended.add(`${owner}/${r.runId}`);
      }
      if (effect.type === 'record' && effect.record.kind === 'exited') {
        let exits = exitsOf.get(input);
        if (!exits) exitsOf.set(input, (exits = new Set()));
        exits.add(`${effect.record.reason}/${effect.record.triggerId}`);
      }
      if (effect.type === 'waiting' && effect.delta < 0) {
        const exits = exitsOf.get(input);
        if (exits?.has(`exit_on/${effect.triggerId}`)) waitsEnded.exit -= effect.delta;
        else if (exits?.has(`merged/${effect.triggerId}`)) waitsEnded.merge -= effect.delta;
        else waitsEnded.other -= effect.delta;
      }
      if (effect.type === 'cancel' && effect.timerId.endsWith(':unopened')) watchesStopped++;
      if (effect.type !== 'send') continue;
      const msg = effect.message;
      if (msg.key.endsWith(':unopened')) {
        checkUnopenedFallback(profileId, input, msg);
        continue;
      }
      if (!originals.has(msg.key)) originals.set(msg.key, { channel: msg.channel, profileId, input });
      // A run started again by a late repeat decides its messages again under the same keys:
      // the outbox accepts each key once, so these are no second send.
      if (repeat && keys.has(msg.key)) continue;
      const run = `${profileId}/${msg.runId}`;
      assert.ok(!ended.has(run), `send ${msg.key} after its run ${run} ended`);
      assert.ok(!keys.has(msg.key), `outbox key ${msg.key} twice`);
      keys.add(msg.key);
      const step = `${profileId}/${msg.runId}/${msg.stepId}`;
      assert.ok(!steps.has(step), `step ${step} twice`);
      steps.add(step);
      const offset = dueOffset[`${msg.triggerId}/${msg.stepId}`];
      assert.notEqual(offset, undefined, `unexpected step ${msg.triggerId}/${msg.stepId}`);
      assert.equal(msg.at - msg.entry.timestamp, offset, `${msg.key} due at its offset from the run's start`);
      // Nothing that ends such a run, stamped inside it, was handled between its entry and this send.
      const from = entered.get(run);
      if (from !== undefined) {
        const ender = seen.find(
          (e) => e.profileId === profileId && e.input > from && e.input < input && e.messageId !== msg.entry.messageId && e.t >= msg.entry.timestamp && ends(msg.triggerId, e, msg.at),
        );
        assert.equal(ender, undefined, `${msg.key} sent although ${ender?.name} (${ender?.messageId}) was handled before`);
      }
    }
    for (const x of harness.sends.slice(sendsChecked)) assert.ok(harness.origin + x.now >= x.message.at, `${x.message.key} sent before it was due`);
    sendsChecked = harness.sends.length;
    logChecked = harness.log.length;
    checkTimers();
  };

  const checkUnopenedFallback = (profileId: string, input: number, msg: Sent['message']): void => {
    const restartedRun = (starts.get(msg.runId) ?? 0) > 1;
    // A run started again by a late repeat watches its message again: the outbox takes the second
    // fallback's key once.
    if (restartedRun && keys.has(msg.key)) return;
    assert.ok(!exitedRuns.has(msg.runId), `unopened fallback ${msg.key} after its run exited`);
    assert.ok(!keys.has(msg.key), `outbox key ${msg.key} twice`);
    keys.add(msg.key);
    const step = `${profileId}/${msg.runId}/${msg.stepId}:unopened`;
    assert.ok(!steps.has(step), `unopened fallback ${step} twice`);
    steps.add(step);
    const option = unopened[`${msg.triggerId}/${msg.stepId}`];
    assert.ok(option, `${msg.key}: an unopened fallback of a step that has none`);
    assert.deepEqual([msg.channel, ...msg.fallback], option.channels, `${msg.key} goes on the next channel, the rest its fallbacks`);
    // The reports it may come from: the step's message delivered on its own channel, exactly the duration before.
    const armedBy = ownDeliveries.filter((r) => r.runId === msg.runId && r.stepId === msg.stepId && r.input < input && r.at + option.afterMs === msg.at);
    assert.ok(armedBy.length > 0, `${msg.key} due exactly ${option.afterMs} ms after a report that its message was delivered on its own channel`);
    for (const r of armedBy) assert.notEqual(msg.channel, originals.get(r.key)!.channel, `${msg.key} on another channel than ${r.key}`);
    if (restartedRun) return;
    const stoppedBy = (r: OwnDelivery): Seen | undefined => {
      const original = originals.get(r.key)!;
      return seen.find(
        (e) =>
          e.input > original.input &&
          e.input < input &&
          reachesWatchOf(original.profileId, e) &&
          ((openedEvents.has(e.name) && e.props['messageKey'] === r.key && e.t <= msg.at) || (e.t >= msg.entry.timestamp && exits(msg.triggerId, e))),
      );
    };
    const stopper = armedBy.map(stoppedBy).find((e) => e !== undefined);
    assert.ok(armedBy.some((r) => stoppedBy(r) === undefined), `${msg.key} sent although ${stopper?.name} (${stopper?.messageId}) was handled before`);
  };

  /** One of the last few messages sent (originals and fallbacks). */
  const pickSent = (pick: number): Sent | undefined => {
    const all = harness.sends;
    return all.length === 0 ? undefined : all[all.length - 1 - (pick % Math.min(all.length, 6))];
  };

  const checkTimers = (): void => {
    const pending = harness.pendingTimers();
    const waiting = new Map<string, { profileId: string; dueAt: number }>();
    for (const profileId of harness.profileIds()) {
      const state = harness.state(profileId)!;
      for (const run of Object.values(state.runs)) {
        assert.ok(run.waiting, `run ${profileId}/${run.id} in flight without a wait`);
        waiting.set(run.waiting.timerId, { profileId, dueAt: run.waiting.dueAt });
      }
      for (const watch of Object.values(state.unopened)) if (watch.timer) waiting.set(watch.timer.id, { profileId, dueAt: watch.timer.dueAt });
    }
    assert.deepEqual(
      new Map(pending.map((t) => [t.id, { profileId: t.profileId, dueAt: t.dueAt }])),
      waiting,
      'the pending timers are exactly those the runs and armed unopened watches wait on',
    );
    assert.deepEqual(harness.waiting, harness.waitingInStates(), 'the waiting gauge is the number of runs the states have waiting, per step');
    for (const [id, t] of harness.timers) {
      // A run started again by a late repeat (same run id) schedules its steps again, once per start.
      const [, profileId, runId] = id.split('/');
      const starts = 1 + (restarted.get(`${profileId}/${runId}`) ?? 0);
      assert.ok(t.scheduled >= 1 && t.scheduled <= starts, `${id} scheduled once (per start of its run): ${t.scheduled}`);
      assert.ok(t.fired + t.cancelled <= t.scheduled, `${id} fired ${t.fired}, cancelled ${t.cancelled}`);
    }
  };

  const runsOf = (profileId: string) => JSON.stringify(harness.state(profileId)?.runs ?? {});
  let staleCancelled = 0;
  let staleFired = 0;

  for (const op of ops) {
    switch (op.op) {
      case 'event': {
        const user = route(op.who);
        const arrives = harness.now + op.dt;
        const ev: Ev = { ...eventOf(op.kind, user, arrives - op.late), arrives, id: `e${delivered.length}` };
        delivered.push(ev);
        harness.submit(ev, { fire: !behind });
        seen.push({ profileId: user, input: harness.inputs, messageId: ev.id!, name: ev.name, props: ev.props ?? {}, t: harness.origin + ev.t });
        checkInput(ev);
        break;
      }
      case 'duplicate': {
        if (delivered.length === 0) break;
        const original = delivered[delivered.length - 1 - (op.pick % Math.min(delivered.length, 4))]!;
        const user = route(original.user);
        const ev: Ev = { ...original, user, arrives: harness.now + op.dt };
        harness.submit(ev, { fire: !behind });
        seen.push({ profileId: user, input: harness.inputs, messageId: ev.id!, name: ev.name, props: ev.props ?? {}, t: harness.origin + ev.t });
        checkInput(ev, true);
        break;
      }
      case 'tick':
        harness.advanceBy(op.dt, { fire: !behind });
        checkInput(null);
        break;
      case 'stall':
        behind = true;
        harness.advanceBy(op.dt, { fire: false });
        checkInput(null);
        break;
      case 'catchUp':
        behind = false;
        harness.fireDue();
        checkInput(null);
        break;
      case 'redeliver': {
        const pendingIds = new Set(harness.pendingTimers().map((t) => t.id));
        const done = [...harness.timers.keys()].filter((id) => !pendingIds.has(id));
        if (done.length === 0) break;
        const id = done[op.pick % done.length]!;
        const { profileId, cancelled } = harness.timers.get(id)!;
        if (cancelled > 0) staleCancelled++;
        else staleFired++;
        const before = runsOf(profileId);
        const effects = harness.redeliver(id);
        assert.deepEqual(effects, [], `a timer handed back (${id}) does nothing`);
        assert.equal(runsOf(profileId), before, `a timer handed back (${id}) changes no run`);
        checkInput(null);
        break;
      }
      case 'merge': {
        if (alias.has('anon')) break;
        harness.merge('anon', op.into);
        alias.set('anon', op.into);
        // The merged state remembers the later of the two last entries, anon's on a tie (transition.ts, onMerge).
        for (const triggerId of [cart.id, inactivity.id]) {
          const theirs = lastStarter.get(`anon/${triggerId}`);
          const mine = lastStarter.get(`${op.into}/${triggerId}`);
          if (theirs && (!mine || theirs.at >= mine.at)) lastStarter.set(`${op.into}/${triggerId}`, theirs);
        }
        merged = { into: op.into, input: harness.inputs };
        checkInput(null);
        break;
      }
      case 'report': {
        const sent = pickSent(op.pick);
        if (!sent) break;
        const msg = sent.message;
        const outcome = op.outcome === 'own' ? `delivered:${msg.channel}` : op.outcome === 'other' ? `delivered:${msg.fallback[0] ?? msg.channel}` : op.outcome;
        harness.deliver(msg, outcome, harness.now + op.dt, { fire: !behind });
        if (outcome === `delivered:${msg.channel}`) ownDeliveries.push({ key: msg.key, runId: msg.runId, stepId: msg.stepId, at: harness.origin + harness.now, input: harness.inputs });
        checkInput(null);
        break;
      }
      case 'open': {
        const sent = pickSent(op.pick);
        if (!sent) break;
        const arrives = harness.now + op.dt;
        const name = op.clicked ? 'Message Clicked' : 'Message Opened';
        const ev: Ev = { user: route(sent.message.profileId), name, t: arrives - op.late, arrives, id: `e${delivered.length}`, props: { messageKey: sent.message.key } };
        delivered.push(ev);
        harness.submit(ev, { fire: !behind });
        seen.push({ profileId: ev.user, input: harness.inputs, messageId: ev.id!, name, props: ev.props!, t: harness.origin + ev.t });
        checkInput(ev);
        break;
      }
    }
  }

  // Run out the clock: every run finishes, every timer ends fired or cancelled.
  harness.fireDue();
  harness.advanceBy(30 * d);
  checkInput(null);
  assert.deepEqual(harness.pendingTimers(), []);
  for (const [id, t] of harness.timers) assert.equal(t.fired + t.cancelled, t.scheduled, `${id} ended fired or cancelled (each time it was scheduled)`);
  for (const profileId of harness.profileIds()) assert.deepEqual(harness.state(profileId)!.runs, {}, `${profileId} has no run left`);
  assert.deepEqual(harness.waiting, new Map(), 'no run waits: the gauge is back at 0 on every step');
  return { sends: harness.sends, records: harness.records, watchesStopped, staleCancelled, staleFired, waitsEnded };
}

describe('trigger core properties over random histories', () => {
  test('the invariants hold, and the state written through JSON between inputs changes nothing', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 60, size: 'max' }), (ops) => {
        const plain = play(ops, false);
        const restarted = play(ops, true);
        assert.deepEqual(restarted.sends, plain.sends);
        assert.deepEqual(restarted.records, plain.records);
      }),
      { numRuns: Number(process.env["FC_RUNS"] ?? 500), includeErrorInReport: true, ...(process.env["FC_SEED"] ? { seed: Number(process.env["FC_SEED"]) } : {}) },
    );
  });

  test('the histories reach what the invariants are about', () => {
    // A property that never sees an exit, a late timer or a merge proves little: count what happened.
    const seen = {
      sends: 0,
      exits: 0,
      completed: 0,
      merged: 0,
      late: 0,
      staleCancelled: 0,
      staleFired: 0,
      unopenedFallbacks: 0,
      watchesStopped: 0,
      waitsEndedByExit: 0,
      waitsEndedByMerge: 0,
      waitsEndedOtherwise: 0,
      steps: new Set<string>(),
    };
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 60, size: 'max' }), (ops) => {
        const { sends, records, watchesStopped, staleCancelled, staleFired, waitsEnded } = play(ops, false);
        seen.sends += sends.length;
        seen.waitsEndedByExit += waitsEnded.exit;
        seen.waitsEndedByMerge += waitsEnded.merge;
        seen.waitsEndedOtherwise += waitsEnded.other;
        seen.watchesStopped += watchesStopped;
        seen.staleCancelled += staleCancelled;
        seen.staleFired += staleFired;
        for (const x of sends) {
          seen.steps.add(`${x.message.triggerId}/${x.message.stepId}`);
          if (x.message.key.endsWith(':unopened')) seen.unopenedFallbacks++;
          if (T0 + x.now > x.message.at) seen.late++;
        }
        seen.exits += records.filter((r) => r.record.kind === 'exited' && r.record.reason === 'exit_on').length;
        seen.merged += records.filter((r) => r.record.kind === 'exited' && r.record.reason === 'merged').length;
        seen.completed += records.filter((r) => r.record.kind === 'completed').length;
      }),
      { numRuns: 200, seed: 42 },
    );
    const { steps, ...counts } = seen;
    assert.deepEqual([...steps].sort(), Object.keys(dueOffset).sort(), 'every send step was reached');
    for (const [what, n] of Object.entries(counts)) {
      assert.ok(n > 0, `${what}: ${n}`);
    }
  });
});
