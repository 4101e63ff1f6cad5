/**
 * The backtest on small hand-made histories, whose every number can be worked out by hand: the
 * shop's example triggers (and one with an experiment) replayed on the simulated clock.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parseTrigger } from '../../src/config/triggers.js';
import type { EventType, JsonObject, NudgeEvent } from '../../src/core/event.js';
import { defaultProfileOptions } from '../../src/core/profile.js';
import { buildCatalog, type Catalog } from '../../src/core/triggers/catalog.js';
import { compileTrigger, type TriggerProgram } from '../../src/core/triggers/program.js';
import { runBacktest, UnorderedHistoryError, type BacktestOptions, type BacktestReport, type BacktestTriggerReport } from '../../src/engine/backtest.js';

const s = 1000;
const m = 60 * s;
const h = 60 * m;
const T0 = Date.UTC(2026, 2, 2, 9, 0, 0);

function trigger(yaml: string, file: string): TriggerProgram {
  const parsed = parseTrigger(yaml, file);
  if (!parsed.trigger) throw new Error(`${file}: ${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  return compileTrigger(parsed.trigger);
}
const example = (name: string): TriggerProgram => trigger(readFileSync(new URL(`../../examples/shop/triggers/${name}.yaml`, import.meta.url), 'utf8'), `${name}.yaml`);

/** An event as the tests write it: who, what, when (ms after T0). */
interface Ev {
  user?: string;
  anon?: string;
  name: string;
  t: number;
  props?: JsonObject;
  id?: string;
}

let ids = 0;
function toEvent(e: Ev): NudgeEvent {
  const type: EventType = e.name === 'page' || e.name === 'identify' ? e.name : 'track';
  return {
    workspaceId: 'shop',
    messageId: e.id ?? `m${++ids}`,
    type,
    name: type === 'track' ? e.name : '',
    userId: e.user ?? null,
    anonymousId: e.anon ?? null,
    previousId: null,
    groupId: null,
    properties: e.props ?? {},
    traits: {},
    context: {},
    timestamp: T0 + e.t,
    receivedAt: T0 + e.t,
  };
}

function backtest(catalog: Catalog, history: Ev[], options: Partial<BacktestOptions> = {}): Promise<BacktestReport> {
  return runBacktest({ events: history.map(toEvent), catalog, profileOptions: defaultProfileOptions, workspaceId: 'shop', ...options });
}

const of = (report: BacktestReport, id: string): BacktestTriggerReport => {
  const t = report.triggers.find((x) => x.id === id);
  assert.ok(t, `no report for ${id}`);
  return t;
};
/** Messages as `step channel count` lines, easy to compare. */
const messages = (t: BacktestTriggerReport): string[] => t.messages.map((x) => `${x.stepId} ${x.channel}${x.variant ? ` ${x.variant}` : ''} ${x.count}`);

const cart = buildCatalog([example('abandoned-cart')]);
const items = (n: number) => ({ item_count: n });

