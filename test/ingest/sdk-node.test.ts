/**
 * The server-side SDKs senders already run, unmodified, pointed at Nudge: each one's calls must
 * land once, in order, with their properties and traits, anonymous history merged into the user
 * on identify and alias, and a re-sent messageId stored once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Analytics as SegmentAnalytics } from '@segment/analytics-node';
import RudderAnalytics from '@rudderstack/rudder-sdk-node';
import { PostHog } from 'posthog-node';
import { startNudge, writeKey, type RunningNudge } from '../support/nudge.js';
import { assertSubset } from '../support/assert-subset.js';
import { calls, eventually, profileOf, timelineOf } from '../support/timeline.js';

let nudge: RunningNudge;
before(async () => (nudge = await startNudge()));
after(async () => {
  await nudge.stop();
  // Every client below has been closed: once their sockets see the server gone, nothing of theirs
  // (timers, connections) may keep the process alive.
  await eventually(async () => {
    const leftovers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'TCPSocketWrap');
    assert.deepEqual(leftovers, [], 'timers or sockets left open after every client was closed');
  }, 5000);
});

/** Asserts the profile that every id resolves to is one and the same. */
async function assertOneProfile(ids: readonly string[]): Promise<any> {
  const profiles = await Promise.all(ids.map((id) => profileOf(nudge, id)));
  for (const [i, p] of profiles.entries()) assert.equal(p.profileId, profiles[0].profileId, `${ids[i]} resolves to another profile`);
  return profiles[0];
}

describe('@segment/analytics-node 3.1.0', () => {
  const productViewed = { sku: 'A-1', price: 12.5, tags: ['new', 'sale'], dims: { w: 3, h: null } };

  /** A client that sends everything in one request when closed, and never retries. */
  const client = () => {
    const analytics = new SegmentAnalytics({ writeKey, host: nudge.url, path: '/v1/batch', flushAt: 50, flushInterval: 60_000, maxRetries: 0 });
    const statuses: number[] = [];
    const failures: unknown[] = [];
    analytics.on('http_response', (r) => statuses.push(r.status));
    analytics.on('error', (e) => failures.push(e));
    const done = (error?: unknown) => error && failures.push(error);
    return { analytics, statuses, failures, done };
  };

  test('identify, track, page, group and alias land once, in order, merged into one profile', async () => {
    const { analytics, statuses, failures, done } = client();
    analytics.track({ userId: 'seg-legacy', event: 'Legacy Signup', properties: { source: 'import' } }, done);
    analytics.track({ anonymousId: 'seg-anon', event: 'Product Viewed', properties: productViewed }, done);
    analytics.page({ anonymousId: 'seg-anon', category: 'Docs', name: 'Pricing', properties: { path: '/pricing', url: 'https://shop.test/pricing' } }, done);
    analytics.identify({ userId: 'seg-ann', anonymousId: 'seg-anon', traits: { email: 'ann@example.com', plan: 'pro' } }, done);
    analytics.group({ userId: 'seg-ann', groupId: 'acme', traits: { name: 'Acme', seats: 12 } }, done);
    analytics.alias({ userId: 'seg-ann', previousId: 'seg-legacy' }, done);
    analytics.track({ userId: 'seg-ann', event: 'Order Completed', messageId: 'seg-order-1', properties: { revenue: 30, currency: 'EUR' } }, done);
    await analytics.closeAndFlush({ timeout: 10_000 });
    assert.deepEqual(failures, []);
    assert.deepEqual(statuses, [200], 'one batch, accepted');

    const events = await timelineOf(nudge, 'seg-ann');
    assert.deepEqual(calls(events), [
      'track:Legacy Signup',
      'track:Product Viewed',
      'page:Pricing',
      'identify:',
      'group:',
      'alias:',
      'track:Order Completed',
    ]);
    assert.equal(new Set(events.map((e) => e.messageId)).size, events.length);
    const [, viewed, page, identify, group, alias, order] = events;
    assert.deepEqual(viewed!.properties, productViewed);
    assert.equal(viewed!.anonymousId, 'seg-anon');
    assertSubset(page!.properties, { path: '/pricing', url: 'https://shop.test/pricing' });
    assert.deepEqual(identify!.traits, { email: 'ann@example.com', plan: 'pro' });
    assert.equal(group!.groupId, 'acme');
    assert.deepEqual(group!.traits, { name: 'Acme', seats: 12 });
    assert.equal(alias!.previousId, 'seg-legacy');
    assert.equal(order!.messageId, 'seg-order-1');
    assert.deepEqual(order!.properties, { revenue: 30, currency: 'EUR' });
    assertSubset(order!.context, { library: { name: '@segment/analytics-node' } });

    const profile = await assertOneProfile(['seg-ann', 'seg-anon', 'seg-legacy']);
    assert.equal(profile.userId, 'seg-ann');
    assert.deepEqual(profile.anonymousIds, ['seg-anon']);
    assertSubset(profile.traits, { email: 'ann@example.com', plan: 'pro' });
    assert.equal(profile.computed.eventCount, 7);
    assert.equal(profile.computed.totals.revenue, 30);
    assertSubset(profile.computed.lastPage, { name: 'Pricing', path: '/pricing' });
  });

  test('a batch re-sent with the same messageId is stored once', async () => {
    const { analytics, statuses, failures, done } = client();
    analytics.track({ userId: 'seg-ann', event: 'Order Completed', messageId: 'seg-order-1', properties: { revenue: 30, currency: 'EUR' } }, done);
    await analytics.closeAndFlush({ timeout: 10_000 });
    assert.deepEqual(failures, []);
    assert.deepEqual(statuses, [200], 'a duplicate is acknowledged, so the SDK does not retry it');
    const events = await timelineOf(nudge, 'seg-ann');
    assert.equal(events.filter((e) => e.messageId === 'seg-order-1').length, 1);
    assert.equal(events.length, 7);
    assert.equal((await profileOf(nudge, 'seg-ann')).computed.totals.revenue, 30);
  });
});

