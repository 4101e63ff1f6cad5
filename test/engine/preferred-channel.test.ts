/** A user's preferred channel, when it is one of a step's, is the one the message goes out on. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { send, startNudge, testConfig } from '../support/nudge.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nudge-preferred-'));
let hooks: WebhookReceiver;
before(async () => {
  hooks = await startWebhookReceiver();
  mkdirSync(path.join(dir, 'triggers'));
  writeFileSync(path.join(dir, 'triggers', 'hello.yaml'), 'id: hello\nentry: { event: signed_up }\nsteps:\n  - send: push\n    template: hello\n    fallback: [email, sms]\n');
});
after(async () => {
  await hooks.close();
  rmSync(dir, { recursive: true, force: true });
});

test('preferred_channel picks among the step channel and its fallbacks; others keep the step order', async () => {
  const channels = ['push', 'email', 'sms'].map((c) => `  ${c}:\n    webhook: { url: "${hooks.url}/${c}", allowPrivateNetworks: true }\n`).join('');
  const n = await startNudge({ config: testConfig(`triggers: { dir: ${dir}/triggers, watch: false }\nchannels:\n${channels}`) });
  try {
    for (const [userId, preferred] of [['ada', 'sms'], ['bo', 'in_app'], ['cy', null]] as const) {
      await send(n.url, '/v1/identify', { userId, traits: preferred ? { preferred_channel: preferred } : {} });
      await send(n.url, '/v1/track', { userId, event: 'signed_up' });
    }
    await n.engine.idle();
    await n.dispatcher.idle();
    const via = Object.fromEntries(hooks.received.map((r) => [r.body.profileId, r.path]));
    assert.deepEqual(via, { 'u:ada': '/sms', 'u:bo': '/push', 'u:cy': '/push' });
  } finally {
    await n.stop();
  }
});
