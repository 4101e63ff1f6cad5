/**
 * Twilio's SMS webhooks on a bare Fastify server on loopback, signed by the official `twilio`
 * package (`getExpectedTwilioSignature`, cross-checked with `validateRequest`) for the public URL
 * Twilio would call, which is not the address the server listens on. Keywords change the opt-out
 * store and call the callbacks; HELP is answered with the TwiML Twilio's own builder makes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import twilio from 'twilio';
import { MemorySmsOptOutStore } from '../../src/backends/memory/memory-sms-opt-out-store.js';
import { installErrorHandler } from '../../src/http/errors.js';
import { keywordOf, smsRoutes, twilioSignature, type SmsRouteDeps, type SmsStatusReport } from '../../src/http/sms-routes.js';

const authToken = '12345678901234567890123456789012';
const accountSid = `AC${'0123456789abcdef'.repeat(2)}`;
const publicUrl = 'https://nudge.shop.example';
const ann = '+14155550100';
const ours = '+15005550006';
const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);

interface Server {
  url: string;
  app: FastifyInstance;
  optOuts: MemorySmsOptOutStore;
  calls: unknown[][];
  setNow(at: number): void;
}

const servers: FastifyInstance[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

/** A bare Fastify server with only the SMS routes, workspace `shop` served, callbacks recorded. */
async function start(options: Partial<SmsRouteDeps> = {}): Promise<Server> {
  const optOuts = new MemorySmsOptOutStore();
  const calls: unknown[][] = [];
  let now = t0;
  const app = Fastify();
  installErrorHandler(app);
  const deps: SmsRouteDeps = {
    publicUrl: () => publicUrl,
    authTokenOf: (workspaceId) => (workspaceId === 'shop' || workspaceId === 'blog' ? authToken : undefined),
    optOuts,
    now: () => now,
    onOptOut: (...args) => void calls.push(['optOut', ...args]),
    onOptIn: (...args) => void calls.push(['optIn', ...args]),
    onStatus: (...args) => void calls.push(['status', ...args]),
    ...options,
  };
  await app.register((scope, _opts, done) => {
    smsRoutes(scope, deps).then(() => done(), done);
  });
  servers.push(app);
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, app, optOuts, calls, setNow: (at) => (now = at) };
}

/** The parameters Twilio posts for an incoming SMS. */
function inbound(body: string, from = ann): Record<string, string> {
  return {
    ToCountry: 'US',
    ToState: 'CA',
    SmsMessageSid: 'SM0123456789abcdef0123456789abcdef',
    NumMedia: '0',
    ToCity: 'SAN FRANCISCO',
    FromZip: '94105',
    SmsSid: 'SM0123456789abcdef0123456789abcdef',
    FromState: 'CA',
    SmsStatus: 'received',
    FromCity: 'SAN FRANCISCO',
    Body: body,
    FromCountry: 'US',
    To: ours,
    MessagingServiceSid: `MG${'fedcba9876543210'.repeat(2)}`,
    ToZip: '94105',
    NumSegments: '1',
    MessageSid: 'SM0123456789abcdef0123456789abcdef',
    AccountSid: accountSid,
    From: from,
    ApiVersion: '2010-04-01',
  };
}

interface Answer {
  status: number;
  contentType: string | null;
  text: string;
}

/**
 * POSTs `params` form-encoded to `path` on the server, signed by the official package for the
 * public URL (or `signedUrl`), unless `signature` is given (null: no header).
 */
async function post(server: Server, path: string, params: Record<string, string>, options: { signedUrl?: string; signature?: string | null; body?: string; token?: string } = {}): Promise<Answer> {
  const signature = options.signature !== undefined ? options.signature : twilio.getExpectedTwilioSignature(options.token ?? authToken, options.signedUrl ?? `${publicUrl}${path}`, params);
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8', ...(signature === null ? {} : { 'x-twilio-signature': signature }) },
    body: options.body ?? new URLSearchParams(params).toString(),
  });
  return { status: res.status, contentType: res.headers.get('content-type'), text: await res.text() };
}

const empty = new twilio.twiml.MessagingResponse().toString();
function twimlMessage(text: string): string {
  const response = new twilio.twiml.MessagingResponse();
  response.message(text);
  return response.toString();
}

let server: Server;
before(async () => (server = await start()));