describe('@rudderstack/rudder-sdk-node 3.0.13 (gzip)', () => {
  /** The SDK sends a given messageId (it only makes one up when there is none); its types omit it. */
  const withMessageId = <T extends object>(params: T, messageId: string): T => ({ ...params, messageId });
  const client = () => {
    const failures: unknown[] = [];
    const rudder = new RudderAnalytics(writeKey, { dataPlaneUrl: nudge.url, flushAt: 50, flushInterval: 60_000, retryCount: 0, logLevel: 'error' });
    const done = (error?: unknown) => error && failures.push(error);
    return { rudder, failures, done };
  };

  test('identify, track, page, group and alias land once, in order, merged into one profile', async () => {
    const { rudder, failures, done } = client();
    // The SDK sends its first call at once and queues the rest, so this covers two requests. The
    // calls carry their own times, a second apart, which must survive clock-skew correction.
    const base = Date.now() - 60_000;
    const at = (s: number) => new Date(base + s * 1000);
    rudder.track({ anonymousId: 'rs-anon', event: 'Product Viewed', properties: { sku: 'R-9', price: 99.99, variants: [{ size: 'M' }] }, timestamp: at(0) }, done);
    rudder.page({ anonymousId: 'rs-anon', name: 'Checkout', properties: { path: '/checkout', title: 'Checkout' }, timestamp: at(1) }, done);
    rudder.track({ userId: 'rs-old', event: 'Newsletter Joined', properties: { list: 'weekly' }, timestamp: at(2) }, done);
    rudder.identify({ userId: 'rs-rita', anonymousId: 'rs-anon', traits: { email: 'rita@example.com', age: 41 }, timestamp: at(3) }, done);
    rudder.group({ userId: 'rs-rita', groupId: 'globex', traits: { industry: 'energy' }, timestamp: at(4) }, done);
    rudder.alias({ userId: 'rs-rita', previousId: 'rs-old', timestamp: at(5) }, done);
    rudder.track(withMessageId({ userId: 'rs-rita', event: 'Order Completed', properties: { revenue: 99.99 }, timestamp: at(6) }, 'rs-order-1'), done);
    await rudder.flush();
    assert.deepEqual(failures, []);

    const events = await timelineOf(nudge, 'rs-rita');
    assert.deepEqual(calls(events), [
      'track:Product Viewed',
      'page:Checkout',
      'track:Newsletter Joined',
      'identify:',
      'group:',
      'alias:',
      'track:Order Completed',
    ]);
    assert.equal(new Set(events.map((e) => e.messageId)).size, events.length);
    for (const [i, e] of events.entries()) {
      const offByMs = Date.parse(e.timestamp) - at(i).getTime();
      assert.ok(Math.abs(offByMs) < 1000, `${e.name || e.type}: stored ${e.timestamp}, sent ${at(i).toISOString()}`);
    }
    assert.deepEqual(events[0]!.properties, { sku: 'R-9', price: 99.99, variants: [{ size: 'M' }] });
    assert.deepEqual(events[3]!.traits, { email: 'rita@example.com', age: 41 });
    assert.equal(events[4]!.groupId, 'globex');
    assert.equal(events[5]!.previousId, 'rs-old');
    assert.equal(events[6]!.messageId, 'rs-order-1');
    assertSubset(events[6]!.context, { library: { name: 'analytics-node' } });

    const profile = await assertOneProfile(['rs-rita', 'rs-anon', 'rs-old']);
    assert.equal(profile.userId, 'rs-rita');
    assert.deepEqual(profile.anonymousIds, ['rs-anon']);
    assertSubset(profile.traits, { email: 'rita@example.com', age: 41 });
    assert.equal(profile.computed.eventCount, 7);
    assert.equal(profile.computed.totals.revenue, 99.99);
  });

  test('a batch re-sent with the same messageId is stored once', async () => {
    const { rudder, failures, done } = client();
    rudder.track(withMessageId({ userId: 'rs-rita', event: 'Order Completed', properties: { revenue: 99.99 } }, 'rs-order-1'), done);
    await rudder.flush();
    assert.deepEqual(failures, []);
    const events = await timelineOf(nudge, 'rs-rita');
    assert.equal(events.filter((e) => e.messageId === 'rs-order-1').length, 1);
    assert.equal(events.length, 7);
  });
});

