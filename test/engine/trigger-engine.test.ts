/**
 * The trigger engine end to end on a simulated clock: events over real HTTP into a real server
 * (SQLite), timers and the outbox woken by the test's clock, messages delivered by the webhook
 * channel to a real HTTP receiver. Time moves only when a test moves it.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SimulatedClock } from '../../src/ports/clock.js';
import { send, startNudge, testConfig, type RunningNudge } from '../support/nudge.js';
import { simulatedTime } from '../support/simulated-time.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const minute = 60_000;
const exampleTriggers = path.resolve(import.meta.dirname, '../../examples/shop/triggers');

let receiver: WebhookReceiver;
before(async () => (receiver = await startWebhookReceiver()));
after(() => receiver.close());

interface Harness {
  n: RunningNudge;
  clock: SimulatedClock;
  triggersDir: string;
  dataDir: string;
  track(userId: string, event: string, properties?: Record<string, unknown>, at?: number): Promise<void>;
  /** Moves the clock to `t`, stopping at every wake-up asked for on the way, and lets everything settle. */
  advanceTo(t: number): Promise<void>;
  settle(): Promise<void>;
  deliveries(userId?: string): { path: string; template: string; key: string; at: number }[];
  stop(): Promise<void>;
}

async function harness(
  options: { triggers?: Record<string, string>; dataDir?: string; triggersDir?: string; clock?: SimulatedClock; channels?: string; delivery?: string } = {},
): Promise<Harness> {
  const triggersDir = options.triggersDir ?? mkdtempSync(path.join(tmpdir(), 'nudge-triggers-'));
  if (!options.triggersDir) {
    if (options.triggers) for (const [name, text] of Object.entries(options.triggers)) writeFileSync(path.join(triggersDir, name), text);
    else cpSync(exampleTriggers, triggersDir, { recursive: true });
  }
  const channels =
    options.channels ??
    ['in_app', 'push', 'email'].map((c) => `  ${c}:\n    webhook:\n      url: ${receiver.url}/${c}\n      allowPrivateNetworks: true\n`).join('');
  const config = testConfig(`triggers:\n  dir: ${triggersDir}\n  watch: false\nchannels:\n${channels}delivery:\n  backoff: 1s\n  maxAttempts: 3\n${options.delivery ?? ''}`);
  const time = simulatedTime(options.clock ?? new SimulatedClock(t0));
  const { clock, settle } = time;
  const n = await startNudge({ config, clock, wakeups: time.wakeups, dataDir: options.dataDir });
  time.attach(n);
  const start = receiver.received.length;
  let seq = 0;
  await settle();
  return {
    n,
    clock,
    triggersDir,
    dataDir: n.dataDir,
    async track(userId, event, properties = {}, at = clock.now()) {
      const r = await send(n.url, '/v1/track', { userId, event, properties, timestamp: new Date(at).toISOString(), messageId: `${userId}-${event}-${at}-${++seq}` });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      await settle();
    },
    advanceTo: time.advanceTo,
    settle,
    deliveries(userId) {
      return receiver.received
        .slice(start)
        .filter((r) => userId === undefined || r.body.profileId === `u:${userId}`)
        .map((r) => ({ path: r.path, template: r.body.template, key: r.headers['idempotency-key'] as string, at: r.body.at }));
    },
    async stop() {
      await n.stop();
      if (!options.triggersDir) rmSync(triggersDir, { recursive: true, force: true });
    },
  };
}

