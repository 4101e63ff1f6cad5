import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { send, startNudge, type RunningNudge } from '../support/nudge.js';

let nudge: RunningNudge;
before(async () => {
  nudge = await startNudge();
  const t0 = Date.parse('2026-11-01T10:00:00Z');
  const batch = [];
  for (let i = 0; i < 25; i++) {
    batch.push({ type: 'track', userId: 'pager', event: i % 2 ? 'product_viewed' : 'cart_updated', timestamp: new Date(t0 + i * 1000).toISOString(), messageId: `p-${i}` });
  }
  batch.push({ type: 'identify', userId: 'carla', traits: { email: 'Carla@Example.com', name: 'Carla' }, messageId: 'c-1' });
  batch.push({ type: 'identify', userId: 'carl', traits: { email: 'carl@example.org' }, messageId: 'c-2' });
  batch.push({ type: 'page', anonymousId: 'anon-77', name: 'Home', messageId: 'a-1' });
  assert.equal((await send(nudge.url, '/v1/batch', { batch })).status, 200);
});
after(() => nudge.stop());

describe('authentication', () => {
  test('no key, a wrong key, and a write key are all refused with 401', async () => {
    for (const authorization of [undefined, 'Bearer nope-nope-nope', 'Basic dGVzdC13cml0ZS1rZXk6']) {
      const res = await fetch(`${nudge.url}/api/v1/users/pager`, { headers: authorization ? { authorization } : {} });
      assert.equal(res.status, 401);
      assert.match(((await res.json()) as { message: string }).message, /admin key|Bearer/);
    }
  });
});

describe('timeline', () => {
  test('pages newest first with stable cursors and no overlap', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: { status: number; body: any } = await nudge.api(`/users/pager/events?limit=10${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(res.status, 200);
      seen.push(...res.body.items.map((e: { messageId: string }) => e.messageId));
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor);
    assert.equal(pages, 3);
    assert.deepEqual(seen, Array.from({ length: 25 }, (_, i) => `p-${24 - i}`));
  });

  test('a cursor that is not ours is a 400 naming the cursor', async () => {
    const res = await nudge.api('/users/pager/events?cursor=garbage!');
    assert.equal(res.status, 400);
    assert.match(res.body.message, /^cursor:/);
    const foreign = await nudge.api(`/users/pager/events?cursor=${Buffer.from(JSON.stringify([1, "x"])).toString("base64url")}`);
    assert.equal(foreign.status, 400, "a cursor of another listing");
  });

  test('the limit is validated', async () => {
    const res = await nudge.api('/users/pager/events?limit=0');
    assert.equal(res.status, 400);
    assert.match(JSON.stringify(res.body.issues), /limit/);
  });
});

describe('events query', () => {
  test('filters by name, type, user and time range', async () => {
    const byName = await nudge.api('/events?name=cart_updated&limit=100');
    assert.equal(byName.body.items.length, 13);
    const byType = await nudge.api('/events?type=page');
    assert.deepEqual(byType.body.items.map((e: { anonymousId: string }) => e.anonymousId), ['anon-77']);
    const range = await nudge.api('/events?userId=pager&since=2026-11-01T10:00:05Z&until=2026-11-01T10:00:10Z');
    assert.deepEqual(range.body.items.map((e: { messageId: string }) => e.messageId), ['p-9', 'p-8', 'p-7', 'p-6', 'p-5']);
  });
});

describe('users', () => {
  test('search matches user id, anonymous id and email prefixes', async () => {
    const ids = async (q: string) => (await nudge.api(`/users?query=${encodeURIComponent(q)}`)).body.items.map((p: { profileId: string }) => p.profileId).sort();
    assert.deepEqual(await ids('carl'), ['u:carl', 'u:carla']);
    assert.deepEqual(await ids('carla@'), ['u:carla']);
    assert.deepEqual(await ids('anon-7'), ['a:anon-77']);
    assert.deepEqual(await ids('nobody'), []);
  });

  test('an anonymous visitor is found by the anonymous id', async () => {
    const res = await nudge.api('/users/anon-77');
    assert.equal(res.status, 200);
    assert.equal(res.body.userId, null);
    assert.deepEqual(res.body.identities, ['a:anon-77']);
  });

  test('an unknown user is a 404 naming the id', async () => {
    const res = await nudge.api('/users/ghost');
    assert.equal(res.status, 404);
    assert.match(res.body.message, /ghost/);
  });

  test('an unknown workspace is a 404', async () => {
    const res = await nudge.api('/users/carla?workspace=nope');
    assert.equal(res.status, 404);
  });

  test('workspaces are isolated', async () => {
    const res = await nudge.api('/users/carla?workspace=other');
    assert.equal(res.status, 404);
    const list = await nudge.api('/workspaces');
    const counts = Object.fromEntries(list.body.map((w: { id: string; events: number }) => [w.id, w.events]));
    assert.deepEqual(counts, { test: 28, other: 0 });
  });
});

describe('privacy', () => {
  test('export returns the profile and every event; erase removes them all', async () => {
    const exported = await nudge.api('/users/pager/export');
    assert.equal(exported.status, 200);
    assert.equal(exported.body.events.length, 25);
    assert.equal(exported.body.profile.computed.eventCount, 25);

    const erased = await nudge.api('/users/pager', { method: 'DELETE' });
    assert.deepEqual(erased.body, { profiles: 1, identities: 1, events: 25, triggerStates: 0, messages: 0, timers: 0, channels: { inbox: 0, pushSubscriptions: 0, smsConsent: 0, discountCodes: 0 } });
    assert.equal((await nudge.api('/users/pager')).status, 404);
    assert.equal((await nudge.api('/events?name=cart_updated')).body.items.length, 0);
    assert.equal((await nudge.api('/users/carla')).status, 200, 'other users are untouched');
  });

  test('a user erased and then seen again starts from a fresh profile', async () => {
    await send(nudge.url, '/v1/identify', { userId: 'carl', traits: { plan: 'pro' } });
    assert.equal((await nudge.api('/users/carl', { method: 'DELETE' })).status, 200);
    await send(nudge.url, '/v1/track', { userId: 'carl', event: 'came_back' });
    const res = await nudge.api('/users/carl');
    assert.equal(res.body.computed.eventCount, 1);
    assert.deepEqual(res.body.traits, {});
  });
});
