/**
 * The SMS channel against a local Twilio stand-in (test/support/twilio-api.ts). The stand-in is
 * shown faithful first: the official `twilio` client sends through it and reads its answers, and
 * sends the very request our channel sends for the same message. Then: Twilio's answers mapped to
 * delivered / retry / failed with a reason, the checks made before any request (number, opt-outs,
 * text, segment limit), a hanging API that times out without holding up other sends, and nothing
 * left open once channels and the stand-in are closed.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import twilio from 'twilio';
import { MemorySmsOptOutStore } from '../../src/backends/memory/memory-sms-opt-out-store.js';
import { SmsTwilioChannel, type SmsTwilioOptions } from '../../src/channels/sms-twilio.js';
import type { Delivery, DeliveryOutcome, RenderedContent } from '../../src/ports/channel.js';
import { startTwilioApi, type TwilioApi, type TwilioRequest } from '../support/twilio-api.js';
import { eventually } from '../support/timeline.js';

// --- Fixtures ------------------------------------------------------------------------------

const accountSid = `AC${'0123456789abcdef'.repeat(2)}`;
const authToken = 'a3f1c9e07b5d42e8a3f1c9e07b5d42e8';
const serviceSid = `MG${'fedcba9876543210'.repeat(2)}`;
const from = '+15005550006';
const ann = '+14155550100';
const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);
/** Characters a form encoding must get right: separators, plus, non-ASCII, an emoji, a line break. */
const text = 'Your cart misses you & so do we: 50% off = a+b ✓ 😀\nhttps://shop.example/c?x=1&y=2';

function delivery(content: RenderedContent = { text }, workspaceId = 'shop'): Delivery {
  const key = `${workspaceId}/user-1/run-1/remind`;
  return {
    workspaceId,
    channel: 'sms',
    idempotencyKey: key,
    attempt: 1,
    content,
    message: {
      key,
      profileId: 'user-1',
      triggerId: 'abandoned-cart',
      version: 'v1',
      runId: 'run-1',
      stepId: 'remind',
      channel: 'sms',
      fallback: [],
      template: 'cart-reminder',
      topic: 'marketing',
      priority: 0,
      variants: {},
      entry: { messageId: 'e-1', type: 'track', name: 'Cart Updated', properties: {}, timestamp: t0 },
      at: t0,
    },
  };
}

let api: TwilioApi;
const channels: SmsTwilioChannel[] = [];
before(async () => {
  // The official client would rewrite api.twilio.com-style hosts for these; the base URL must stay ours.
  delete process.env['TWILIO_REGION'];
  delete process.env['TWILIO_EDGE'];
  api = await startTwilioApi({ accountSid, authToken });
});
after(async () => {
  await Promise.all(channels.map((c) => c.close()));
  await api.close();
  await eventually(async () => {
    const leftovers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'TCPSocketWrap' || r === 'TCPServerWrap');
    assert.deepEqual(leftovers, [], 'timers, sockets or servers left open after every channel and the stand-in were closed');
  });
});

/** A channel closed after the tests, sending to `to` unless `recipientOf` is given. */
function channel(options: Partial<SmsTwilioOptions> & { to?: string | null } = {}): SmsTwilioChannel {
  const { to = ann, ...rest } = options;
  const c = new SmsTwilioChannel({ baseUrl: api.url, accountSid, authToken, from, optOuts: new MemorySmsOptOutStore(), recipientOf: async () => to, ...rest });
  channels.push(c);
  return c;
}

/** What `run` sent to the stand-in. */
async function requestsDuring(run: () => Promise<unknown>): Promise<TwilioRequest[]> {
  const start = api.requests.length;
  await run();
  return api.requests.slice(start);
}

const failed = (reason: string) => (outcome: DeliveryOutcome) => outcome.status === 'failed' && outcome.reason === reason;

// --- The request ---------------------------------------------------------------------------