describe('abandoned cart (in-app, push after 10m, email after 24h; an order or an emptied cart ends it)', () => {
  const history: Ev[] = [
    { user: 'ann', name: 'cart_updated', t: 0, props: items(2) }, // buys before the push
    { user: 'ann', name: 'order_completed', t: 5 * m },
    { user: 'bob', name: 'cart_updated', t: 1 * m, props: items(1) }, // never comes back
    { user: 'cat', name: 'cart_updated', t: 2 * m, props: items(3) }, // empties the cart after the push
    { user: 'cat', name: 'cart_updated', t: 30 * m, props: items(0) },
    { user: 'dan', name: 'cart_updated', t: 3 * m, props: items(1) }, // buys after the push
    { user: 'dan', name: 'order_completed', t: 2 * h },
  ];

  test('by the last event: exits on order and on an emptied cart, goals, messages per step, pending timers', async () => {
    const report = await backtest(cart, history);
    const t = of(report, 'abandoned-cart');
    assert.equal(t.entered, 4);
    assert.deepEqual(t.exited, { exit_on: 3 });
    assert.equal(t.completed, 0);
    assert.equal(t.goals, 2);
    assert.deepEqual(t.goalsByVariant, { '': 2 });
    assert.deepEqual(messages(t), ['nudge-in-app in_app 4', 'personal-code push 3']);
    // Only bob is still waiting: on the 24-hour wait (step 3), until 1m + 10m + 24h.
    assert.equal(t.pendingTimers, 1);
    assert.deepEqual(t.pendingByStep, { '3': 1 });
    assert.deepEqual(
      { ...report, triggers: undefined },
      {
        workspaceId: 'shop',
        events: { read: 7, applied: 7, duplicates: 0, reordered: true }, // as listed, by user: not in time order
        firstEventAt: T0,
        lastEventAt: T0 + 2 * h,
        until: T0 + 2 * h,
        profiles: 4,
        merges: 0,
        timersFired: 3, // the pushes of bob, cat and dan; ann's was cancelled
        timersPending: 1,
        messages: 7,
        triggers: undefined,
      },
    );
  });

  test('drained: the clock runs on past the last event and the last email goes out', async () => {
    const report = await backtest(cart, history, { drainMs: 24 * h });
    const t = of(report, 'abandoned-cart');
    assert.equal(report.until, T0 + 26 * h);
    assert.deepEqual(messages(t), ['nudge-in-app in_app 4', 'personal-code push 3', 'last-call email 1']);
    assert.equal(t.completed, 1);
    assert.equal(t.pendingTimers, 0);
    assert.equal(report.timersFired, 4);
  });

  test('until stops the clock at a time: a timer due after it stays pending, one due at it fires', async () => {
    const bobsEmail = 1 * m + 10 * m + 24 * h;
    const before = of(await backtest(cart, history, { until: T0 + bobsEmail - 1 }), 'abandoned-cart');
    assert.equal(before.pendingTimers, 1);
    const at = of(await backtest(cart, history, { until: T0 + bobsEmail }), 'abandoned-cart');
    assert.equal(at.pendingTimers, 0);
    assert.deepEqual(messages(at).at(-1), 'last-call email 1');
    const all = await backtest(cart, history, { until: Infinity });
    assert.equal(all.until, T0 + bobsEmail, 'with no end, the clock stops at the last timer');
  });

  test('a goal after the run completed still counts, within its 72 hours', async () => {
    const t = of(
      await backtest(cart, [
        { user: 'eve', name: 'cart_updated', t: 0, props: items(1) },
        { user: 'eve', name: 'order_completed', t: 30 * h }, // after the email at 24h10m
        { user: 'fay', name: 'cart_updated', t: 0, props: items(1) },
        { user: 'fay', name: 'order_completed', t: 73 * h }, // too late
      ]),
      'abandoned-cart',
    );
    assert.equal(t.completed, 2);
    assert.deepEqual(t.exited, {});
    assert.equal(t.goals, 1);
    assert.deepEqual(messages(t), ['nudge-in-app in_app 2', 'personal-code push 2', 'last-call email 2']);
  });

  test('a timer due at the time of an event fires first', async () => {
    const t = of(
      await backtest(cart, [
        { user: 'gus', name: 'cart_updated', t: 0, props: items(1) },
        { user: 'gus', name: 'order_completed', t: 10 * m }, // the same millisecond as the push
      ]),
      'abandoned-cart',
    );
    assert.deepEqual(messages(t), ['nudge-in-app in_app 1', 'personal-code push 1']);
    assert.deepEqual(t.exited, { exit_on: 1 });
  });
});

