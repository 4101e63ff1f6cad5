import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { send, startNudge, type RunningNudge } from '../support/nudge.js';

let nudge: RunningNudge;
before(async () => (nudge = await startNudge()));
after(() => nudge.stop());

test('an identified track event lands on the profile and its timeline', async () => {
  const res = await send(nudge.url, '/v1/track', { userId: 'ann', event: 'order_completed', properties: { revenue: 30 } });
  assert.equal(res.status, 200);
  const profile = await nudge.api('/users/ann');
  assert.equal(profile.status, 200);
  assert.equal(profile.body.computed.events.order_completed.count, 1);
  assert.equal(profile.body.computed.totals.revenue, 30);
  const timeline = await nudge.api('/users/ann/events');
  assert.deepEqual(timeline.body.items.map((e: { name: string }) => e.name), ['order_completed']);
});

test('health, metrics and the OpenAPI document are served', async () => {
  assert.equal((await fetch(`${nudge.url}/healthz`)).status, 200);
  assert.match(await (await fetch(`${nudge.url}/metrics`)).text(), /nudge_ingest_events_accepted_total/);
  const doc = (await (await fetch(`${nudge.url}/api/v1/openapi.json`)).json()) as { paths: Record<string, unknown> };
  assert.ok(doc.paths['/api/v1/users/{userId}']);
});