describe('abandoned cart, end to end', () => {
  test('in-app at once, push at 10 minutes, email at 24 hours; the purchase stops what is left', async () => {
    const h = await harness();
    try {
      await h.track('ann', 'cart_updated', { item_count: 2 });
      await h.track('bob', 'cart_updated', { item_count: 1 });
      assert.deepEqual(h.deliveries('ann').map((d) => [d.path, d.template]), [['/in_app', 'cart-reminder']]);

      await h.advanceTo(t0 + 10 * minute - 1);
      assert.equal(h.deliveries('ann').length, 1, 'nothing before the push is due');
      await h.advanceTo(t0 + 10 * minute);
      assert.deepEqual(h.deliveries('ann').map((d) => [d.path, d.template, d.at - t0]), [
        ['/in_app', 'cart-reminder', 0],
        ['/push', 'cart-push-with-code', 10 * minute],
      ]);

      await h.track('ann', 'order_completed', { revenue: 30 });
      await h.advanceTo(t0 + 25 * 60 * minute);
      assert.deepEqual(h.deliveries('ann').map((d) => d.template), ['cart-reminder', 'cart-push-with-code'], 'no email after the purchase');
      assert.deepEqual(h.deliveries('bob').map((d) => d.template), ['cart-reminder', 'cart-push-with-code', 'cart-email']);
      const keys = h.deliveries().map((d) => d.key);
      assert.equal(new Set(keys).size, keys.length, 'every message has its own idempotency key');

      const report = await h.n.api('/triggers/abandoned-cart');
      assert.equal(report.status, 200);
      assert.equal(report.body.report.entered, 2);
      assert.equal(report.body.report.goals, 1);
      assert.deepEqual(report.body.report.exited, { exit_on: 1 });
      assert.equal(report.body.report.completed, 1);
      assert.deepEqual(
        report.body.report.sent.map((s: any) => [s.stepId, s.channel, s.count]),
        [['last-call', 'email', 1], ['nudge-in-app', 'in_app', 2], ['personal-code', 'push', 2]],
      );
      const outbox = await h.n.api('/outbox?userId=ann');
      assert.deepEqual(outbox.body.items.map((m: any) => [m.stepId, m.status, m.deliveredVia]), [
        ['personal-code', 'delivered', 'push'],
        ['nudge-in-app', 'delivered', 'in_app'],
      ]);
    } finally {
      await h.stop();
    }
  });

  test('a run waiting when the server stops fires once at the next start, late, without repeating what was sent', async () => {
    const clock = new SimulatedClock(t0);
    const dataDir = mkdtempSync(path.join(tmpdir(), 'nudge-restart-'));
    const triggersDir = mkdtempSync(path.join(tmpdir(), 'nudge-triggers-'));
    cpSync(exampleTriggers, triggersDir, { recursive: true });
    try {
      let h = await harness({ clock, dataDir, triggersDir });
      await h.track('cara', 'cart_updated', { item_count: 3 });
      const runs = await h.n.api('/users/cara/runs');
      assert.deepEqual(runs.body.runs.map((r: any) => [r.triggerId, r.waiting.until]), [['abandoned-cart', new Date(t0 + 10 * minute).toISOString()]]);
      const before = h.deliveries('cara').length;
      await h.n.stop();

      clock.set(t0 + 30 * minute); // the push came due while nothing ran
      h = await harness({ clock, dataDir, triggersDir });
      await h.settle();
      const after = receiver.received.filter((r) => r.body.profileId === 'u:cara').map((r) => r.body.template);
      assert.equal(before, 1);
      assert.deepEqual(after, ['cart-reminder', 'cart-push-with-code'], 'the push fired once at start; the in-app message was not repeated');
      const metrics = await (await fetch(`${h.n.url}/metrics`)).text();
      assert.match(metrics, /nudge_timer_lateness_seconds_bucket\{le="3600"\} 1/, 'its lateness (20 minutes) is recorded');
      await h.n.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(triggersDir, { recursive: true, force: true });
    }
  });
});

describe('erasure', () => {
  test('an input that comes while a user is erased waits for it, and cannot write the erased runs back', async () => {
    const h = await harness();
    try {
      await h.track('ann', 'cart_updated', { item_count: 2 });
      const ann = { workspaceId: 'test', profileId: 'u:ann' };
      const before = await h.n.engineStore.exportUser(ann);
      assert.equal(Object.keys(before.state?.runs ?? {}).length, 1, 'ann is in the abandoned-cart sequence');
      const message = before.outbox[0]!.message;
      const sentBefore = h.deliveries('ann').map((d) => d.template);

      // The in-app message's delivery report arrives just as the erasure starts.
      const erasing = h.n.engine.eraseUser(ann);
      const reported = h.n.engine.delivered('test', message, 'delivered', h.clock.now());
      assert.deepEqual(await erasing, { states: 1, outbox: before.outbox.length, timers: 1 });
      await reported;
      await h.settle();

      const after = await h.n.engineStore.exportUser(ann);
      assert.deepEqual(Object.keys(after.state?.runs ?? {}), [], 'no run of the erased state came back');
      assert.deepEqual(after.outbox, []);
      await h.advanceTo(t0 + 25 * 60 * minute);
      assert.deepEqual(h.deliveries('ann').map((d) => d.template), sentBefore, 'nothing more was sent to ann');
    } finally {
      await h.stop();
    }
  });
});