describe('input order', () => {
  const sorted: Ev[] = [
    { user: 'ann', name: 'cart_updated', t: 0, props: items(1) },
    { user: 'bob', name: 'cart_updated', t: 1 * m, props: items(1) },
    { user: 'ann', name: 'order_completed', t: 4 * m },
    { user: 'bob', name: 'page', t: 20 * m },
    { user: 'bob', name: 'order_completed', t: 25 * h },
  ];
  const shuffled = [sorted[3]!, sorted[0]!, sorted[4]!, sorted[2]!, sorted[1]!];

  test('an unsorted history is sorted first and gives the same report', async () => {
    const a = await backtest(cart, sorted);
    const b = await backtest(cart, shuffled);
    assert.equal(a.events.reordered, false);
    assert.equal(b.events.reordered, true);
    assert.deepEqual({ ...b, events: { ...b.events, reordered: false } }, a);
    assert.deepEqual(messages(of(a, 'abandoned-cart')), ['nudge-in-app in_app 2', 'personal-code push 1', 'last-call email 1']);
  });

  test('events of the same time keep their input order', async () => {
    // The order comes in the same millisecond as the cart, after it: the run starts and ends at once.
    const t = of(
      await backtest(cart, [
        { user: 'ann', name: 'cart_updated', t: 0, props: items(1) },
        { user: 'ann', name: 'order_completed', t: 0 },
      ]),
      'abandoned-cart',
    );
    assert.equal(t.entered, 1);
    assert.deepEqual(t.exited, { exit_on: 1 });
  });

  test('streamed: a sorted async source is replayed as it comes; an unsorted one stops with the position', async () => {
    async function* source(list: Ev[]): AsyncGenerator<NudgeEvent> {
      for (const e of list) yield toEvent(e);
    }
    const streamed = await runBacktest({ events: source(sorted), catalog: cart, profileOptions: defaultProfileOptions, workspaceId: 'shop', order: 'stream' });
    assert.deepEqual(streamed, await backtest(cart, sorted));
    await assert.rejects(
      runBacktest({ events: source(shuffled), catalog: cart, profileOptions: defaultProfileOptions, workspaceId: 'shop', order: 'stream' }),
      (error: unknown) => error instanceof UnorderedHistoryError && error.index === 1 && error.timestamp === T0 && error.previous === T0 + 20 * m,
    );
  });
});

describe('identities', () => {
  test('a merge moves the run and its timer to the known profile', async () => {
    const report = await backtest(cart, [
      { user: 'ann', name: 'page', t: 0 },
      { anon: 'phone-1', name: 'cart_updated', t: 1 * h, props: items(1) },
      { anon: 'phone-1', user: 'ann', name: 'identify', t: 1 * h + 2 * m }, // logs in on the phone
      { user: 'ann', name: 'page', t: 1 * h + 20 * m },
    ]);
    const t = of(report, 'abandoned-cart');
    assert.equal(report.merges, 1);
    assert.equal(report.profiles, 1);
    assert.equal(t.entered, 1);
    assert.deepEqual(t.exited, {});
    // The push, due at 1h10m, fired for the merged profile; the email waits for it too.
    assert.deepEqual(messages(t), ['nudge-in-app in_app 1', 'personal-code push 1']);
    assert.equal(report.timersFired, 1);
    assert.equal(t.pendingTimers, 1);
  });

  test('when both profiles have a run, the merged one ends as "merged" and its timer is cancelled', async () => {
    const report = await backtest(
      cart,
      [
        { user: 'ann', name: 'cart_updated', t: 0, props: items(1) },
        { anon: 'phone-1', name: 'cart_updated', t: 1 * m, props: items(2) },
        { anon: 'phone-1', user: 'ann', name: 'identify', t: 2 * m },
        { user: 'ann', name: 'order_completed', t: 3 * h },
      ],
      { drainMs: 48 * h },
    );
    const t = of(report, 'abandoned-cart');
    assert.equal(report.merges, 1);
    assert.equal(t.entered, 2);
    assert.deepEqual(t.exited, { merged: 1, exit_on: 1 });
    // Two in-app messages (one per run), then only ann's run goes on: one push, no email.
    assert.deepEqual(messages(t), ['nudge-in-app in_app 2', 'personal-code push 1']);
    assert.equal(report.timersFired, 1);
    assert.equal(report.timersPending, 0);
    assert.equal(t.goals, 1);
  });

  test('a message id seen again within the dedup window is dropped; with no window it counts twice', async () => {
    const history: Ev[] = [
      { user: 'ann', name: 'order_completed', t: 0, id: 'o-1' },
      { user: 'ann', name: 'order_completed', t: 2 * s, id: 'o-1' },
    ];
    const milestone = buildCatalog([
      trigger('id: second-order\nentry: { event: order_completed, when: user.computed.events.order_completed.count == 2 }\nreentry: always\nsteps: [ { send: email, template: thanks } ]\n', 'second-order.yaml'),
    ]);
    const deduped = await backtest(milestone, history);
    assert.deepEqual(deduped.events, { read: 2, applied: 1, duplicates: 1, reordered: false });
    assert.equal(of(deduped, 'second-order').entered, 0);
    const all = await backtest(milestone, history, { dedupWindowMs: 0 });
    assert.equal(all.events.duplicates, 0);
    assert.equal(of(all, 'second-order').entered, 1);
  });
});