describe('the request', () => {
  test('a form POST to the account’s Messages.json with Basic auth: To, From, Body, StatusCallback; the sid comes back', async () => {
    const c = channel({ statusCallback: 'https://nudge.example/v1/sms/{workspaceId}/status' });
    let outcome: DeliveryOutcome | undefined;
    const [request, ...others] = await requestsDuring(async () => (outcome = await c.send(delivery())));
    assert.equal(others.length, 0);
    assert.ok(request);
    assert.equal(request.method, 'POST');
    assert.equal(request.path, `/2010-04-01/Accounts/${accountSid}/Messages.json`);
    assert.equal(request.headers.authorization, `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`);
    assert.equal(request.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(request.headers.accept, 'application/json');
    assert.deepEqual(request.fields, [
      ['To', ann],
      ['From', from],
      ['Body', text],
      ['StatusCallback', 'https://nudge.example/v1/sms/shop/status'],
    ]);
    const created = api.created.at(-1)!;
    assert.match(String(created['sid']), /^SM[0-9a-f]{32}$/);
    assert.deepEqual(outcome, { status: 'delivered', providerId: created['sid'] });
    assert.equal(created['num_segments'], '2', 'the emoji makes it UCS-2: 84 code units, two parts');
  });

  test('a Messaging Service instead of a number; no StatusCallback unless configured', async () => {
    const c = channel({ from: undefined, messagingServiceSid: serviceSid });
    const [request] = await requestsDuring(async () => assert.equal((await c.send(delivery({ text: 'Hi' }))).status, 'delivered'));
    assert.deepEqual(request?.fields, [
      ['To', ann],
      ['MessagingServiceSid', serviceSid],
      ['Body', 'Hi'],
    ]);
    assert.equal(api.created.at(-1)!['status'], 'accepted');
  });

  test('the workspace in the status callback URL is escaped', async () => {
    const c = channel({ statusCallback: 'https://nudge.example/v1/sms/{workspaceId}/status' });
    const [request] = await requestsDuring(() => c.send(delivery({ text: 'Hi' }, 'a b/c')));
    assert.deepEqual(request?.fields.find(([name]) => name === 'StatusCallback'), ['StatusCallback', 'https://nudge.example/v1/sms/a%20b%2Fc/status']);
  });

  test('bad options are refused when the channel is built, naming the option', () => {
    const base = { accountSid, authToken, from, optOuts: new MemorySmsOptOutStore(), recipientOf: async () => ann };
    const cases: [Partial<SmsTwilioOptions>, RegExp][] = [
      [{ accountSid: 'AC123' }, /^sms twilio accountSid: expected AC followed by 32 hex digits/],
      [{ authToken: '' }, /^sms twilio authToken: required/],
      [{ from: undefined }, /^sms twilio from: give from or messagingServiceSid/],
      [{ messagingServiceSid: 'MG1' }, /^sms twilio messagingServiceSid: expected MG/],
      [{ baseUrl: 'ftp://api.twilio.com' }, /^sms twilio baseUrl: expected an absolute http\(s\) URL/],
      [{ statusCallback: '/v1/sms/{workspaceId}/status' }, /^sms twilio statusCallback: expected an absolute http\(s\) URL/],
      [{ maxSegments: 0 }, /^sms twilio maxSegments: expected a whole number of at least 1/],
      [{ maxSegments: 2.5 }, /^sms twilio maxSegments/],
    ];
    for (const [options, message] of cases) assert.throws(() => new SmsTwilioChannel({ ...base, ...options }), { name: 'NudgeError', code: 'invalid_config', message }, message.source);
  });
});

// --- The stand-in is faithful ---------------------------------------------------------------

describe('the stand-in, checked with the official twilio client', () => {
  const client = twilio(accountSid, authToken);
  before(() => {
    client.api.baseUrl = api.url;
  });

  test('the client sends a message through it, reads the answer, and sent what our channel sends', async () => {
    const statusCallback = 'https://nudge.example/v1/sms/shop/status';
    const [official] = await requestsDuring(async () => {
      const message = await client.messages.create({ to: ann, from, body: text, statusCallback });
      assert.match(message.sid, /^SM[0-9a-f]{32}$/);
      assert.equal(message.status, 'queued');
      assert.equal(message.to, ann);
      assert.equal(message.body, text);
      assert.equal(message.numSegments, '2');
      assert.equal(message.accountSid, accountSid);
      assert.ok(message.dateCreated instanceof Date && !Number.isNaN(message.dateCreated.getTime()), 'date_created is RFC 2822');
    });
    const [ours] = await requestsDuring(() => channel({ statusCallback: 'https://nudge.example/v1/sms/{workspaceId}/status' }).send(delivery()));
    assert.ok(official && ours);

    assert.equal(ours.method, official.method);
    assert.equal(ours.path, official.path);
    assert.equal(ours.headers.authorization, official.headers.authorization);
    assert.equal(ours.headers['content-type'], official.headers['content-type']);
    assert.equal(ours.headers.accept, official.headers.accept);
    const byName = (fields: [string, string][]) => Object.fromEntries([...fields].sort(([a], [b]) => (a < b ? -1 : 1)));
    assert.deepEqual(byName(ours.fields), byName(official.fields), 'the same form fields with the same values');
    assert.equal(ours.fields.length, official.fields.length, 'no field twice');
  });

  test('the client reads the stand-in’s errors as Twilio’s: code, message, more_info, status', async () => {
    await assert.rejects(client.messages.create({ to: '555-0100', from, body: 'Hi' }), (e: any) => {
      assert.equal(e.status, 400);
      assert.equal(e.code, 21211);
      assert.equal(e.message, "The 'To' number 555-0100 is not a valid phone number.");
      assert.equal(e.moreInfo, 'https://www.twilio.com/docs/errors/21211');
      return true;
    });
    await assert.rejects(client.messages.create({ to: ann, body: 'Hi' }), (e: any) => e.status === 400 && e.code === 21603);
    await assert.rejects(client.messages.create({ to: ann, from }), (e: any) => e.status === 400 && e.code === 21602);
    const wrong = twilio(accountSid, 'not-the-token');
    wrong.api.baseUrl = api.url;
    await assert.rejects(wrong.messages.create({ to: ann, from, body: 'Hi' }), (e: any) => e.status === 401 && e.code === 20003 && e.message === 'Authenticate');
  });

  test('the stand-in refuses what Twilio refuses: another account’s path, a JSON body, a body over 1600 characters', async () => {
    const post = (path: string, body: string, contentType = 'application/x-www-form-urlencoded') =>
      fetch(`${api.url}${path}`, { method: 'POST', body, headers: { authorization: `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`, 'content-type': contentType } });
    const messages = `/2010-04-01/Accounts/${accountSid}/Messages.json`;
    const other = await post(`/2010-04-01/Accounts/AC${'1'.repeat(32)}/Messages.json`, 'To=%2B14155550100&From=%2B15005550006&Body=Hi');
    assert.equal(other.status, 404);
    assert.equal(((await other.json()) as { code: number }).code, 20404);
    const asJson = await post(messages, JSON.stringify({ To: ann, From: from, Body: 'Hi' }), 'application/json');
    assert.deepEqual([asJson.status, ((await asJson.json()) as { code: number }).code], [400, 21604]);
    const long = await post(messages, new URLSearchParams({ To: ann, From: from, Body: 'a'.repeat(1601) }).toString());
    assert.deepEqual([long.status, ((await long.json()) as { code: number }).code], [400, 21617]);
  });
});

// --- Answers -----------------------------------------------------------------------------------

describe('answers', () => {
  const now = () => t0;

  for (const code of [21211, 21614, 21217]) {
    test(`Twilio error ${code} is an invalid recipient, the number left out of the error`, async () => {
      const to = `+1415555${code}`;
      api.answer(to, { error: code });
      const outcome = await channel({ to }).send(delivery());
      assert.ok(failed('invalid_recipient')(outcome), JSON.stringify(outcome));
      assert.ok(outcome.status === 'failed' && outcome.error.includes(`HTTP 400, Twilio error ${code}`), JSON.stringify(outcome));
      assert.ok(!JSON.stringify(outcome).includes(to), 'the number stays out of the error');
    });
  }

  test('21610 (the number replied STOP) fails for want of consent and records the opt-out, so the next send makes no request', async () => {
    const to = '+14155550161';
    api.answer(to, { error: 21610 });
    const optOuts = new MemorySmsOptOutStore();
    const c = channel({ to, optOuts, now });
    const outcome = await c.send(delivery());
    assert.deepEqual(outcome, {
      status: 'failed',
      error: `POST ${api.url}/2010-04-01/Accounts/${accountSid}/Messages.json: HTTP 400, Twilio error 21610: Attempt to send to unsubscribed recipient`,
      reason: 'no_consent',
    });
    assert.deepEqual((await optOuts.exportUser('shop', { phones: [to], identities: [] })).consent, [{ workspaceId: 'shop', phone: to, optedOut: true, at: t0, keyword: 'twilio:21610' }]);
    assert.equal(await optOuts.isOptedOut('other-workspace', to), false);
    const again = await requestsDuring(async () => assert.ok(failed('no_consent')(await c.send(delivery()))));
    assert.equal(again.length, 0);
  });

  test('the hooks: onSent after a 2xx with the number texted; onOptOut only when the store applied a 21610', async () => {
    const calls: unknown[][] = [];
    const optOuts = new MemorySmsOptOutStore();
    const hooks = {
      onSent: async (d: Delivery, to: string, at: number) => void calls.push(['sent', d.message.profileId, to, at]),
      onOptOut: async (d: Delivery, to: string, keyword: string, at: number) => void calls.push(['optOut', d.message.profileId, to, keyword, at]),
    };
    assert.equal((await channel({ optOuts, now, ...hooks }).send(delivery())).status, 'delivered');
    assert.deepEqual(calls.splice(0), [['sent', 'user-1', ann, t0]]);

    const to = '+14155550162';
    api.answer(to, { error: 21610 });
    assert.ok(failed('no_consent')(await channel({ to, optOuts, now, ...hooks }).send(delivery())));
    assert.deepEqual(calls.splice(0), [['optOut', 'user-1', to, 'twilio:21610', t0]]);
    // A newer opt-in is on record (a START the webhook stored first): the 21610 at t0 is not applied.
    await optOuts.optIn('shop', to, t0 + 1);
    assert.ok(failed('no_consent')(await channel({ to, optOuts, now, ...hooks }).send(delivery())));
    assert.deepEqual(calls, [], 'not applied: nothing to tell');
  });

  test('a failing onSent leaves the text delivered; a failing onOptOut is named in the error', async () => {
    const broken = async () => {
      throw new Error('store down');
    };
    const outcome = await channel({ onSent: broken }).send(delivery());
    assert.equal(outcome.status, 'delivered');
    const to = '+14155550163';
    api.answer(to, { error: 21610 });
    const optOuts = new MemorySmsOptOutStore();
    const refused = await channel({ to, optOuts, now, onOptOut: broken }).send(delivery());
    assert.ok(failed('no_consent')(refused));
    assert.match(refused.status === 'failed' ? refused.error : '', /Twilio error 21610.*; applying the opt-out to the user failed: store down$/);
    assert.equal(await optOuts.isOptedOut('shop', to), true, 'the opt-out is recorded all the same');
  });

  test('another 400 error code is rejected, with Twilio’s code and message', async () => {
    const to = '+861012345678';
    api.answer(to, { error: 21408 });
    const outcome = await channel({ to }).send(delivery());
    assert.deepEqual(outcome, {
      status: 'failed',
      error: `POST ${api.url}/2010-04-01/Accounts/${accountSid}/Messages.json: HTTP 400, Twilio error 21408: Permission to send an SMS has not been enabled for the region indicated by the 'To' number: <To>.`,
      reason: 'rejected',
    });
  });

  test('429 and 5xx are retried, after Retry-After in seconds or as a date', async () => {
    const cases: [string, { status: number; retryAfter?: string }, number | undefined][] = [
      ['+14155550429', { status: 429, retryAfter: '7' }, 7000],
      ['+14155550503', { status: 503, retryAfter: new Date(t0 + 30_000).toUTCString() }, 30_000],
      ['+14155550500', { status: 500 }, undefined],
      ['+14155550502', { status: 502, retryAfter: new Date(t0 - 1000).toUTCString() }, undefined],
    ];
    for (const [to, behaviour, retryAfterMs] of cases) {
      api.answer(to, behaviour);
      const outcome = await channel({ to, now }).send(delivery());
      assert.equal(outcome.status, 'retry', to);
      assert.equal(outcome.status === 'retry' && outcome.retryAfterMs, retryAfterMs, to);
      assert.ok(outcome.status === 'retry' && outcome.error.includes(`HTTP ${behaviour.status}`), JSON.stringify(outcome));
    }
  });

  test('refused credentials (401, 403) are retried: the fault is our configuration’s, not the recipient’s', async () => {
    const refused = await channel({ authToken: 'not-the-token' }).send(delivery());
    assert.deepEqual(refused, {
      status: 'retry',
      error: `POST ${api.url}/2010-04-01/Accounts/${accountSid}/Messages.json: HTTP 401, Twilio error 20003: Authenticate (the account SID and auth token were refused: check them)`,
    });
    const to = '+14155550403';
    api.answer(to, { status: 403 });
    const forbidden = await channel({ to }).send(delivery());
    assert.equal(forbidden.status, 'retry');
    assert.match(forbidden.status === 'retry' ? forbidden.error : '', /HTTP 403, Twilio error 20403: Forbidden \(the account SID and auth token were refused: check them\)$/);
  });

  test('a connection refused is retried', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const outcome = await channel({ baseUrl: `http://127.0.0.1:${port}` }).send(delivery());
    assert.equal(outcome.status, 'retry');
    assert.match(outcome.status === 'retry' ? outcome.error : '', /ECONNREFUSED/);
  });

  test('a hanging API times out as a retry, and another send at the same time is not held up', async () => {
    const hung = '+14155550999';
    api.answer(hung, { hang: true });
    const c = channel({ timeoutMs: 300, recipientOf: async (d) => (d.workspaceId === 'slow' ? hung : ann) });
    let hungOutcome: DeliveryOutcome | undefined;
    const hanging = c.send(delivery({ text: 'Hi' }, 'slow')).then((o) => (hungOutcome = o));
    // With a message: without one, each failed check parses this file to describe it, blocking the loop past the timeout.
    await eventually(async () => assert.ok(api.requests.some((r) => r.fields.some(([n, v]) => n === 'To' && v === hung)), 'the request has reached the API'));
    const started = performance.now();
    assert.equal((await c.send(delivery({ text: 'Hi' }))).status, 'delivered');
    assert.ok(performance.now() - started < 250, 'answered while the other request hangs');
    assert.equal(hungOutcome, undefined, 'the hanging send is still waiting');
    await hanging;
    assert.deepEqual(hungOutcome, { status: 'retry', error: `POST ${api.url}/2010-04-01/Accounts/${accountSid}/Messages.json: no answer within 300 ms` });
  });
});

