/**
 * SMS end to end: a trigger's text goes to a Twilio-compatible API (the stand-in checks what
 * Twilio checks) for the user's `phone` trait, with its link through click tracking; the user
 * replies STOP (a webhook signed as Twilio signs it) and the next text is not sent: the step
 * falls back to email.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import twilio from 'twilio';
import { SimulatedClock } from '../../src/ports/clock.js';
import { send, startNudge, testConfig } from '../support/nudge.js';
import { simulatedTime } from '../support/simulated-time.js';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp.js';
import { startTwilioApi, type TwilioApi } from '../support/twilio-api.js';

const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const accountSid = `AC${'0123456789abcdef'.repeat(2)}`;
const authToken = 'test-auth-token-0123456789';
const dir = mkdtempSync(path.join(tmpdir(), 'nudge-sms-'));
let smtp: TestSmtpServer;
let api: TwilioApi;
before(async () => {
  smtp = await startSmtpServer();
  api = await startTwilioApi({ accountSid, authToken });
  mkdirSync(path.join(dir, 'triggers'));
  mkdirSync(path.join(dir, 'templates'));
  writeFileSync(path.join(dir, 'triggers', 'cart.yaml'), 'id: cart\nentry: { event: cart_left }\nreentry: always\nsteps:\n  - id: text\n    send: sms\n    template: cart-sms\n    fallback: [email]\n');
  writeFileSync(
    path.join(dir, 'templates', 'cart-sms.yaml'),
    'id: cart-sms\nsms:\n  text: "{{ user.traits.name }}, your cart is waiting: https://shop.example/cart"\nemail:\n  subject: "Your cart"\n  text: "It is waiting."\n',
  );
});
after(async () => {
  await smtp.close();
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a text to the phone trait, link tracked; STOP is honoured at once and the step falls back to email', async () => {
  const time = simulatedTime(new SimulatedClock(t0));
  const publicUrl = 'https://nudge.shop.test'; // where Twilio reaches the server: what it signs
  const config = testConfig(
    `publicUrl: ${publicUrl}\ntriggers: { dir: ${dir}/triggers, watch: false }\ntemplates: { dir: ${dir}/templates, watch: false }\nchannels:\n` +
      `  sms:\n    twilio: { baseUrl: "${api.url}", accountSid: ${accountSid}, authToken: ${authToken}, from: "+15005550006" }\n` +
      `  email:\n    smtp: { host: 127.0.0.1, port: ${smtp.port}, from: "Shop <news@shop.example>" }\n`,
  );
  const n = await startNudge({ config, clock: time.clock, wakeups: time.wakeups });
  time.attach(n);
  try {
    const at = new Date(t0).toISOString();
    await send(n.url, '/v1/identify', { userId: 'ada', traits: { name: 'Ada', phone: '+447700900123', email: 'ada@example.com' }, timestamp: at });
    await send(n.url, '/v1/track', { userId: 'ada', event: 'cart_left', timestamp: at });
    await time.settle();

    assert.equal(api.requests.length, 1);
    const fields = Object.fromEntries(api.requests[0]!.fields);
    assert.equal(fields['To'], '+447700900123');
    assert.equal(fields['From'], '+15005550006');
    assert.match(fields['Body']!, new RegExp(`^Ada, your cart is waiting: ${publicUrl}/t/c/\\S+$`));
    const sent = (await n.api('/users/ada/events')).body.items.find((e: any) => e.name === 'Message Sent');
    assert.match(sent.properties.providerId, /^SM[0-9a-f]{32}$/, "Twilio's message sid");

    // The carrier's report comes back to the callback URL the message named, signed by Twilio.
    const callback = new URL(fields['StatusCallback']!);
    assert.equal(callback.origin + callback.pathname, `${publicUrl}/v1/sms/test/status`);
    const report = { MessageSid: sent.properties.providerId, MessageStatus: 'delivered', AccountSid: accountSid };
    const reported = await fetch(`${n.url}${callback.pathname}${callback.search}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(authToken, callback.toString(), report) },
      body: new URLSearchParams(report),
    });
    assert.equal(reported.status, 204);
    await n.messageEvents.flush();
    const delivered = (await n.api('/users/ada/events')).body.items.find((e: any) => e.name === 'Message Delivered');
    assert.equal(delivered?.properties.messageKey, sent.properties.messageKey);

    // Ada replies STOP; Twilio signs its webhook with the account's auth token.
    const inboundUrl = `${publicUrl}/v1/sms/test/inbound`;
    const params = { From: '+447700900123', To: '+15005550006', Body: ' stop ', MessageSid: `SM${'a'.repeat(32)}`, AccountSid: accountSid };
    const unsigned = await fetch(`${n.url}/v1/sms/test/inbound`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params) });
    assert.equal(unsigned.status, 403);
    const reply = await fetch(`${n.url}/v1/sms/test/inbound`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(authToken, inboundUrl, params) },
      body: new URLSearchParams(params),
    });
    assert.equal(reply.status, 200);
    assert.match(reply.headers.get('content-type')!, /xml/);

    time.clock.set(t0 + 60_000);
    await send(n.url, '/v1/track', { userId: 'ada', event: 'cart_left', timestamp: new Date(t0 + 60_000).toISOString() });
    await time.settle();
    assert.equal(api.requests.length, 1, 'no second text after STOP');
    assert.equal(smtp.received.length, 1, 'the email fallback instead');
  } finally {
    await n.stop();
  }
});