describe('runs waiting per step, in the trigger report', () => {
  /** `report.waiting` of abandoned-cart through the API: the trigger's page and the list agree. */
  const waitingOf = async (h: Harness): Promise<Record<string, number>> => {
    const one = await h.n.api('/triggers/abandoned-cart');
    assert.equal(one.status, 200, JSON.stringify(one.body));
    const listed = (await h.n.api('/triggers')).body.items.find((t: any) => t.id === 'abandoned-cart');
    assert.deepEqual(listed.report.waiting, one.body.report.waiting, 'the list says the same');
    return one.body.report.waiting;
  };

  test('users entering a wait count there; the timer moves them on, an exit, a merge or an erasure takes them off, once', async () => {
    const h = await harness();
    try {
      for (const user of ['ann', 'bob', 'cid', 'dan']) await h.track(user, 'cart_updated', { item_count: 2 });
      // The in-app reminder went out at once; each run now waits 10 minutes at step 1 (`wait: 10m`).
      assert.deepEqual(await waitingOf(h), { '1': 4 });

      await h.track('ann', 'order_completed', { revenue: 30 });
      assert.deepEqual(await waitingOf(h), { '1': 3 }, 'an exit ends the wait');

      // An anonymous shopper with a cart of her own turns out to be dan: her run is merged away.
      const at = new Date(h.clock.now()).toISOString();
      assert.equal((await send(h.n.url, '/v1/track', { anonymousId: 'dev-9', event: 'cart_updated', properties: { item_count: 1 }, timestamp: at })).status, 200);
      await h.settle();
      assert.deepEqual(await waitingOf(h), { '1': 4 });
      assert.equal((await send(h.n.url, '/v1/identify', { userId: 'dan', anonymousId: 'dev-9', timestamp: at })).status, 200);
      await h.settle();
      assert.deepEqual(await waitingOf(h), { '1': 3 }, "dan's run goes on, the merged-in one ends");
      assert.deepEqual((await h.n.api('/triggers/abandoned-cart')).body.report.exited, { exit_on: 1, merged: 1 });

      await h.advanceTo(t0 + 10 * minute);
      assert.deepEqual(await waitingOf(h), { '3': 3 }, 'the timer fired: off step 1, on to the 24 hours of step 3');

      assert.equal((await h.n.api('/users/cid', { method: 'DELETE' })).status, 200);
      assert.deepEqual(await waitingOf(h), { '3': 2 }, 'an erased user waits nowhere');
      const report = (await h.n.api('/triggers/abandoned-cart')).body.report;
      assert.deepEqual(report.exited, { exit_on: 1, merged: 1, erased: 1 }, "the erased user's run counts as exited");
      assert.equal((await h.n.api('/triggers/abandoned-cart')).body.inFlight, 2, 'two runs in flight');

      await h.advanceTo(t0 + 25 * 60 * minute);
      assert.deepEqual(await waitingOf(h), {}, 'every run done: no step has anyone waiting');
      assert.equal((await h.n.api('/triggers/abandoned-cart')).body.report.completed, 2);
    } finally {
      await h.stop();
    }
  });
});