describe('signatures', () => {
  test('our signature is the official one, and the official validator accepts it', () => {
    const params = { ...inbound('Hello ✓ & more'), Extra: 'a+b=c' };
    const url = `${publicUrl}/v1/sms/shop/inbound?source=twilio&x=%27`;
    const signature = twilioSignature(authToken, url, Object.entries(params));
    assert.equal(signature, twilio.getExpectedTwilioSignature(authToken, url, params));
    assert.ok(twilio.validateRequest(authToken, signature, url, params));
    assert.ok(!twilio.validateRequest(`${authToken}x`, signature, url, params));
  });

  test('a request the official package signed for the public URL is accepted (not the address it reached)', async () => {
    const answer = await post(server, '/v1/sms/shop/inbound', inbound('Hello there'));
    assert.deepEqual(answer, { status: 200, contentType: 'text/xml; charset=utf-8', text: empty });
  });

  test('signed with the default port in the URL, or with the query string Twilio was given, it is accepted', async () => {
    assert.equal((await post(server, '/v1/sms/shop/inbound', inbound('Hi'), { signedUrl: `${publicUrl}:443/v1/sms/shop/inbound` })).status, 200);
    const withQuery = '/v1/sms/shop/inbound?source=twilio&tag=a%20b';
    assert.equal((await post(server, withQuery, inbound('Hi'))).status, 200);
  });

  test('missing, wrong, or for another URL, token or body: 403, and nothing is stored', async () => {
    const stop = inbound('STOP');
    const cases: [string, Parameters<typeof post>[3], RegExp][] = [
      ['no header', { signature: null }, /^X-Twilio-Signature: missing$/],
      ['empty header', { signature: '' }, /^X-Twilio-Signature: missing$/],
      ['garbage', { signature: 'bm90IGEgc2lnbmF0dXJl' }, /^X-Twilio-Signature: not the signature of this request to https:\/\/nudge\.shop\.example\/v1\/sms\/shop\/inbound/],
      ['another token', { token: `${authToken.slice(1)}x` }, /not the signature/],
      ['the address the server listens on', { signedUrl: `${server.url}/v1/sms/shop/inbound` }, /not the signature/],
      ['http instead of https', { signedUrl: `http://nudge.shop.example/v1/sms/shop/inbound` }, /not the signature/],
      ['another workspace', { signedUrl: `${publicUrl}/v1/sms/blog/inbound` }, /not the signature/],
      ['a query string that was not signed', { signedUrl: `${publicUrl}/v1/sms/shop/inbound?x=1` }, /not the signature/],
      ['a body changed after signing', { body: new URLSearchParams({ ...stop, Body: 'START' }).toString() }, /not the signature/],
      ['a parameter added after signing', { body: `${new URLSearchParams(stop).toString()}&Extra=1` }, /not the signature/],
    ];
    for (const [name, options, message] of cases) {
      const answer = await post(server, '/v1/sms/shop/inbound', stop, options);
      assert.equal(answer.status, 403, name);
      assert.match((JSON.parse(answer.text) as { message: string }).message, message, name);
    }
    assert.deepEqual(server.calls, []);
    assert.equal(await server.optOuts.isOptedOut('shop', ann), false);
  });

  test('a workspace without SMS is 404; a body that is not a form carries no parameters, so its signature fails', async () => {
    assert.equal((await post(server, '/v1/sms/nope/inbound', inbound('STOP'))).status, 404);
    const params = inbound('STOP');
    const json = await fetch(`${server.url}/v1/sms/shop/inbound`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-twilio-signature': twilio.getExpectedTwilioSignature(authToken, `${publicUrl}/v1/sms/shop/inbound`, params) },
      body: JSON.stringify(params),
    });
    assert.equal(json.status, 403);
    assert.equal(await server.optOuts.isOptedOut('shop', ann), false);
  });

  test('a publicUrl that is not an absolute http(s) URL without query is refused at registration', async () => {
    for (const bad of ['nudge.shop.example', 'ftp://nudge.shop.example', 'https://nudge.shop.example/?a=1']) {
      await assert.rejects(start({ publicUrl: () => bad }), /sms publicUrl: expected/, bad);
    }
  });
});

