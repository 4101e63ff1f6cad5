/**
 * `fallback_if_unopened` end to end on a simulated clock: a push delivered and not opened within
 * the hour is followed by an email at exactly that hour; a push whose link is clicked in time is not.
 * The push goes to a webhook (a stand-in push gateway); the click goes through the real tracking
 * redirect, so the open is seen the way it is in production: as a `Message Clicked` event.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { SimulatedClock } from '../../src/ports/clock.js';
import { send, startNudge, testConfig } from '../support/nudge.js';
import { simulatedTime } from '../support/simulated-time.js';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const hour = 3_600_000;
const dir = mkdtempSync(path.join(tmpdir(), 'nudge-unopened-'));
let smtp: TestSmtpServer;
let gateway: WebhookReceiver;
before(async () => {
  smtp = await startSmtpServer();
  gateway = await startWebhookReceiver();
  mkdirSync(path.join(dir, 'triggers'));
  mkdirSync(path.join(dir, 'templates'));
  writeFileSync(
    path.join(dir, 'triggers', 'cart.yaml'),
    'id: cart\nentry: { event: cart_left }\nsteps:\n  - id: nudge\n    send: push\n    template: cart\n    fallback: [email]\n    fallback_if_unopened: 1h\n',
  );
  writeFileSync(
    path.join(dir, 'templates', 'cart.yaml'),
    'id: cart\npush:\n  title: Your cart\n  body: Still there.\n  url: https://shop.example/cart\nemail:\n  subject: Your cart\n  text: "Still there: https://shop.example/cart"\n',
  );
});
after(async () => {
  await smtp.close();
  await gateway.close();
  rmSync(dir, { recursive: true, force: true });
});

test('not opened within the hour: the email at exactly the hour; clicked in time: nothing more', async () => {
  const time = simulatedTime(new SimulatedClock(t0));
  const config = testConfig(
    `triggers: { dir: ${dir}/triggers, watch: false }\ntemplates: { dir: ${dir}/templates, watch: false }\nchannels:\n` +
      `  push:\n    webhook: { url: "${gateway.url}/push", allowPrivateNetworks: true }\n` +
      `  email:\n    smtp: { host: 127.0.0.1, port: ${smtp.port}, from: "Shop <news@shop.example>" }\n`,
  );
  const n = await startNudge({ config, clock: time.clock, wakeups: time.wakeups });
  time.attach(n);
  try {
    const at = new Date(t0).toISOString();
    for (const userId of ['ada', 'bo']) {
      await send(n.url, '/v1/identify', { userId, traits: { email: `${userId}@example.com` }, timestamp: at });
      await send(n.url, '/v1/track', { userId, event: 'cart_left', timestamp: at });
    }
    await time.settle();
    assert.deepEqual(gateway.received.map((r) => r.body.profileId).sort(), ['u:ada', 'u:bo']);

    // Bo taps the push after 59 minutes.
    await time.advanceTo(t0 + 59 * 60_000);
    const bo = gateway.received.find((r) => r.body.profileId === 'u:bo')!;
    assert.equal((await fetch(bo.body.content.url, { redirect: 'manual' })).status, 302);
    await time.settle();

    await time.advanceTo(t0 + hour - 1);
    assert.equal(smtp.received.length, 0, 'nothing before the hour');
    await time.advanceTo(t0 + hour);
    assert.deepEqual(smtp.received.map((m) => m.rcptTo), [['ada@example.com']], 'Ada, who did not open it, at exactly the hour; not Bo');
    await time.advanceTo(t0 + 3 * hour);
    assert.equal(smtp.received.length, 1, 'once');
  } finally {
    await n.stop();
  }
});
