/**
 * A trigger's email end to end: an event over HTTP, the step's template rendered for the user at
 * the moment of sending, the message delivered over SMTP to a real server on loopback, to the
 * user's email trait; a user without an address falls back to the step's next channel.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { SimulatedClock } from '../../src/ports/clock.js';
import { send, startNudge, testConfig, type RunningNudge } from '../support/nudge.js';
import { simulatedTime } from '../support/simulated-time.js';
import { decodedBody, header, parseMessage, partsOf, startSmtpServer, type TestSmtpServer } from '../support/smtp.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const dir = mkdtempSync(path.join(tmpdir(), 'nudge-email-'));
let smtp: TestSmtpServer;
let hooks: WebhookReceiver;
before(async () => {
  smtp = await startSmtpServer();
  hooks = await startWebhookReceiver();
});
after(async () => {
  await smtp.close();
  await hooks.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a welcome email is rendered for the user and arrives over SMTP; without an address, the fallback channel', async () => {
  mkdirSync(path.join(dir, 'triggers'));
  mkdirSync(path.join(dir, 'templates'));
  writeFileSync(
    path.join(dir, 'triggers', 'welcome.yaml'),
    'id: welcome\nentry: { event: signed_up }\nsteps:\n  - id: hello\n    send: email\n    template: welcome\n    fallback: [in_app]\n',
  );
  writeFileSync(
    path.join(dir, 'templates', 'welcome.yaml'),
    [
      'id: welcome',
      'email:',
      '  subject: "Welcome, {{ user.traits.name }}"',
      '  html: "<p>Hi {{ user.traits.name }}, you chose the {{ event.properties.plan }} plan.</p>"',
      '  text: "Hi {{ user.traits.name }}, you chose the {{ event.properties.plan }} plan."',
      'in_app:',
      '  title: "Welcome"',
      '  body: "Add an email address to hear from us, {{ user.traits.name }}."',
      '',
    ].join('\n'),
  );
  const time = simulatedTime(new SimulatedClock(t0));
  const config = testConfig(
    `triggers: { dir: ${dir}/triggers, watch: false }\ntemplates: { dir: ${dir}/templates, watch: false }\nchannels:\n` +
      `  email:\n    smtp: { host: 127.0.0.1, port: ${smtp.port}, from: "Shop <news@shop.example>" }\n` +
      `  in_app:\n    webhook: { url: "${hooks.url}/in_app", allowPrivateNetworks: true }\n`,
  );
  const n: RunningNudge = await startNudge({ config, clock: time.clock, wakeups: time.wakeups });
  time.attach(n);
  try {
    const at = new Date(t0).toISOString();
    for (const [userId, traits] of [['ada', { name: 'Ada', email: 'ada@example.com' }], ['bo', { name: 'Bo' }]] as const) {
      assert.equal((await send(n.url, '/v1/identify', { userId, traits, timestamp: at })).status, 200);
      assert.equal((await send(n.url, '/v1/track', { userId, event: 'signed_up', properties: { plan: 'pro' }, timestamp: at })).status, 200);
    }
    await time.settle();

    assert.equal(smtp.received.length, 1);
    const mail = smtp.received[0]!;
    assert.deepEqual(mail.rcptTo, ['ada@example.com']);
    const message = parseMessage(mail.raw);
    assert.equal(header(message, 'Subject'), 'Welcome, Ada');
    const bodies = partsOf(message).map(decodedBody);
    assert.ok(bodies.some((b) => b.includes('<p>Hi Ada, you chose the pro plan.</p>')), bodies.join('\n---\n'));
    assert.ok(bodies.some((b) => b.includes('Hi Ada, you chose the pro plan.') && !b.includes('<p>')));

    assert.deepEqual(hooks.received.map((r) => [r.path, r.body.profileId, r.body.content]), [
      ['/in_app', 'u:bo', { title: 'Welcome', body: 'Add an email address to hear from us, Bo.' }],
    ], 'Bo has no address: in-app instead, its own parts rendered');
    const outbox = (await n.api('/outbox')).body.items.map((m: any) => [m.profileId, m.status, m.deliveredVia]).sort();
    assert.deepEqual(outbox, [['u:ada', 'delivered', 'email'], ['u:bo', 'delivered', 'in_app']]);
  } finally {
    await n.stop();
  }
});
