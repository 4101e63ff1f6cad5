/**
 * Personal discount codes end to end: a template asking for one gets a fresh code per message,
 * reserved when it is sent (the email carries it), released when the send fails for good, and
 * redeemed by the order event that names it — once.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { SimulatedClock } from '../../src/ports/clock.js';
import { send, startNudge, testConfig } from '../support/nudge.js';
import { simulatedTime } from '../support/simulated-time.js';
import { decodedBody, header, parseMessage, startSmtpServer, type TestSmtpServer } from '../support/smtp.js';

const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const dir = mkdtempSync(path.join(tmpdir(), 'nudge-codes-'));
let smtp: TestSmtpServer;
before(async () => {
  smtp = await startSmtpServer();
  mkdirSync(path.join(dir, 'triggers'));
  mkdirSync(path.join(dir, 'templates'));
  writeFileSync(path.join(dir, 'triggers', 'cart.yaml'), 'id: cart\nentry: { event: cart_left }\nsteps:\n  - id: offer\n    send: email\n    template: offer\n');
  writeFileSync(
    path.join(dir, 'templates', 'offer.yaml'),
    'id: offer\ncode: cart10\nemail:\n  subject: "10% off with {{ message.code }}"\n  text: "Use {{ message.code }} before {{ message.code_expires_at }}."\n',
  );
});
after(async () => {
  await smtp.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a code per message, reserved when sent, released when the send fails, redeemed once by the order event', async () => {
  const time = simulatedTime(new SimulatedClock(t0));
  const config = testConfig(
    `triggers: { dir: ${dir}/triggers, watch: false }\ntemplates: { dir: ${dir}/templates, watch: false }\n` +
      `channels:\n  email:\n    smtp: { host: 127.0.0.1, port: ${smtp.port}, from: "Shop <news@shop.example>" }\n` +
      'codes:\n  cart10: { pattern: CART-XXXXXX, ttl: 48h, redeemedBy: { event: Order Completed, property: coupon } }\n',
  );
  const n = await startNudge({ config, clock: time.clock, wakeups: time.wakeups });
  time.attach(n);
  try {
    const at = new Date(t0).toISOString();
    await send(n.url, '/v1/identify', { userId: 'ada', traits: { email: 'ada@example.com' }, timestamp: at });
    await send(n.url, '/v1/track', { userId: 'ada', event: 'cart_left', timestamp: at });
    await send(n.url, '/v1/track', { userId: 'bo', event: 'cart_left', timestamp: at }); // no email address: fails for good
    await time.settle();

    assert.equal(smtp.received.length, 1);
    const mail = parseMessage(smtp.received[0]!.raw);
    const code = /^10% off with (CART-[A-Z0-9]{6})$/.exec(header(mail, 'Subject'))?.[1];
    assert.ok(code, header(mail, 'Subject'));
    const text = decodedBody(mail);
    assert.ok(text.includes(`Use ${code} before ${new Date(t0 + 48 * 3_600_000).toISOString()}.`), text);

    const issued = await n.api(`/codes/${code}`);
    assert.equal(issued.status, 200);
    assert.equal(issued.body.status, 'issued');
    assert.equal(issued.body.kind, 'cart10');
    const bo = await n.api('/users/bo/codes');
    assert.deepEqual(bo.body.items.map((c: any) => c.status), ['released'], "Bo's message failed: his code is released, never usable");

    time.clock.set(t0 + 3_600_000);
    await send(n.url, '/v1/track', { userId: 'ada', event: 'Order Completed', properties: { coupon: code!.toLowerCase(), revenue: 90 }, timestamp: new Date(t0 + 3_600_000).toISOString() });
    await time.settle();
    const redeemed = await n.api(`/codes/${code}`);
    assert.equal(redeemed.body.status, 'redeemed');
    const again = await n.api(`/codes/${code}/redeem`, { method: 'POST', body: JSON.stringify({ userId: 'ada' }) });
    assert.equal(again.status, 409, 'single use');
  } finally {
    await n.stop();
  }
});
