/**
 * What happens to a message after it is sent, end to end over real SMTP and HTTP: its links go
 * through signed click redirects with UTM parameters, an open pixel reports the open, the
 * List-Unsubscribe link unsubscribes in one click (RFC 8058) and the next message of the topic is
 * not sent; every outcome is an event on the user's timeline, once.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { SimulatedClock } from '../../src/ports/clock.js';
import { send, startNudge, testConfig, type RunningNudge } from '../support/nudge.js';
import { simulatedTime } from '../support/simulated-time.js';
import { decodedBody, header, parseMessage, partsOf, startSmtpServer, type TestSmtpServer } from '../support/smtp.js';

const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const dir = mkdtempSync(path.join(tmpdir(), 'nudge-tracking-'));
let smtp: TestSmtpServer;
before(async () => {
  smtp = await startSmtpServer();
  mkdirSync(path.join(dir, 'triggers'));
  mkdirSync(path.join(dir, 'templates'));
  writeFileSync(path.join(dir, 'triggers', 'browse.yaml'), 'id: browse\nentry: { event: viewed }\nreentry: always\nsteps:\n  - id: promo\n    send: email\n    template: promo\n');
  writeFileSync(
    path.join(dir, 'templates', 'promo.yaml'),
    [
      'id: promo',
      'email:',
      '  subject: "New for you"',
      '  html: \'<html><body><p>See <a href="https://shop.example/new?ref=mail&amp;x=1">what is new</a> or <a href="mailto:help@shop.example">ask us</a>.</p></body></html>\'',
      '  text: "See https://shop.example/new?ref=mail&x=1."',
      '',
    ].join('\n'),
  );
});
after(async () => {
  await smtp.close();
  rmSync(dir, { recursive: true, force: true });
});

async function timeline(n: RunningNudge, userId: string): Promise<{ name: string; properties: Record<string, unknown> }[]> {
  const { body } = await n.api(`/users/${userId}/events?limit=100`);
  return body.items.filter((e: any) => e.type === 'track').map((e: any) => ({ name: e.name, properties: e.properties })).reverse();
}

test('clicks, opens and one-click unsubscribe, each on the timeline once; the next marketing email is not sent', async () => {
  const time = simulatedTime(new SimulatedClock(t0));
  const config = testConfig(
    `triggers: { dir: ${dir}/triggers, watch: false }\ntemplates: { dir: ${dir}/templates, watch: false }\n` +
      `channels:\n  email:\n    smtp: { host: 127.0.0.1, port: ${smtp.port}, from: "Shop <news@shop.example>" }\n`,
  );
  const n = await startNudge({ config, clock: time.clock, wakeups: time.wakeups });
  time.attach(n);
  try {
    const at = new Date(t0).toISOString();
    assert.equal((await send(n.url, '/v1/identify', { userId: 'ada', traits: { email: 'ada@example.com' }, timestamp: at })).status, 200);
    assert.equal((await send(n.url, '/v1/track', { userId: 'ada', event: 'viewed', timestamp: at })).status, 200);
    await time.settle();

    assert.equal(smtp.received.length, 1);
    const mail = parseMessage(smtp.received[0]!.raw);
    const [html, text] = ['text/html', 'text/plain'].map((type) => decodedBody(partsOf(mail).find((p) => header(p, 'Content-Type').startsWith(type))!));
    const click = /<a href="([^"]+)">what is new<\/a>/.exec(html!)?.[1]?.replace(/&amp;/g, '&');
    assert.ok(click?.startsWith(`${n.url}/t/c/`), `the link goes through click tracking: ${html}`);
    assert.match(html!, /<a href="mailto:help@shop.example">/, 'mailto: is left alone');
    const pixel = new RegExp(`<img src="(${n.url}/t/o/[^"]+)"[^>]*></body>`).exec(html!)?.[1];
    assert.ok(pixel, 'an open pixel before </body>');
    const textClick = /See (\S+)\.$/.exec(text!.trim())?.[1];
    assert.ok(textClick?.startsWith(`${n.url}/t/c/`), 'the text part links through tracking too');
    const unsubscribe = /^<(.+)>$/.exec(header(mail, 'List-Unsubscribe'))?.[1];
    assert.ok(unsubscribe?.startsWith(`${n.url}/t/u/`));
    assert.equal(header(mail, 'List-Unsubscribe-Post'), 'List-Unsubscribe=One-Click');

    // A click: redirected to the target with UTM parameters added and the link's own kept.
    const res = await fetch(click!, { redirect: 'manual' });
    assert.equal(res.status, 302);
    const target = new URL(res.headers.get('location')!);
    assert.equal(target.origin + target.pathname, 'https://shop.example/new');
    assert.deepEqual(Object.fromEntries(target.searchParams), { ref: 'mail', x: '1', utm_source: 'nudge', utm_medium: 'email', utm_campaign: 'browse', utm_content: 'promo' });
    await fetch(click!, { redirect: 'manual' });
    // Opens: a GIF every time, one event.
    for (let i = 0; i < 3; i++) {
      const img: Response = await fetch(pixel!);
      assert.equal(img.headers.get('content-type'), 'image/gif');
      assert.equal(Buffer.from(await img.arrayBuffer()).subarray(0, 6).toString(), 'GIF89a');
    }
    // A forged token: no redirect, no event.
    // (A middle character of the signature: the last one of base64url may carry only padding bits.)
    const forged = click!.replace(/.(....)$/, (_, tail: string) => `${click!.at(-5) === 'A' ? 'B' : 'A'}${tail}`);
    assert.equal((await fetch(forged, { redirect: 'manual' })).status, 400);
    const tampered = `${n.url}/t/c/${Buffer.from(JSON.stringify(['test', 'k', 'u:ada', 'browse', 'promo', 'email', 'marketing', 'https://evil.example', 0])).toString('base64url')}.${click!.split('.').pop()}`;
    assert.equal((await fetch(tampered, { redirect: 'manual' })).status, 400, 'the target is signed: no open redirect');
    // The unsubscribe token is not a click token, nor the other way round.
    assert.equal((await fetch(unsubscribe!.replace('/t/u/', '/t/c/'), { redirect: 'manual' })).status, 400);

    // The page first, then a mail client's one-click POST.
    const page = await fetch(unsubscribe!);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Stop receiving marketing messages from test\?/);
    const oneClick = await fetch(unsubscribe!, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
    assert.equal(oneClick.status, 200);
    assert.deepEqual((await n.api('/users/ada/consent')).body, { consent: { 'email:marketing': false } }, 'committed before the answer');

    // The next marketing email is not sent.
    time.clock.set(t0 + 60_000);
    assert.equal((await send(n.url, '/v1/track', { userId: 'ada', event: 'viewed', timestamp: new Date(t0 + 60_000).toISOString() })).status, 200);
    await time.settle();
    assert.equal(smtp.received.length, 1);

    const events = await timeline(n, 'ada');
    assert.deepEqual(events.map((e) => e.name), ['viewed', 'Message Sent', 'Message Clicked', 'Message Opened', 'Consent Updated', 'Unsubscribed', 'viewed', 'Message Suppressed']);
    const [sent, clicked, , , unsubscribed, , suppressed] = events.slice(1);
    assert.equal(sent!.properties['channel'], 'email');
    assert.equal(sent!.properties['triggerId'], 'browse');
    assert.equal(clicked!.properties['url'], target.toString());
    assert.deepEqual(unsubscribed!.properties['from'], ['email:marketing']);
    assert.equal(unsubscribed!.properties['source'], 'one-click');
    assert.equal(suppressed!.properties['reason'], 'no_consent');
    assert.equal(sent!.properties['messageKey'], clicked!.properties['messageKey']);
  } finally {
    await n.stop();
  }
});

test('the consent API: read, change at once, bad input named', async () => {
  const n = await startNudge();
  try {
    assert.equal((await send(n.url, '/v1/identify', { userId: 'bo', traits: { consent: { push: false } } })).status, 200);
    assert.deepEqual((await n.api('/users/bo/consent')).body, { consent: { push: false } });
    const changed = await n.api('/users/bo/consent', { method: 'PATCH', body: JSON.stringify({ changes: { push: null, marketing: false }, source: 'preference-centre' }) });
    assert.equal(changed.status, 200);
    assert.deepEqual(changed.body, { consent: { marketing: false } });
    assert.deepEqual((await n.api('/users/bo')).body.traits.consent, { marketing: false });
    const bad = await n.api('/users/bo/consent', { method: 'PATCH', body: JSON.stringify({ changes: { 'E-mail': false } }) });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /^changes\.E-mail: /);
    assert.equal((await n.api('/users/nobody/consent')).status, 404);
    assert.equal((await fetch(`${n.url}/api/v1/users/bo/consent`)).status, 401);
  } finally {
    await n.stop();
  }
});