describe('keywords', () => {
  test('which bodies are keywords: the word alone, trimmed, any case, ASCII letters only', () => {
    const rows: [string, ReturnType<typeof keywordOf>][] = [
      ['STOP', { kind: 'opt_out', keyword: 'STOP' }],
      ['  stop \n', { kind: 'opt_out', keyword: 'STOP' }],
      ['Unsubscribe', { kind: 'opt_out', keyword: 'UNSUBSCRIBE' }],
      ['optOut', { kind: 'opt_out', keyword: 'OPTOUT' }],
      ['yes', { kind: 'opt_in', keyword: 'YES' }],
      ['Info', { kind: 'help', keyword: 'INFO' }],
      ['stop please', null],
      ['STOP.', null],
      ['opt out', null],
      ['ＳＴＯＰ', null], // full-width letters
      ['quıt', null], // dotless i upper-cases to I: not QUIT
      ['', null],
      ['STOPP', null],
    ];
    for (const [body, expected] of rows) assert.deepEqual(keywordOf(body), expected, JSON.stringify(body));
  });

  test('every opt-out keyword, in any case and with spaces, opts the sender out and calls onOptOut after storing', async () => {
    const s = await start();
    const words = ['STOP', 'stopall', ' Unsubscribe ', 'cancel', 'END', 'Quit', 'revoke\n', 'OptOut'];
    for (const [i, word] of words.entries()) {
      const from = `+1415555020${i}`;
      s.setNow(t0 + i);
      const answer = await post(s, '/v1/sms/shop/inbound', inbound(word, from));
      assert.deepEqual(answer, { status: 200, contentType: 'text/xml; charset=utf-8', text: empty }, word);
      assert.equal(await s.optOuts.isOptedOut('shop', from), true, word);
    }
    assert.deepEqual(
      s.calls,
      words.map((w, i) => ['optOut', 'shop', `+1415555020${i}`, w.trim().toUpperCase(), t0 + i]),
    );
    assert.deepEqual((await s.optOuts.list('shop')).items.map((r) => r.keyword), words.map((w) => w.trim().toUpperCase()));
    assert.equal(await s.optOuts.isOptedOut('blog', '+14155550200'), false, 'only in the workspace of the URL');
  });

  test('START, YES and UNSTOP opt the sender back in and call onOptIn', async () => {
    const s = await start();
    for (const [i, word] of ['start', 'YES', 'Unstop'].entries()) {
      s.setNow(t0 + 10 * i);
      await post(s, '/v1/sms/shop/inbound', inbound('STOP'));
      assert.equal(await s.optOuts.isOptedOut('shop', ann), true);
      s.setNow(t0 + 10 * i + 1);
      assert.deepEqual(await post(s, '/v1/sms/shop/inbound', inbound(word)), { status: 200, contentType: 'text/xml; charset=utf-8', text: empty });
      assert.equal(await s.optOuts.isOptedOut('shop', ann), false, word);
    }
    assert.deepEqual(s.calls.filter((c) => c[0] === 'optIn'), [
      ['optIn', 'shop', ann, 'START', t0 + 1],
      ['optIn', 'shop', ann, 'YES', t0 + 11],
      ['optIn', 'shop', ann, 'UNSTOP', t0 + 21],
    ]);
  });

  test('a keyword older than the number’s record changes nothing and calls nothing', async () => {
    const s = await start();
    await s.optOuts.optIn('shop', ann, t0 + 1000);
    s.setNow(t0);
    assert.equal((await post(s, '/v1/sms/shop/inbound', inbound('STOP'))).status, 200);
    assert.equal(await s.optOuts.isOptedOut('shop', ann), false);
    assert.deepEqual(s.calls, []);
  });

  test('HELP and INFO are answered with the help text, as TwiML Twilio’s builder makes; without one, with nothing', async () => {
    const helpText = 'Shop alerts: reply STOP to end & START to resume. <3\r\nMsg&data rates may apply.';
    const s = await start({ helpText });
    for (const word of ['HELP', ' info ', 'Help']) {
      assert.deepEqual(await post(s, '/v1/sms/shop/inbound', inbound(word)), { status: 200, contentType: 'text/xml; charset=utf-8', text: twimlMessage(helpText) }, word);
    }
    assert.equal((await post(server, '/v1/sms/shop/inbound', inbound('HELP'))).text, empty);
    assert.deepEqual(s.calls, []);
  });

  test('other messages, and a picture without text, are acknowledged and change nothing', async () => {
    const s = await start();
    for (const body of ['stop please', 'Yes!', '']) assert.deepEqual(await post(s, '/v1/sms/shop/inbound', inbound(body)), { status: 200, contentType: 'text/xml; charset=utf-8', text: empty });
    assert.deepEqual(s.calls, []);
    assert.deepEqual((await s.optOuts.list('shop')).items, []);
  });

  test('a missing From or Body, or a From that is not E.164, is 400 naming the field', async () => {
    const { From: _from, ...noFrom } = inbound('STOP');
    const { Body: _body, ...noBody } = inbound('STOP');
    const cases: [Record<string, string>, string][] = [
      [noFrom, 'body.From: required'],
      [noBody, 'body.Body: required'],
      [inbound('STOP', '4155550100'), 'body.From: not an E.164 phone number'],
      [inbound('STOP', 'whatsapp:+14155550100'), 'body.From: not an E.164 phone number'],
    ];
    for (const [params, message] of cases) {
      const answer = await post(server, '/v1/sms/shop/inbound', params);
      assert.equal(answer.status, 400, message);
      assert.equal((JSON.parse(answer.text) as { message: string }).message, message);
    }
  });

  test('a callback that throws makes the answer 503; the opt-out stays stored', async () => {
    const s = await start({ onOptOut: () => Promise.reject(new Error('timeline unavailable')) });
    assert.equal((await post(s, '/v1/sms/shop/inbound', inbound('STOP'))).status, 503);
    assert.equal(await s.optOuts.isOptedOut('shop', ann), true);
  });
});

