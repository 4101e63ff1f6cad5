/**
 * An SMS opt-out reaches the user, end to end through the real server on a simulated clock: a
 * trigger texts the user's `phone` through the Twilio stand-in (test/support/twilio-api.ts), the
 * user texts STOP to the signed inbound webhook, and before the webhook's answer their consent
 * has `sms: false`; `Unsubscribed` is on their timeline; the next text is suppressed without a
 * request. START turns it on again. Also: a late keyword changes nothing, a number Nudge never
 * texted (or that a user no longer has) maps to nobody while its opt-out still holds, Twilio's
 * 21610 does what STOP does, and export and erasure cover who each number was texted for.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import twilio from 'twilio';
import { SimulatedClock } from '../../src/ports/clock.js';
import { send, startNudge, testConfig, type RunningNudge } from '../support/nudge.js';
import { simulatedTime, type SimulatedTime } from '../support/simulated-time.js';
import { profileOf, timelineOf, type StoredEventBody } from '../support/timeline.js';
import { startTwilioApi, type TwilioApi } from '../support/twilio-api.js';

const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const minute = 60_000;
const accountSid = `AC${'0123456789abcdef'.repeat(2)}`;
const authToken = 'test-auth-token-0123456789';
const publicUrl = 'https://nudge.shop.test'; // where Twilio reaches the server: what it signs
const ours = '+15005550006';
const dir = mkdtempSync(path.join(tmpdir(), 'nudge-sms-consent-'));
let api: TwilioApi;

before(async () => {
  api = await startTwilioApi({ accountSid, authToken });
  mkdirSync(path.join(dir, 'triggers'));
  mkdirSync(path.join(dir, 'templates'));
  // SMS only, no fallback: a text that may not go is suppressed or fails, nothing else is tried.
  writeFileSync(path.join(dir, 'triggers', 'cart.yaml'), 'id: cart\nentry: { event: cart_left }\nreentry: always\nsteps:\n  - id: text\n    send: sms\n    template: cart-sms\n');
  writeFileSync(path.join(dir, 'templates', 'cart-sms.yaml'), 'id: cart-sms\nsms:\n  text: "Your cart is waiting."\n');
});
after(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Running {
  n: RunningNudge;
  time: SimulatedTime;
}

async function start(): Promise<Running> {
  const time = simulatedTime(new SimulatedClock(t0));
  const config = testConfig(
    `publicUrl: ${publicUrl}\ntriggers: { dir: ${dir}/triggers, watch: false }\ntemplates: { dir: ${dir}/templates, watch: false }\nchannels:\n` +
      `  sms:\n    twilio: { baseUrl: "${api.url}", accountSid: ${accountSid}, authToken: ${authToken}, from: "${ours}" }\n`,
  );
  const n = await startNudge({ config, clock: time.clock, wakeups: time.wakeups });
  time.attach(n);
  return { n, time };
}

async function identify({ n, time }: Running, userId: string, traits: Record<string, unknown>): Promise<void> {
  assert.equal((await send(n.url, '/v1/identify', { userId, traits, timestamp: new Date(time.clock.now()).toISOString() })).status, 200);
}

/** The user leaves a cart: the trigger's text is due at once. Resolves once everything settled. */
async function leaveCart({ n, time }: Running, userId: string): Promise<void> {
  assert.equal((await send(n.url, '/v1/track', { userId, event: 'cart_left', timestamp: new Date(time.clock.now()).toISOString() })).status, 200);
  await time.settle();
}

/** `from` texts `body` to our number: Twilio's inbound webhook, signed with the auth token. */
async function text(n: RunningNudge, from: string, body: string): Promise<Response> {
  const params = { From: from, To: ours, Body: body, MessageSid: `SM${'a'.repeat(32)}`, AccountSid: accountSid };
  return fetch(`${n.url}/v1/sms/test/inbound`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(authToken, `${publicUrl}/v1/sms/test/inbound`, params) },
    body: new URLSearchParams(params),
  });
}

const consentOf = async (n: RunningNudge, userId: string): Promise<unknown> => (await n.api(`/users/${userId}/consent`)).body.consent;
const named = (events: readonly StoredEventBody[], name: string): StoredEventBody[] => events.filter((e) => e.name === name);
const textsTo = (phone: string): number => api.requests.filter((r) => r.fields.some(([k, v]) => k === 'To' && v === phone)).length;