describe('delivery', () => {
  test('a push the provider refuses for good falls back to email', async () => {
    const h = await harness({
      triggers: {
        'welcome.yaml': 'id: welcome\nentry: { event: signed_up }\nsteps:\n  - send: push\n    template: hello\n    fallback: [email]\n',
      },
    });
    try {
      receiver.answer('/push', 410);
      await h.track('dan', 'signed_up');
      assert.deepEqual(h.deliveries('dan').map((d) => d.path), ['/push', '/email']);
      const outbox = await h.n.api('/outbox?userId=dan');
      assert.equal(outbox.body.items[0].status, 'delivered');
      assert.equal(outbox.body.items[0].deliveredVia, 'email');
    } finally {
      receiver.answer('/push', 200);
      await h.stop();
    }
  });

  test('a report that comes after a restart, for a visitor who logged in meanwhile, still arms the unopened fallback', async () => {
    const clock = new SimulatedClock(t0);
    const dataDir = mkdtempSync(path.join(tmpdir(), 'nudge-merge-restart-'));
    const triggersDir = mkdtempSync(path.join(tmpdir(), 'nudge-triggers-'));
    writeFileSync(
      path.join(triggersDir, 'cart.yaml'),
      'id: cart\nentry: { event: cart_left }\nsteps:\n  - id: nudge\n    send: push\n    template: hello\n    fallback: [email]\n    fallback_if_unopened: 1h\n',
    );
    const sentTo = (channel: string) => receiver.received.filter((r) => r.path === `/${channel}` && r.body.trigger?.id === 'cart' && r.body.at >= t0).map((r) => r.body.profileId);
    let h: Harness | null = null;
    try {
      receiver.answer('/push', 503); // the push gateway is down: the push waits for its retry, 1 s later
      h = await harness({ clock, dataDir, triggersDir });
      const at = new Date(t0).toISOString();
      const post = async (endpoint: string, body: object) => assert.equal((await send(h!.n.url, endpoint, { ...body, timestamp: at })).status, 200);
      await post('/v1/identify', { userId: 'vic', traits: { email: 'vic@example.com' } }); // vic has a profile already
      await post('/v1/track', { anonymousId: 'visitor-9', event: 'cart_left' }); // and shops without logging in
      await h.settle();
      assert.deepEqual(sentTo('push'), ['a:visitor-9']);
      // The visitor logs in as vic: the visitor's profile, run and the push's watch merge into vic's.
      await post('/v1/identify', { userId: 'vic', anonymousId: 'visitor-9' });
      await h.settle();
      assert.equal((await h.n.engineStore.loadStates([{ workspaceId: 'test', profileId: 'a:visitor-9' }])).size, 0, 'merged away');
      await h.n.stop();

      receiver.answer('/push', 200);
      h = await harness({ clock, dataDir, triggersDir });
      await h.advanceTo(t0 + 1000); // the retry: delivered, and reported for the visitor's profile
      assert.deepEqual(sentTo('push'), ['a:visitor-9', 'a:visitor-9']);
      await h.advanceTo(t0 + 1000 + 60 * minute - 1);
      assert.deepEqual(sentTo('email'), [], 'nothing before the hour');
      await h.advanceTo(t0 + 1000 + 60 * minute);
      assert.deepEqual(sentTo('email'), ['u:vic'], 'not opened within the hour of its delivery: the email, to vic');
    } finally {
      receiver.answer('/push', 200);
      await h?.n.stop();
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(triggersDir, { recursive: true, force: true });
    }
  });

  test('a failing receiver is retried with backoff, then the message is marked failed', async () => {
    const h = await harness({ triggers: { 'ping.yaml': 'id: ping\nentry: { event: pinged }\nsteps:\n  - send: in_app\n    template: pong\n' } });
    try {
      receiver.answer('/in_app', 503);
      await h.track('eve', 'pinged');
      assert.equal(h.deliveries('eve').length, 1);
      await h.advanceTo(t0 + 999);
      assert.equal(h.deliveries('eve').length, 1, 'the retry waits for its backoff');
      await h.advanceTo(t0 + 1000);
      assert.equal(h.deliveries('eve').length, 2);
      await h.advanceTo(t0 + 10_000);
      assert.equal(h.deliveries('eve').length, 3, 'three attempts in all (maxAttempts: 3)');
      const outbox = await h.n.api('/outbox?userId=eve');
      assert.equal(outbox.body.items[0].status, 'failed');
      assert.match(outbox.body.items[0].lastError, /HTTP 503/);
    } finally {
      receiver.answer('/in_app', 200);
      await h.stop();
    }
  });
});