describe('status callback', () => {
  /** The parameters Twilio posts to a message's StatusCallback. */
  const status = (messageStatus: string, errorCode?: string): Record<string, string> => ({
    SmsSid: 'SM0123456789abcdef0123456789abcdef',
    SmsStatus: messageStatus,
    MessageStatus: messageStatus,
    To: ann,
    MessageSid: 'SM0123456789abcdef0123456789abcdef',
    AccountSid: accountSid,
    From: ours,
    ApiVersion: '2010-04-01',
    ...(errorCode === undefined ? {} : { ErrorCode: errorCode }),
  });

  test('delivered, undelivered and failed reach onStatus with the sid and error code; states on the way do not', async () => {
    const s = await start();
    const sent: [string, string | undefined][] = [['queued', undefined], ['sent', undefined], ['delivered', undefined], ['undelivered', '30003'], ['failed', '30007'], ['delivered', '']];
    for (const [messageStatus, errorCode] of sent) {
      assert.deepEqual(await post(s, '/v1/sms/shop/status', status(messageStatus, errorCode)), { status: 204, contentType: null, text: '' }, messageStatus);
    }
    const report = (st: SmsStatusReport['status'], errorCode: number | null): unknown[] => ['status', 'shop', { providerId: 'SM0123456789abcdef0123456789abcdef', status: st, errorCode, query: {} }, t0];
    assert.deepEqual(s.calls, [report('delivered', null), report('undelivered', 30003), report('failed', 30007), report('delivered', null)]);
  });

  test('the same signature check: a wrong one is 403 and calls nothing', async () => {
    const s = await start();
    assert.equal((await post(s, '/v1/sms/shop/status', status('delivered'), { signedUrl: `${publicUrl}/v1/sms/shop/inbound` })).status, 403);
    assert.equal((await post(s, '/v1/sms/shop/status', status('delivered'), { signature: null })).status, 403);
    assert.deepEqual(s.calls, []);
  });

  test('a missing MessageSid or MessageStatus, or an ErrorCode that is not a number, is 400 naming the field', async () => {
    const { MessageSid: _sid, ...noSid } = status('delivered');
    const { MessageStatus: _status, ...noStatus } = status('delivered');
    const cases: [Record<string, string>, string][] = [
      [noSid, 'body.MessageSid: required'],
      [noStatus, 'body.MessageStatus: required'],
      [status('failed', 'thirty'), 'body.ErrorCode: not a number'],
    ];
    for (const [params, message] of cases) {
      const answer = await post(server, '/v1/sms/shop/status', params);
      assert.equal(answer.status, 400, message);
      assert.equal((JSON.parse(answer.text) as { message: string }).message, message);
    }
  });
});