test('STOP turns SMS off for the user texted at that number, on the timeline; the next text is suppressed; START turns it on again', async () => {
  const running = await start();
  const { n, time } = running;
  const ada = '+447700900123';
  try {
    await identify(running, 'ada', { name: 'Ada', phone: ada });
    await leaveCart(running, 'ada');
    assert.equal(textsTo(ada), 1);

    time.clock.set(t0 + minute);
    const stop = await text(n, ada, 'Stop');
    assert.equal(stop.status, 200);
    assert.match(stop.headers.get('content-type')!, /xml/);
    // Committed before the answer: read at once, with nothing flushed in between.
    assert.deepEqual(await consentOf(n, 'ada'), { sms: false });
    assert.deepEqual((await profileOf(n, 'ada')).traits.consent, { sms: false });

    await n.messageEvents.flush();
    const afterStop = await timelineOf(n, 'ada');
    const [unsubscribed, ...moreUnsubscribed] = named(afterStop, 'Unsubscribed');
    assert.equal(moreUnsubscribed.length, 0);
    assert.deepEqual(unsubscribed?.properties, { channel: 'sms', keyword: 'STOP', from: ['sms'], source: 'sms' });
    assert.equal(unsubscribed.timestamp, new Date(t0 + minute).toISOString());
    assert.equal(unsubscribed.context['active'], undefined, 'texting STOP is something the user did');
    assert.deepEqual(named(afterStop, 'Consent Updated').map((e) => e.properties), [{ channel: 'sms', keyword: 'STOP', changes: { sms: false }, consent: { sms: false }, source: 'sms' }]);
    assert.equal(named(afterStop, 'Consent Updated')[0]!.context['active'], false, 'what Nudge records is not user activity');

    time.clock.set(t0 + 2 * minute);
    await leaveCart(running, 'ada');
    assert.equal(textsTo(ada), 1, 'no request reaches Twilio');
    const suppressed = named(await timelineOf(n, 'ada'), 'Message Suppressed');
    assert.equal(suppressed.length, 1);
    assert.equal(suppressed[0]!.properties['reason'], 'no_consent');

    // A START that happened before the STOP, arriving late (the clock read behind), changes nothing.
    time.clock.set(t0 + minute - 1);
    assert.equal((await text(n, ada, 'START')).status, 200);
    await n.messageEvents.flush();
    assert.deepEqual(await consentOf(n, 'ada'), { sms: false });
    assert.equal(named(await timelineOf(n, 'ada'), 'Consent Updated').length, 1);

    time.clock.set(t0 + 3 * minute);
    assert.equal((await text(n, ada, 'start')).status, 200);
    assert.deepEqual(await consentOf(n, 'ada'), { sms: true });
    await n.messageEvents.flush();
    const afterStart = await timelineOf(n, 'ada');
    assert.deepEqual(named(afterStart, 'Consent Updated').at(-1)?.properties, { channel: 'sms', keyword: 'START', changes: { sms: true }, consent: { sms: true }, source: 'sms' });
    assert.equal(named(afterStart, 'Unsubscribed').length, 1, 'START unsubscribes from nothing');

    time.clock.set(t0 + 4 * minute);
    await leaveCart(running, 'ada');
    assert.equal(textsTo(ada), 2, 'texts go out again');
  } finally {
    await n.stop();
  }
});

test('a number Nudge never texted, or that a user no longer has, changes nobody; its opt-out still holds', async () => {
  const running = await start();
  const { n, time } = running;
  const bob = '+447700900200';
  const cyOld = '+447700900300';
  const cyNew = '+447700900301';
  try {
    await identify(running, 'bob', { phone: bob });
    await identify(running, 'cy', { phone: cyOld });
    await leaveCart(running, 'cy');
    assert.equal(textsTo(cyOld), 1);
    await identify(running, 'cy', { phone: cyNew });

    time.clock.set(t0 + minute);
    assert.equal((await text(n, bob, 'STOP')).status, 200);
    assert.equal((await text(n, cyOld, 'UNSUBSCRIBE')).status, 200);
    await n.messageEvents.flush();
    for (const user of ['bob', 'cy']) {
      assert.deepEqual(await consentOf(n, user), {}, `${user}'s consent is untouched`);
      assert.deepEqual(named(await timelineOf(n, user), 'Unsubscribed'), []);
    }

    // Bob's number said STOP: the channel refuses it before any request.
    time.clock.set(t0 + 2 * minute);
    await leaveCart(running, 'bob');
    assert.equal(textsTo(bob), 0);
    const failed = named(await timelineOf(n, 'bob'), 'Message Failed');
    assert.equal(failed[0]?.properties['reason'], 'no_consent');
    // Cy's new number is not the one that said STOP.
    await leaveCart(running, 'cy');
    assert.equal(textsTo(cyNew), 1);
  } finally {
    await n.stop();
  }
});

test("Twilio's 21610 for a user's number does what STOP does, with the provider's keyword", async () => {
  const running = await start();
  const { n, time } = running;
  const dee = '+447700900400';
  try {
    await identify(running, 'dee', { phone: dee, consent: { 'sms:product': true, email: true } });
    api.answer(dee, { error: 21610 });
    await leaveCart(running, 'dee');
    assert.equal(textsTo(dee), 1);
    // `sms: false` also drops the narrower key that would still allow texts.
    assert.deepEqual(await consentOf(n, 'dee'), { email: true, sms: false });
    const events = await timelineOf(n, 'dee');
    assert.deepEqual(named(events, 'Unsubscribed').map((e) => e.properties), [{ channel: 'sms', keyword: 'twilio:21610', from: ['sms'], source: 'sms' }]);
    assert.equal(named(events, 'Unsubscribed')[0]!.context['active'], false, 'the provider reported it: not the user\'s activity');
    assert.equal(named(events, 'Message Failed')[0]?.properties['reason'], 'no_consent');

    time.clock.set(t0 + minute);
    await leaveCart(running, 'dee');
    assert.equal(textsTo(dee), 1, 'suppressed before the channel');
  } finally {
    await n.stop();
  }
});

test('export shows who each number was texted for; erasure removes it', async () => {
  const running = await start();
  const { n, time } = running;
  const eve = '+447700900500';
  try {
    await identify(running, 'eve', { phone: eve });
    await leaveCart(running, 'eve');
    time.clock.set(t0 + minute);
    assert.equal((await text(n, eve, 'STOP')).status, 200);

    const exported = (await n.api('/users/eve/export')).body.channels;
    assert.deepEqual(exported.smsRecipients, [{ workspaceId: 'test', phone: eve, recipient: 'u:eve', at: t0 }]);
    assert.deepEqual(exported.smsConsent, [{ workspaceId: 'test', phone: eve, optedOut: true, at: t0 + minute, keyword: 'STOP' }]);
    const erased = (await n.api('/users/eve', { method: 'DELETE' })).body.channels;
    assert.equal(erased.smsConsent, 2, 'the opt-out record and the recipient entry');
  } finally {
    await n.stop();
  }
});
