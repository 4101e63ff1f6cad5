/**
 * The template API: the templates in force, and a preview rendered for a real user's profile
 * with the same data and strictness as a send.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { send, startNudge, testConfig, type RunningNudge } from '../support/nudge.js';

const templatesDir = path.resolve(import.meta.dirname, '../../examples/shop/templates');
let nudge: RunningNudge;

before(async () => {
  nudge = await startNudge({ config: testConfig(`templates:\n  dir: ${templatesDir}\n  watch: false\n`, 'memory') });
  const batch = [
    { type: 'identify', userId: 'ada', traits: { name: 'Ada', timezone: 'Europe/Berlin' }, messageId: 'i-1' },
    { type: 'track', userId: 'ada', event: 'order_completed', properties: { revenue: 40 }, messageId: 'o-1' },
  ];
  assert.equal((await send(nudge.url, '/v1/batch', { batch })).status, 200);
});
after(() => nudge.stop());

test('GET /templates lists the templates in force with their channels', async () => {
  const res = await nudge.api('/templates');
  assert.equal(res.status, 200);
  assert.deepEqual(res.body.issues, []);
  const push = res.body.items.find((t: { id: string }) => t.id === 'cart-push-with-code');
  assert.deepEqual(push.channels, ['email', 'push', 'in_app']);
  assert.equal(res.body.items.length, 9);
});

test('a preview renders the parts of one channel for the user and the event given', async () => {
  const res = await nudge.api('/templates/cart-push-with-code/preview', {
    method: 'POST',
    body: JSON.stringify({ userId: 'ada', channel: 'push', event: { name: 'cart_updated', properties: { item_count: 2, value: 258 } } }),
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.content.title, "Ada? Here's 10% off");
  assert.match(res.body.content.body, /Your €258\.00 cart with code PREVIEW-CODE, for 24 hours/, 'a stand-in code: a preview reserves none');
  assert.equal(res.body.content.url, 'https://shop.example.com/cart?code=PREVIEW-CODE');

  const chat = await nudge.api('/templates/live-chat-invitation/preview', { method: 'POST', body: JSON.stringify({ userId: 'ada', channel: 'in_app' }) });
  assert.equal(chat.status, 200, JSON.stringify(chat.body));
  assert.match(chat.body.content.body, /ordered from us 1 time before/);
});

test('a template that needs what the preview lacks is a 422 naming the file, part and variable', async () => {
  const res = await nudge.api('/templates/cart-reminder/preview', { method: 'POST', body: JSON.stringify({ userId: 'ada', channel: 'in_app' }) });
  assert.equal(res.status, 422);
  assert.equal(res.body.error, 'render_failed');
  assert.match(res.body.message, /cart-reminder\.yaml: in_app\.body: undefined variable: event/);
  const sms = await nudge.api('/templates/cart-reminder/preview', { method: 'POST', body: JSON.stringify({ userId: 'ada', channel: 'sms' }) });
  assert.equal(sms.status, 422);
  assert.match(sms.body.message, /has no sms parts/);
});

test('unknown template or user: 404; a bad body: 400 naming the field', async () => {
  const post = (id: string, body: unknown) => nudge.api(`/templates/${id}/preview`, { method: 'POST', body: JSON.stringify(body) });
  assert.equal((await post('nope', { userId: 'ada', channel: 'push' })).status, 404);
  const nobody = await post('cart-reminder', { userId: 'nobody', channel: 'in_app' });
  assert.equal(nobody.status, 404);
  assert.match(nobody.body.message, /^userId:/);
  const bad = await post('cart-reminder', { userId: 'ada', channel: 'pigeon' });
  assert.equal(bad.status, 400);
  assert.match(JSON.stringify(bad.body.issues), /channel/);
});

test('the templates API needs the admin key', async () => {
  const res = await fetch(`${nudge.url}/api/v1/templates`);
  assert.equal(res.status, 401);
});
