/**
 * In-app end to end: a signed-in user's page holds a live stream (a real EventSource) with a token
 * the shop's backend minted; a trigger's in-app message arrives on it at once, its link carrying
 * UTM parameters; what the page reports (shown, read, clicked, "not relevant") lands on the
 * user's timeline once each.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { EventSource } from 'eventsource';
import { createUserToken } from '../../src/http/user-token.js';
import { send, startNudge, testConfig } from '../support/nudge.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nudge-in-app-'));
before(() => {
  mkdirSync(path.join(dir, 'triggers'));
  mkdirSync(path.join(dir, 'templates'));
  writeFileSync(path.join(dir, 'triggers', 'help.yaml'), 'id: help\nentry: { event: help_hovered }\nsteps:\n  - id: offer\n    send: in_app\n    template: chat\n');
  writeFileSync(
    path.join(dir, 'templates', 'chat.yaml'),
    'id: chat\nin_app:\n  title: "Need a hand, {{ user.traits.name }}?"\n  body: "Chat with us now."\n  cta_label: Chat\n  cta_url: https://shop.example/chat\n  style: modal\n',
  );
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('a message arrives live on the user stream; what the page reports is on the timeline once', async () => {
  const config = testConfig(`triggers: { dir: ${dir}/triggers, watch: false }\ntemplates: { dir: ${dir}/templates, watch: false }\nchannels:\n  in_app:\n    inApp: {}\n`);
  const n = await startNudge({ config });
  try {
    await send(n.url, '/v1/identify', { userId: 'ada', traits: { name: 'Ada' } });
    const secret = readFileSync(path.join(n.dataDir, 'secrets', 'inbox-test'), 'utf8').trim();
    const token = createUserToken({ workspaceId: 'test', identity: 'u:ada', expiresAt: Date.now() + 3_600_000 }, secret);

    const stream = new EventSource(`${n.url}/v1/inbox/stream?token=${encodeURIComponent(token)}`);
    const arrived = new Promise<any>((resolve, reject) => {
      stream.addEventListener('message', (e) => resolve(JSON.parse(e.data)));
      stream.addEventListener('error', (e) => reject(new Error(`stream: ${JSON.stringify(e)}`)));
    });
    await new Promise<void>((resolve) => stream.addEventListener('ready', () => resolve(), { once: true }));
    await send(n.url, '/v1/track', { userId: 'ada', event: 'help_hovered' });
    const item = await arrived;
    stream.close();
    assert.equal(item.content.title, 'Need a hand, Ada?');
    assert.equal(item.content.style, 'modal');
    const cta = new URL(item.content.cta_url);
    assert.equal(cta.origin + cta.pathname, 'https://shop.example/chat', 'direct: the page reports its own clicks');
    assert.equal(cta.searchParams.get('utm_medium'), 'in_app');

    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    for (const kind of ['shown', 'read', 'clicked', 'read']) {
      assert.equal((await fetch(`${n.url}/v1/inbox/${item.id}/${kind}`, { method: 'POST', headers: auth, body: '{}' })).status, 200);
    }
    assert.equal((await fetch(`${n.url}/v1/inbox/${item.id}/feedback`, { method: 'POST', headers: auth, body: JSON.stringify({ value: 'not_relevant' }) })).status, 200);
    const list = await (await fetch(`${n.url}/v1/inbox`, { headers: auth })).json();
    assert.equal(list.unread, 0);

    await n.messageEvents.flush();
    const names = (await n.api('/users/ada/events?limit=50')).body.items.map((e: any) => [e.name, e.properties.value]).reverse();
    assert.deepEqual(names.slice(1), [
      ['help_hovered', undefined],
      ['Message Sent', undefined],
      ['Message Delivered', undefined],
      ['Message Opened', undefined],
      ['Message Clicked', undefined],
      ['Message Feedback', 'not_relevant'],
    ]);
    const admin = await n.api('/users/ada/inbox');
    assert.equal(admin.body.items[0].feedback, 'not_relevant');

    // Privacy: the inbox is part of what is exported and erased.
    assert.deepEqual((await n.api('/users/ada/export')).body.channels.inbox.map((i: any) => i.content.title), ['Need a hand, Ada?']);
    assert.equal((await n.api('/users/ada', { method: 'DELETE' })).body.channels.inbox, 1);
    assert.equal((await fetch(`${n.url}/v1/inbox`, { headers: auth })).status, 200);
    assert.deepEqual((await (await fetch(`${n.url}/v1/inbox`, { headers: auth })).json()).items, []);
  } finally {
    await n.stop();
  }
});