describe('trigger definitions through the API', () => {
  test('PUT writes the file and applies it; a run in flight keeps the version it started with', async () => {
    const v1 = 'id: nag\nentry: { event: browsed }\nreentry: always\nsteps:\n  - wait: 5m\n  - send: in_app\n    template: v1\n';
    const h = await harness({ triggers: { 'nag.yaml': v1 } });
    try {
      await h.track('fay', 'browsed');
      const put = await h.n.api('/triggers/nag', {
        method: 'PUT',
        headers: { 'content-type': 'application/yaml' },
        body: v1.replace('wait: 5m', 'wait: 1m').replace('template: v1', 'template: v2'),
      });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.deepEqual(put.body.changed, ['nag']);
      assert.match(readFileSync(path.join(h.triggersDir, 'nag.yaml'), 'utf8'), /template: v2/);

      await h.track('gus', 'browsed');
      await h.advanceTo(t0 + 5 * minute);
      assert.deepEqual(h.deliveries().map((d) => [d.template, d.at - t0]), [
        ['v2', 1 * minute],
        ['v1', 5 * minute],
      ]);
    } finally {
      await h.stop();
    }
  });

  test('an invalid trigger is refused with 422 naming the line and field, and nothing changes', async () => {
    const h = await harness({ triggers: { 'ok.yaml': 'id: ok\nentry: { event: a }\nsteps:\n  - send: in_app\n    template: t\n' } });
    try {
      const put = await h.n.api('/triggers/ok', { method: 'PUT', headers: { 'content-type': 'application/yaml' }, body: 'id: ok\nentry: { event: a }\nsteps:\n  - send: pigeon\n    template: t\n' });
      assert.equal(put.status, 422);
      assert.ok(put.body.issues.some((i: any) => /ok\.yaml:4:\d+: steps\[0\]\.send/.test(`${i.path}`)), JSON.stringify(put.body.issues));
      const list = await h.n.api('/triggers');
      assert.deepEqual(list.body.items.map((t: any) => t.id), ['ok']);
      assert.match(readFileSync(path.join(h.triggersDir, 'ok.yaml'), 'utf8'), /send: in_app/);
    } finally {
      await h.stop();
    }
  });
});

describe('privacy', () => {
  test('erasing a user removes their runs, messages and pending steps; nothing is sent to them after', async () => {
    const h = await harness();
    try {
      await h.track('hal', 'cart_updated', { item_count: 1 });
      await h.track('ida', 'cart_updated', { item_count: 1 });
      const exported = await h.n.api('/users/hal/export');
      assert.deepEqual(Object.keys(exported.body.triggerState.runs), ['abandoned-cart']);
      assert.deepEqual(exported.body.messages.map((m: any) => m.template), ['cart-reminder']);

      const erased = await h.n.api('/users/hal', { method: 'DELETE' });
      // Events: the cart update and the outcome of the message sent (Message Sent).
      assert.deepEqual(erased.body, {
        profiles: 1,
        identities: 1,
        events: 2,
        triggerStates: 1,
        messages: 1,
        timers: 1,
        channels: { inbox: 0, pushSubscriptions: 0, smsConsent: 0, discountCodes: 0 },
      });
      await h.advanceTo(t0 + 25 * 60 * minute);
      assert.deepEqual(h.deliveries('hal').map((d) => d.template), ['cart-reminder'], 'only what was sent before the erasure');
      assert.deepEqual(h.deliveries('ida').map((d) => d.template), ['cart-reminder', 'cart-push-with-code', 'cart-email']);
    } finally {
      await h.stop();
    }
  });
});