describe('posthog-node 5.70.0', () => {
  const client = () => {
    const failures: unknown[] = [];
    const posthog = new PostHog(writeKey, { host: nudge.url, flushAt: 50, flushInterval: 0, fetchRetryCount: 0, disableGeoip: true });
    posthog.on('error', (e) => failures.push(e));
    return { posthog, failures };
  };

  test('capture, $pageview, identify, groupIdentify and alias land once, in order, merged into one profile', async () => {
    const { posthog, failures } = client();
    // Events without a person (PostHog's documented way to send anonymous events from a server).
    posthog.capture({ distinctId: 'ph-anon', event: 'product viewed', properties: { $process_person_profile: false, sku: 'P-3', price: 5 } });
    posthog.capture({ distinctId: 'ph-anon', event: '$pageview', properties: { $process_person_profile: false, $current_url: 'https://shop.test/cart', $pathname: '/cart' } });
    posthog.capture({ distinctId: 'ph-old', event: 'trial started', properties: { plan: 'trial' } });
    posthog.identify({ distinctId: 'ph-bob', properties: { $set: { email: 'bob@example.com', name: 'Bob' }, $set_once: { first_seen: '2026-01-01' }, $anon_distinct_id: 'ph-anon' } });
    posthog.groupIdentify({ groupType: 'company', groupKey: 'initech', properties: { employees: 250 }, distinctId: 'ph-bob' });
    posthog.alias({ distinctId: 'ph-bob', alias: 'ph-old' });
    posthog.capture({ distinctId: 'ph-bob', event: 'order completed', uuid: '0190c8b4-3f1e-7a5b-9c2d-000000000001', properties: { revenue: 42 } });
    await posthog.shutdown(10_000);
    assert.deepEqual(failures, []);

    const events = await timelineOf(nudge, 'ph-bob');
    assert.deepEqual(calls(events), [
      'track:product viewed',
      'page:/cart',
      'track:trial started',
      'identify:',
      'group:company',
      'alias:',
      'track:order completed',
    ]);
    assert.equal(new Set(events.map((e) => e.messageId)).size, events.length);
    assertSubset(events[0]!.properties, { sku: 'P-3', price: 5, $lib: 'posthog-node' });
    assert.equal(events[0]!.anonymousId, 'ph-anon');
    assert.equal(events[0]!.userId, null);
    assert.deepEqual(events[3]!.traits, { email: 'bob@example.com', name: 'Bob', first_seen: '2026-01-01' });
    assert.equal(events[4]!.groupId, 'initech');
    assert.deepEqual(events[4]!.traits, { employees: 250 });
    assert.equal(events[5]!.previousId, 'ph-old');
    assert.equal(events[6]!.messageId, '0190c8b4-3f1e-7a5b-9c2d-000000000001');

    const profile = await assertOneProfile(['ph-bob', 'ph-anon', 'ph-old']);
    assert.equal(profile.userId, 'ph-bob');
    assert.deepEqual(profile.anonymousIds, ['ph-anon']);
    assertSubset(profile.traits, { email: 'bob@example.com', name: 'Bob', first_seen: '2026-01-01' });
    assert.equal(profile.computed.eventCount, 7);
    assert.equal(profile.computed.totals.revenue, 42);
    assertSubset(profile.computed.lastPage, { url: 'https://shop.test/cart', path: '/cart' });
  });

  test('an event re-sent with the same uuid is stored once', async () => {
    const { posthog, failures } = client();
    posthog.capture({ distinctId: 'ph-bob', event: 'order completed', uuid: '0190c8b4-3f1e-7a5b-9c2d-000000000001', properties: { revenue: 42 } });
    await posthog.shutdown(10_000);
    assert.deepEqual(failures, []);
    const events = await timelineOf(nudge, 'ph-bob');
    assert.equal(events.filter((e) => e.name === 'order completed').length, 1);
    assert.equal(events.length, 7);
    assert.equal((await profileOf(nudge, 'ph-bob')).computed.totals.revenue, 42);
  });
});