describe('steps that read the user and experiments', () => {
  test('a timer sees the profile as it is when it fires: payment hesitation offers returning buyers the live chat', async () => {
    const hesitation = buildCatalog([example('payment-hesitation')]);
    const t = of(
      await backtest(hesitation, [
        { user: 'new', name: 'checkout_step_viewed', t: 0, props: { step: 'payment' } },
        { user: 'old', name: 'order_completed', t: 0 },
        { user: 'old', name: 'checkout_step_viewed', t: 1 * h, props: { step: 'payment' } },
        { user: 'quick', name: 'checkout_step_viewed', t: 0, props: { step: 'payment' } },
        { user: 'quick', name: 'payment_submitted', t: 1 * m },
      ], { drainMs: 2 * m }),
      'payment-hesitation',
    );
    assert.equal(t.entered, 3);
    assert.equal(t.completed, 3);
    assert.deepEqual(
      t.messages.map((x) => `${x.template} ${x.count}`),
      ['live-chat-invitation 1', 'first-order-discount 1'],
    );
  });

  test('experiment assignments per variant, and messages and goals per variant', async () => {
    const split = buildCatalog([
      trigger(
        `id: cart-split
entry: { event: cart_updated }
goal: { event: order_completed, within: 24h }
steps:
  - experiment:
      id: timing
      holdout: 20
      variants:
        - { name: fast, steps: [ { wait: 5m }, { id: push-fast, send: push, template: cart } ] }
        - { name: slow, steps: [ { wait: 10m }, { id: push-slow, send: push, template: cart } ] }
`,
        'cart-split.yaml',
      ),
    ]);
    const users = Array.from({ length: 200 }, (_, i) => `u${i}`);
    const history: Ev[] = users.flatMap((user, i) => [
      { user, name: 'cart_updated', t: i * s },
      ...(i % 4 === 0 ? [{ user, name: 'order_completed', t: 1 * h }] : []),
    ]);
    const report = await backtest(split, history);
    const t = of(report, 'cart-split');
    const assigned = t.assigned['timing'] ?? {};
    assert.deepEqual(Object.keys(assigned).sort(), ['fast', 'holdout', 'slow']);
    assert.equal((assigned['fast'] ?? 0) + (assigned['slow'] ?? 0) + (assigned['holdout'] ?? 0), 200);
    assert.ok((assigned['holdout'] ?? 0) > 20 && (assigned['holdout'] ?? 0) < 60, `about 20 % held out, got ${assigned['holdout']}`);
    // Every non-held-out run sends its variant's push (the orders come after both waits).
    assert.deepEqual(messages(t), [`push-fast push timing=fast ${assigned['fast']}`, `push-slow push timing=slow ${assigned['slow']}`]);
    assert.equal(t.goals, 50);
    assert.equal(Object.values(t.goalsByVariant).reduce((a, b) => a + b, 0), 50);
    assert.deepEqual(Object.keys(t.goalsByVariant).sort(), ['timing=fast', 'timing=holdout', 'timing=slow']);
    assert.equal(t.completed, 200);
  });
});
