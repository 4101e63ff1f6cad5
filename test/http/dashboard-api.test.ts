/**
 * What the management API gained for the dashboard, over real HTTP against a real server (SQLite)
 * on a simulated clock: the message log's channel and time filters, a message with its rendered
 * content, user search by trait, a trigger's file and per-step numbers, switching a trigger off
 * and on, checking a draft without saving it, problems located by line and column, the backtest
 * over stored events, and live rates. Bad input is a 400 (or 422) naming the field.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SimulatedClock } from '../../src/ports/clock.js';
import { send, startNudge, testConfig, type RunningNudge } from '../support/nudge.js';
import { simulatedTime } from '../support/simulated-time.js';
import { eventually } from '../support/timeline.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const minute = 60_000;
const project = mkdtempSync(path.join(tmpdir(), 'nudge-dashboard-api-'));
const triggersDir = path.join(project, 'triggers');
const templatesDir = path.join(project, 'templates');

const files: Record<string, string> = {
  'triggers/cart.yaml': `# A cart left behind: in-app at once, a push 10 minutes later, an email after a day.
id: cart
priority: 70
entry:
  event: cart_updated
  when: event.properties.item_count > 0
exit_on:
  - event: order_completed   # bought: nothing more
steps:
  - id: at-once
    send: in_app
    template: cart-note
  - wait: 10m
  - id: later
    send: push
    template: cart-note
  - wait: 24h
  - id: last-call
    send: email
    template: cart-note
`,
  'triggers/tenth.yaml': `# The tenth purchase.
id: tenth
entry:
  event: order_completed
  when: user.computed.events.order_completed.count == 10
reentry: always   # every one of them
steps:
  - send: email
    template: cart-note
`,
  'templates/cart-note.yaml': `id: cart-note
in_app:
  title: "{{ user.traits.name | default: 'Hello' }}, your cart is waiting"
  body: "{{ event.properties.item_count }} items worth {{ event.properties.value }}"
push:
  title: "Still thinking?"
  body: "Your cart is waiting"
email:
  subject: "Your cart"
  text: "It is waiting"
`,
};
mkdirSync(triggersDir);
mkdirSync(templatesDir);
for (const [name, text] of Object.entries(files)) writeFileSync(path.join(project, name), text);

let receiver: WebhookReceiver;
let nudge: RunningNudge;
let time: ReturnType<typeof simulatedTime>;

const iso = (t: number) => new Date(t).toISOString();
const json = (method: string, body: unknown): RequestInit => ({ method, body: JSON.stringify(body) });
const yaml = (method: string, body: string): RequestInit => ({ method, headers: { 'content-type': 'application/yaml' }, body });
const issuePaths = (body: { issues?: { path: string }[] }) => (body.issues ?? []).map((i) => i.path).join(' ');

async function track(userId: string, event: string, properties: Record<string, unknown>, at: number): Promise<void> {
  const res = await send(nudge.url, '/v1/track', { userId, event, properties, timestamp: iso(at) });
  assert.equal(res.status, 200, JSON.stringify(res.body));
}

before(async () => {
  receiver = await startWebhookReceiver();
  const channels = ['in_app', 'push', 'email'].map((c) => `  ${c}:\n    webhook:\n      url: ${receiver.url}/${c}\n      allowPrivateNetworks: true\n`).join('');
  const config = testConfig(
    `triggers:\n  dir: ${triggersDir}\n  watch: false\ntemplates:\n  dir: ${templatesDir}\n  watch: false\nchannels:\n${channels}`,
  );
  time = simulatedTime(new SimulatedClock(t0));
  nudge = await startNudge({ config, clock: time.clock, wakeups: time.wakeups });
  time.attach(nudge);
  const identify = (userId: string, traits: Record<string, unknown>) => send(nudge.url, '/v1/identify', { userId, traits, timestamp: iso(t0) });
  await identify('ada', { email: 'ada@example.com', name: 'Ada', plan: 'pro', address: { city: 'London' } });
  await identify('bo', { email: 'bo@example.com', name: 'Bo', plan: 'free' });
  await identify('cy', { name: 'Cy', plan: 'Pro' });
  // ada and bo abandon carts at t0 + 1 min and + 2 min: an in-app message each at once, a push (falling back to email) 10 minutes later.
  // Each decided (and its message stamped) before the clock moves on.
  await time.advanceTo(t0 + minute);
  await track('ada', 'cart_updated', { item_count: 2, value: 50 }, t0 + minute);
  await time.settle();
  await time.advanceTo(t0 + 2 * minute);
  await track('bo', 'cart_updated', { item_count: 1, value: 20 }, t0 + 2 * minute);
  await time.settle();
  await time.advanceTo(t0 + 13 * minute);
});
after(async () => {
  await nudge.stop();
  await receiver.close();
  rmSync(project, { recursive: true, force: true });
});

describe('message log', () => {
  test('filters by channel (the step’s or the one that delivered it), status and time; bad values are 400s naming the field', async () => {
    const all = await nudge.api('/outbox?limit=100');
    assert.deepEqual(all.body.items.map((m: any) => `${m.profileId}/${m.stepId}/${m.channel}`).sort(), [
      'u:ada/at-once/in_app',
      'u:ada/later/push',
      'u:bo/at-once/in_app',
      'u:bo/later/push',
    ]);
    const inApp = await nudge.api('/outbox?channel=in_app');
    assert.deepEqual(inApp.body.items.map((m: any) => m.profileId), ['u:bo', 'u:ada'], 'newest first');
    assert.equal((await nudge.api('/outbox?channel=push&status=delivered')).body.items.length, 2);
    assert.deepEqual((await nudge.api('/outbox?channel=sms')).body, { items: [], nextCursor: null });

    const early = await nudge.api(`/outbox?until=${iso(t0 + 2 * minute)}`);
    assert.deepEqual(early.body.items.map((m: any) => m.stepId), ['at-once'], 'until is exclusive: only ada’s first message');
    const late = await nudge.api(`/outbox?since=${iso(t0 + 2 * minute)}&until=${iso(t0 + 12 * minute)}`);
    assert.deepEqual(late.body.items.map((m: any) => `${m.profileId}/${m.stepId}`), ['u:ada/later', 'u:bo/at-once']);

    for (const [query, field] of [['channel=pigeon', 'channel'], ['since=yesterday', 'since'], ['until=2026-13-01', 'until'], ['status=lost', 'status']]) {
      const res = await nudge.api(`/outbox?${query}`);
      assert.equal(res.status, 400, query);
      assert.match(issuePaths(res.body), new RegExp(`querystring\\.${field}`), query);
    }
  });

  test('a filtered listing pages without overlap or gaps', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: { body: any } = await nudge.api(`/outbox?channel=push&limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...res.body.items.map((m: any) => m.key));
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor);
    assert.equal(new Set(seen).size, 2);
    assert.ok(seen.every((k) => k.endsWith('/later')));
    assert.ok(pages <= 3);
  });

  test('a message comes with its content rendered for the channel it went out on', async () => {
    const key = (await nudge.api('/outbox?channel=in_app&userId=ada')).body.items[0].key as string;
    const res = await nudge.api(`/outbox/${encodeURIComponent(key)}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.key, key);
    assert.equal(res.body.status, 'delivered');
    assert.equal(res.body.content.channel, 'in_app');
    assert.deepEqual(res.body.content.parts, { title: 'Ada, your cart is waiting', body: '2 items worth 50' });

    assert.equal((await nudge.api(`/outbox/${encodeURIComponent(key.replace('at-once', 'nope'))}`)).status, 404);
    assert.equal((await nudge.api(`/outbox/${encodeURIComponent(key)}?workspace=other`)).status, 404, 'another workspace does not see it');
    const garbage = await nudge.api('/outbox/garbage');
    assert.equal(garbage.status, 404);
    assert.match(garbage.body.message, /^key:/);
  });
});

describe('user search by trait', () => {
  test('matches a trait’s value without case, a dotted path, or only its presence', async () => {
    const ids = async (query: string) => (await nudge.api(`/users?${query}`)).body.items.map((p: any) => p.profileId).sort();
    assert.deepEqual(await ids('trait=plan&value=pro'), ['u:ada', 'u:cy']);
    assert.deepEqual(await ids('trait=plan&value=free'), ['u:bo']);
    assert.deepEqual(await ids('trait=address.city&value=london'), ['u:ada']);
    assert.deepEqual(await ids('trait=email'), ['u:ada', 'u:bo']);
    assert.deepEqual(await ids('trait=email&query=bo'), ['u:bo'], 'combined with the indexed prefix search');
    const paged = await nudge.api('/users?trait=plan&limit=1');
    assert.equal(paged.body.items.length, 1);
    const rest = await nudge.api(`/users?trait=plan&limit=5&cursor=${paged.body.nextCursor}`);
    assert.equal(paged.body.items.length + rest.body.items.length, 3);
  });

  test('value without trait, or an empty trait, is a 400 naming the field', async () => {
    const res = await nudge.api('/users?value=pro');
    assert.equal(res.status, 400);
    assert.match(res.body.message, /^value:/);
    const empty = await nudge.api('/users?trait=');
    assert.equal(empty.status, 400);
    assert.match(issuePaths(empty.body), /querystring\.trait/);
  });
});

describe('triggers', () => {
  test('a trigger comes with its file as written, runs in flight and numbers per step', async () => {
    const res = await nudge.api('/triggers/cart');
    assert.equal(res.status, 200);
    assert.equal(res.body.source, readFileSync(path.join(triggersDir, 'cart.yaml'), 'utf8'));
    assert.equal(res.body.inFlight, 2, 'both runs wait for their email');
    assert.deepEqual(res.body.steps['at-once'], { sent: { in_app: 2 }, outcomes: { 'delivered:in_app': 2 } });
    assert.deepEqual(res.body.steps['later'], { sent: { push: 2 }, outcomes: { 'delivered:push': 2 } });
    const list = await nudge.api('/triggers');
    const listed = list.body.items.find((t: any) => t.id === 'cart');
    assert.equal(listed.inFlight, 2);
    assert.deepEqual(listed.steps, res.body.steps);
  });

  test('PATCH switches a trigger off and on in its file, comments and layout kept; off, it starts no run', async () => {
    const file = path.join(triggersDir, 'tenth.yaml');
    const before = readFileSync(file, 'utf8');
    const off = await nudge.api('/triggers/tenth', json('PATCH', { enabled: false }));
    assert.equal(off.status, 200, JSON.stringify(off.body));
    assert.deepEqual(off.body.changed, ['tenth']);
    const written = readFileSync(file, 'utf8');
    assert.equal(written, before.replace('id: tenth\n', 'id: tenth\nenabled: false\n'));
    assert.equal((await nudge.api('/triggers/tenth')).body.enabled, false);

    for (let i = 0; i < 10; i++) await track('dee', 'order_completed', { revenue: 1 }, t0 + 14 * minute + i);
    await time.advanceTo(t0 + 15 * minute);
    assert.equal((await nudge.api('/triggers/tenth')).body.report.entered, 0, 'the tenth purchase starts nothing while off');

    const on = await nudge.api('/triggers/tenth', json('PATCH', { enabled: true }));
    assert.equal(on.status, 200);
    assert.equal(readFileSync(file, 'utf8'), before.replace('id: tenth\n', 'id: tenth\nenabled: true\n'));
    assert.equal((await nudge.api('/triggers/tenth')).body.enabled, true);
  });

  test('PATCH: unknown trigger 404; a body without enabled, or with more, 400 naming the field', async () => {
    assert.equal((await nudge.api('/triggers/nope', json('PATCH', { enabled: false }))).status, 404);
    const missing = await nudge.api('/triggers/tenth', json('PATCH', {}));
    assert.equal(missing.status, 400);
    assert.match(issuePaths(missing.body), /body\.enabled/);
    const wrong = await nudge.api('/triggers/tenth', json('PATCH', { enabled: 'no' }));
    assert.equal(wrong.status, 400);
    assert.match(issuePaths(wrong.body), /body\.enabled/);
  });

  test('problems come back with their line, column and field; a dry run checks without writing', async () => {
    const file = path.join(triggersDir, 'cart.yaml');
    const source = readFileSync(file, 'utf8');
    const broken = source.replace('send: push', 'send: pigeon');
    const line = broken.split('\n').findIndex((l) => l.includes('pigeon')) + 1;

    const checked = await nudge.api('/triggers/cart?dryRun=true', yaml('PUT', broken));
    assert.equal(checked.status, 422);
    const [issue] = checked.body.issues;
    assert.deepEqual({ line: issue.line, column: issue.column, field: issue.field, file: issue.file }, { line, column: 11, field: 'steps[2].send', file });
    assert.match(issue.message, /must be one of/);
    const saved = await nudge.api('/triggers/cart', yaml('PUT', broken));
    assert.equal(saved.status, 422);
    assert.deepEqual(saved.body.issues, checked.body.issues, 'a save says the same');
    assert.equal(readFileSync(file, 'utf8'), source, 'nothing written');

    const syntax = await nudge.api('/triggers/cart?dryRun=true', yaml('PUT', 'id: cart\nsteps: [\n'));
    assert.equal(syntax.status, 422);
    assert.equal(syntax.body.issues[0].line, 3);
    assert.equal(syntax.body.issues[0].field, null);

    const renamed = await nudge.api('/triggers/cart?dryRun=true', yaml('PUT', source.replace('id: cart', 'id: other')));
    assert.equal(renamed.status, 422);
    assert.match(renamed.body.issues[0].message, /being written as "cart"/);

    const good = await nudge.api('/triggers/cart?dryRun=true', yaml('PUT', source.replace('wait: 10m', 'wait: 5m')));
    assert.equal(good.status, 200, JSON.stringify(good.body));
    assert.equal(good.body.applied, false);
    assert.notEqual(good.body.version, (await nudge.api('/triggers/cart')).body.version, 'the version it would get');
    assert.equal(readFileSync(file, 'utf8'), source, 'nothing written');
    assert.equal((await nudge.api('/triggers/cart?dryRun=maybe', yaml('PUT', source))).status, 400);
  });
});

describe('backtest', () => {
  const backtest = (body: unknown, id = 'cart', query = '') => nudge.api(`/triggers/${id}/backtest${query}`, json('POST', body));

  test('replays the stored events of the range through the trigger and says what it would have sent', async () => {
    const res = await backtest({ since: iso(t0 - minute), until: iso(t0 + 13 * minute) });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.truncated, false);
    assert.equal(res.body.trigger.entered, 2);
    assert.deepEqual(res.body.trigger.messages.map((m: any) => `${m.stepId}:${m.channel}:${m.count}`), ['at-once:in_app:2', 'later:push:2']);
    assert.equal(res.body.messages, 4);
    assert.equal(res.body.trigger.pendingTimers, 2, 'both wait for the email');
    assert.deepEqual(res.body.sample.map((m: any) => `${m.profileId}/${m.stepId}@${m.dueAt}`), [
      `u:ada/at-once@${iso(t0 + minute)}`,
      `u:bo/at-once@${iso(t0 + 2 * minute)}`,
      `u:ada/later@${iso(t0 + 11 * minute)}`,
      `u:bo/later@${iso(t0 + 12 * minute)}`,
    ]);
    assert.equal(res.body.clockStoppedAt, iso(t0 + 13 * minute));
  });

  test('the range and the event limit bound what is replayed; cut short, the clock stops at the last event read', async () => {
    const early = await backtest({ since: iso(t0 - minute), until: iso(t0 + 5 * minute) });
    assert.deepEqual(early.body.trigger.messages.map((m: any) => m.stepId), ['at-once']);
    const cut = await backtest({ since: iso(t0 - minute), until: iso(t0 + 13 * minute), maxEvents: 4, sampleMessages: 1 });
    assert.equal(cut.body.truncated, true);
    assert.equal(cut.body.events.read, 4);
    assert.equal(cut.body.clockStoppedAt, cut.body.lastEventAt);
    assert.equal(cut.body.sample.length, 1);
  });

  test('a draft is backtested instead of the trigger in force; a disabled trigger as if enabled', async () => {
    const source = readFileSync(path.join(triggersDir, 'cart.yaml'), 'utf8');
    const draft = await backtest({ since: iso(t0 - minute), until: iso(t0 + 13 * minute), source: source.replace('wait: 10m', 'wait: 30m') });
    assert.equal(draft.status, 200, JSON.stringify(draft.body));
    assert.deepEqual(draft.body.trigger.messages.map((m: any) => m.stepId), ['at-once'], 'the push would not be due yet');
    const disabled = await backtest({ since: iso(t0 - minute), until: iso(t0 + 13 * minute), source: source.replace('priority: 70', 'priority: 70\nenabled: false') });
    assert.equal(disabled.body.trigger.entered, 2);
  });

  test('reads a range denser than its window and many events of one millisecond, oldest first', async () => {
    const at = t0 + 20 * minute;
    const batch = [];
    for (let i = 0; i < 1500; i++) batch.push({ type: 'track', userId: `crowd-${i % 300}`, event: 'cart_updated', properties: { item_count: 1 }, timestamp: iso(at + Math.floor(i / 2) * 10), messageId: `crowd-${i}` });
    for (let i = 0; i < 1100; i++) batch.push({ type: 'track', userId: `same-${i}`, event: 'cart_updated', properties: { item_count: 1 }, timestamp: iso(at + 60_000), messageId: `same-${i}` });
    assert.equal((await send(nudge.url, '/v1/batch', { batch })).status, 200);
    const res = await backtest({ since: iso(at), until: iso(at + 2 * minute), sampleMessages: 1000 });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.events, { read: 2600, applied: 2600, duplicates: 0, reordered: false });
    assert.equal(res.body.trigger.entered, 300 + 1100);
    const times = res.body.sample.map((m: any) => Date.parse(m.dueAt));
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
  });

  test('bad input: 400 naming the field; an invalid draft 422 locating its problems; an unknown trigger 404', async () => {
    const backwards = await backtest({ since: iso(t0), until: iso(t0 - 1) });
    assert.equal(backwards.status, 400);
    assert.match(issuePaths(backwards.body), /body\.since/);
    for (const [body, field] of [[{ maxEvents: 0 }, 'maxEvents'], [{ since: 'soon' }, 'since'], [{ sampleMessages: 5000 }, 'sampleMessages'], [{ source: '' }, 'source']] as const) {
      const res = await backtest(body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.match(JSON.stringify(res.body), new RegExp(field), JSON.stringify(body));
    }
    const draft = await backtest({ source: 'id: cart\nentry: { event: a }\nsteps:\n  - send: pigeon\n    template: t\n' });
    assert.equal(draft.status, 422);
    assert.deepEqual([draft.body.issues[0].line, draft.body.issues[0].field], [4, 'steps[0].send']);
    assert.equal((await backtest({}, 'nope')).status, 404);
    assert.equal((await backtest({}, 'cart', '?workspace=nope')).status, 404);
  });
});

describe('live rates', () => {
  test('events accepted and messages decided per second, sampled every second', async () => {
    const before = (await nudge.api('/stats/live')).body.totals;
    const batch = Array.from({ length: 40 }, (_, i) => ({ type: 'track', userId: `live-${i}`, event: 'cart_updated', properties: { item_count: 1 }, timestamp: iso(time.clock.now()) }));
    assert.equal((await send(nudge.url, '/v1/batch', { batch })).status, 200);
    await time.settle();
    const res = await eventually(async () => {
      const r = await nudge.api('/stats/live?seconds=10');
      assert.ok(r.body.points.some((p: any) => p.eventsPerSecond > 0 && p.sendsPerSecond > 0), JSON.stringify(r.body.points));
      return r;
    }, 5000);
    assert.equal(res.body.intervalMs, 1000);
    assert.equal(res.body.totals.events - before.events, 40);
    assert.equal(res.body.totals.sends - before.sends, 40, 'each enters cart and gets the in-app message');
    assert.ok(res.body.points.length <= 10);
    const bad = await nudge.api('/stats/live?seconds=0');
    assert.equal(bad.status, 400);
    assert.match(issuePaths(bad.body), /querystring\.seconds/);
  });
});

test('the OpenAPI document describes what was added, and not the dashboard’s pages', async () => {
  const doc = (await (await fetch(`${nudge.url}/api/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, any>> };
  assert.ok(doc.paths['/api/v1/triggers/{id}/backtest']?.['post']);
  assert.ok(doc.paths['/api/v1/triggers/{id}']?.['patch']);
  assert.ok(doc.paths['/api/v1/stats/live']?.['get']);
  assert.ok(doc.paths['/api/v1/outbox/{key}']?.['get']);
  const outboxParams = doc.paths['/api/v1/outbox']!['get'].parameters.map((p: { name: string }) => p.name);
  for (const name of ['channel', 'since', 'until']) assert.ok(outboxParams.includes(name), name);
  const userParams = doc.paths['/api/v1/users']!['get'].parameters.map((p: { name: string }) => p.name);
  for (const name of ['trait', 'value']) assert.ok(userParams.includes(name), name);
  assert.ok(doc.paths['/api/v1/triggers/{id}']!['put'].parameters.some((p: { name: string }) => p.name === 'dryRun'));
  assert.equal(doc.paths['/'], undefined);
  assert.equal(doc.paths['/assets/{name}'], undefined);
});
