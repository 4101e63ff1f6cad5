/**
 * Web push end to end (scenario 13): a browser registers its subscription with the write key, a
 * trigger's push reaches the push service encrypted for that browser (decrypted and its VAPID
 * signature checked by the stand-in, over TLS), links go through click tracking; when the push
 * service says the subscription is gone, it is forgotten and the step escalates to email.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { SimulatedClock } from '../../src/ports/clock.js';
import { send, startNudge, testConfig, writeKey } from '../support/nudge.js';
import { startPushService, type PushService } from '../support/push-service.js';
import { simulatedTime } from '../support/simulated-time.js';
import { header, parseMessage, startSmtpServer, type TestSmtpServer } from '../support/smtp.js';

const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const dir = mkdtempSync(path.join(tmpdir(), 'nudge-push-'));
let smtp: TestSmtpServer;
let pushService: PushService;
before(async () => {
  smtp = await startSmtpServer();
  pushService = await startPushService();
  mkdirSync(path.join(dir, 'triggers'));
  mkdirSync(path.join(dir, 'templates'));
  writeFileSync(path.join(dir, 'ca.pem'), pushService.certificate);
  writeFileSync(path.join(dir, 'triggers', 'left.yaml'), 'id: left\nentry: { event: product_left }\nreentry: always\nsteps:\n  - id: nudge\n    send: push\n    template: back\n    fallback: [email]\n');
  writeFileSync(
    path.join(dir, 'templates', 'back.yaml'),
    'id: back\npush:\n  title: "Still thinking, {{ user.traits.name }}?"\n  body: "It is still here."\n  url: https://shop.example/p/1\nemail:\n  subject: "Still thinking?"\n  text: "It is still here: https://shop.example/p/1"\n',
  );
});
after(async () => {
  await smtp.close();
  await pushService.close();
  rmSync(dir, { recursive: true, force: true });
});

const auth = { authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`, 'content-type': 'application/json' };

test('a push reaches the browser encrypted and signed; a gone subscription is dropped and the step escalates to email', async () => {
  const time = simulatedTime(new SimulatedClock(t0));
  const config = testConfig(
    `triggers: { dir: ${dir}/triggers, watch: false }\ntemplates: { dir: ${dir}/templates, watch: false }\nchannels:\n` +
      `  push:\n    webPush: { subject: "mailto:ops@shop.example", allowPrivateNetworks: true, ca: ${dir}/ca.pem }\n` +
      `  email:\n    smtp: { host: 127.0.0.1, port: ${smtp.port}, from: "Shop <news@shop.example>" }\n`,
  );
  const n = await startNudge({ config, clock: time.clock, wakeups: time.wakeups });
  time.attach(n);
  try {
    const key = await (await fetch(`${n.url}/v1/push/vapid-public-key`, { headers: auth })).json();
    assert.match(key.publicKey, /^[A-Za-z0-9_-]{87}$/, 'a 65-byte P-256 point, base64url');
    const browser = pushService.subscribe(key.publicKey);
    const registered = await fetch(`${n.url}/v1/push/subscriptions`, { method: 'POST', headers: auth, body: JSON.stringify({ userId: 'ada', subscription: browser.json }) });
    assert.equal(registered.status, 201, await registered.text());

    const at = new Date(t0).toISOString();
    await send(n.url, '/v1/identify', { userId: 'ada', traits: { name: 'Ada', email: 'ada@example.com' }, timestamp: at });
    await send(n.url, '/v1/track', { userId: 'ada', event: 'product_left', timestamp: at });
    await time.settle();

    const [arrived] = pushService.requestsTo(browser.json.endpoint);
    assert.equal(arrived?.status, 201);
    assert.equal(arrived.vapid?.sub, 'mailto:ops@shop.example');
    const payload = JSON.parse(arrived.payload!);
    assert.equal(payload.title, 'Still thinking, Ada?');
    assert.equal(payload.body, 'It is still here.');
    assert.ok(payload.url.startsWith(`${n.url}/t/c/`), 'the click goes through tracking');
    assert.equal(smtp.received.length, 0);

    // The browser unsubscribed: the push service answers 410 Gone.
    pushService.answer(browser.json.endpoint, { status: 410 });
    time.clock.set(t0 + 60_000);
    await send(n.url, '/v1/track', { userId: 'ada', event: 'product_left', timestamp: new Date(t0 + 60_000).toISOString() });
    await time.settle();
    assert.equal(smtp.received.length, 1, 'escalated to email');
    assert.equal(header(parseMessage(smtp.received[0]!.raw), 'Subject'), 'Still thinking?');
    assert.deepEqual((await n.api('/users/ada/push-subscriptions')).body.items, [], 'the gone subscription is forgotten');
    const outbox = (await n.api('/outbox?userId=ada')).body.items.map((m: any) => m.deliveredVia).sort();
    assert.deepEqual(outbox, ['email', 'push']);
  } finally {
    await n.stop();
  }
});