describe('delivery policy, checked when a message goes out', () => {
  const sendOn = (id: string, event: string, channel = 'in_app', priority = 50, extra = '') =>
    `id: ${id}\npriority: ${priority}\nentry: { event: ${event} }\nreentry: always\nsteps:\n  - send: ${channel}\n    template: ${id}\n${extra}`;

  test('a frequency cap (2 an hour) suppresses the third message; an hour later one goes again', async () => {
    const h = await harness({
      triggers: { 'a.yaml': sendOn('a', 'viewed'), 'b.yaml': sendOn('b', 'searched'), 'c.yaml': sendOn('c', 'clicked') },
      delivery: '  caps:\n    - { max: 2, per: 1h }\n',
    });
    try {
      await h.track('jo', 'viewed');
      await h.track('jo', 'searched');
      await h.track('jo', 'clicked');
      assert.deepEqual(h.deliveries('jo').map((d) => d.template), ['a', 'b']);
      const outbox = await h.n.api('/outbox?userId=jo');
      const c = outbox.body.items.find((m: any) => m.triggerId === 'c');
      assert.equal(c.status, 'suppressed');
      assert.match(c.lastError, /^capped: at most 2 messages per 60 min/);
      assert.deepEqual((await h.n.api('/triggers/c')).body.report.deliveries, { 'suppressed:capped': 1 });

      await h.advanceTo(t0 + 61 * minute);
      await h.track('jo', 'clicked');
      assert.deepEqual(h.deliveries('jo').map((d) => d.template), ['a', 'b', 'c']);
    } finally {
      await h.stop();
    }
  });

  test('when a cap lets only one of two through, the higher priority goes', async () => {
    const h = await harness({
      triggers: { 'low.yaml': sendOn('low', 'viewed', 'in_app', 10), 'high.yaml': sendOn('high', 'clicked', 'in_app', 90) },
      delivery: '  caps:\n    - { max: 1, per: 1h, channel: in_app }\n',
    });
    try {
      // One request: both messages are decided in the same group, the low-priority one first.
      const at = new Date(t0).toISOString();
      const batch = [{ type: 'track', userId: 'kim', event: 'viewed', timestamp: at }, { type: 'track', userId: 'kim', event: 'clicked', timestamp: at }];
      assert.equal((await send(h.n.url, '/v1/batch', { batch })).status, 200);
      await h.settle();
      assert.deepEqual(h.deliveries('kim').map((d) => d.template), ['high']);
      const outbox = await h.n.api('/outbox?userId=kim');
      assert.deepEqual(outbox.body.items.map((m: any) => [m.triggerId, m.status]).sort(), [['high', 'delivered'], ['low', 'suppressed']]);
    } finally {
      await h.stop();
    }
  });

  test("quiet hours in the user's time zone defer a push to their end; other channels go at once", async () => {
    const h = await harness({
      triggers: { 'p.yaml': sendOn('p', 'viewed', 'push'), 'e.yaml': sendOn('e', 'viewed', 'email') },
      // t0 is 12:00 UTC = 14:00 in Berlin, inside 13:00-15:00.
      delivery: '  quietHours: { from: "13:00", to: "15:00", channels: [push], action: defer }\n',
    });
    try {
      const r = await send(h.n.url, '/v1/track', { userId: 'lu', event: 'viewed', timestamp: new Date(t0).toISOString(), context: { timezone: 'Europe/Berlin' } });
      assert.equal(r.status, 200);
      await h.settle();
      assert.deepEqual(h.deliveries('lu').map((d) => d.path), ['/email']);
      assert.equal((await h.n.api('/outbox?userId=lu&status=pending')).body.items[0].lastError, 'quiet_hours');
      await h.advanceTo(t0 + 60 * minute - 1);
      assert.deepEqual(h.deliveries('lu').map((d) => d.path), ['/email'], 'not before 15:00 Berlin');
      await h.advanceTo(t0 + 60 * minute);
      assert.deepEqual(h.deliveries('lu').map((d) => d.path), ['/email', '/push']);
      const push = (await h.n.api('/outbox?userId=lu')).body.items.find((m: any) => m.channel === 'push');
      assert.equal(push.status, 'delivered');
      assert.equal(push.attempts, 1, 'deferring is not an attempt');
    } finally {
      await h.stop();
    }
  });

  test('a user who opted out of push gets the step on its fallback channel; opted out of both, nothing', async () => {
    const h = await harness({ triggers: { 'w.yaml': sendOn('w', 'signed_up', 'push', 50, '    fallback: [email]\n') } });
    try {
      for (const [userId, consent] of [['mo', { push: false }], ['ned', { marketing: false }]] as const) {
        assert.equal((await send(h.n.url, '/v1/identify', { userId, traits: { consent } })).status, 200);
      }
      await h.track('mo', 'signed_up');
      await h.track('ned', 'signed_up');
      assert.deepEqual(h.deliveries('mo').map((d) => d.path), ['/email']);
      assert.deepEqual(h.deliveries('ned'), []);
      const ned = (await h.n.api('/outbox?userId=ned')).body.items[0];
      assert.equal(ned.status, 'suppressed');
      assert.match(ned.lastError, /^no_consent/);
    } finally {
      await h.stop();
    }
  });
});