// --- Before any request -------------------------------------------------------------------

describe('checks before any request', () => {
  test('no number, a number not in E.164, an opted-out number, no text: failed with the reason, nothing sent', async () => {
    const optOuts = new MemorySmsOptOutStore();
    await optOuts.optOut('shop', ann, t0, 'STOP');
    const cases: [SmsTwilioChannel, RenderedContent, DeliveryOutcome][] = [
      [channel({ to: null }), { text }, { status: 'failed', error: 'no phone number', reason: 'no_recipient' }],
      [channel({ to: '' }), { text }, { status: 'failed', error: 'no phone number', reason: 'no_recipient' }],
      [channel({ to: '(415) 555-0100' }), { text }, { status: 'failed', error: 'phone number is not E.164 (+, country code, digits only)', reason: 'invalid_recipient' }],
      [channel({ to: '+1 415 555 0100' }), { text }, { status: 'failed', error: 'phone number is not E.164 (+, country code, digits only)', reason: 'invalid_recipient' }],
      [channel({ optOuts }), { text }, { status: 'failed', error: 'the number opted out of SMS (replied STOP)', reason: 'no_consent' }],
      [channel(), {}, { status: 'failed', error: 'sms content has no text part', reason: 'rejected' }],
      [channel(), { text: ' \n ' }, { status: 'failed', error: 'sms content has no text part', reason: 'rejected' }],
    ];
    const requests = await requestsDuring(async () => {
      for (const [c, content, expected] of cases) assert.deepEqual(await c.send(delivery(content)), expected);
    });
    assert.deepEqual(requests, []);
    assert.equal(await optOuts.isOptedOut('elsewhere', ann), false);
    assert.equal((await channel({ optOuts }).send(delivery({ text }, 'elsewhere'))).status, 'delivered', 'opt-outs are per workspace');
  });

  test('a failing number lookup or opt-out read is retried', async () => {
    const lookup = await channel({ recipientOf: async () => Promise.reject(new Error('profile store unavailable')) }).send(delivery());
    assert.deepEqual(lookup, { status: 'retry', error: 'looking up the phone number: profile store unavailable' });
    const optOuts = new MemorySmsOptOutStore();
    optOuts.isOptedOut = () => Promise.reject(new Error('database is locked'));
    assert.deepEqual(await channel({ optOuts }).send(delivery()), { status: 'retry', error: 'reading SMS opt-outs: database is locked' });
  });

  test('a text longer than maxSegments fails before any request; up to it, it goes', async () => {
    const c = channel({ maxSegments: 2 });
    const requests = await requestsDuring(async () => {
      assert.equal((await c.send(delivery({ text: 'a'.repeat(306) }))).status, 'delivered');
      assert.deepEqual(await c.send(delivery({ text: 'a'.repeat(307) })), {
        status: 'failed',
        error: 'sms text takes 3 parts (307 septets, GSM-7), more than maxSegments 2',
        reason: 'rejected',
      });
      assert.deepEqual(await c.send(delivery({ text: '😀'.repeat(67) })), {
        status: 'failed',
        error: 'sms text takes 3 parts (134 UTF-16 code units, UCS-2), more than maxSegments 2',
        reason: 'rejected',
      });
    });
    assert.equal(requests.length, 1);
    assert.equal(api.created.at(-1)!['num_segments'], '2');
  });

  test('the default limit is 10 parts: 1530 GSM-7 characters go, 1531 do not', async () => {
    const c = channel();
    assert.equal((await c.send(delivery({ text: 'a'.repeat(1530) }))).status, 'delivered');
    assert.ok(failed('rejected')(await c.send(delivery({ text: 'a'.repeat(1531) }))));
  });
});
