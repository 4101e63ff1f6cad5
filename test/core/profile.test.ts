/**
 * Scenario tables for a profile's computed attributes: each step applies one event and checks
 * the fields it names. Times are minutes after t0.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyEvent, defaultProfileOptions, draftOf, emptyProfile, type Profile } from '../../src/core/profile.js';
import { assertSubset } from '../support/assert-subset.js';
import { event, minute, t0, type EventSpec } from '../support/events.js';

interface Step {
  event: EventSpec;
  expect?: unknown;
}

const at = (m: number) => t0 + m * minute;

function run(steps: readonly Step[]): Profile {
  let profile = emptyProfile('w1', 'u:ann', at(0));
  steps.forEach((step, i) => {
    const draft = draftOf(profile);
    applyEvent(draft, event({ userId: 'ann', ...step.event }), defaultProfileOptions);
    profile = draft;
    if (step.expect !== undefined) assertSubset(profile, step.expect, `step ${i}`);
  });
  return profile;
}

const scenarios: Record<string, Step[]> = {
  'a page leave naming another page (a delayed beacon) does not end this one': [
    { event: { type: 'page', at: 0, properties: { path: '/p/1' } } },
    { event: { type: 'page', at: 2, properties: { path: '/cart' } }, expect: { computed: { lastPage: { path: '/cart', dwellMs: null } } } },
    { event: { name: 'page_left', at: 2.5, properties: { path: '/p/1', dwell_ms: 110_000 } }, expect: { computed: { lastPage: { path: '/cart', dwellMs: null } } } },
    { event: { name: 'page_left', at: 3, properties: { path: '/cart', dwell_ms: 55_000 } }, expect: { computed: { lastPage: { path: '/cart', dwellMs: 55_000 } } } },
  ],
  'an event flagged context.active: false is counted, but the user is not seen, nor in a session': [
    { event: { name: 'viewed', at: 2 }, expect: { computed: { lastSeenAt: at(2), session: { eventCount: 1 } } } },
    {
      event: { name: 'Message Sent', at: 40, context: { active: false } },
      expect: { computed: { eventCount: 2, lastSeenAt: at(2), sessionCount: 1, session: { eventCount: 1 }, events: { 'Message Sent': { count: 1 } } } },
    },
    { event: { name: 'viewed', at: 41 }, expect: { computed: { lastSeenAt: at(41), sessionCount: 2 } } },
  ],
  'counts, first/last seen and revenue sums': [
    { event: { name: 'viewed', at: 2 }, expect: { computed: { eventCount: 1, firstSeenAt: at(2), lastSeenAt: at(2) } } },
    { event: { name: 'order_completed', at: 5, properties: { revenue: 30, quantity: 2 } } },
    { event: { name: 'order_completed', at: 7, properties: { revenue: 12.5, value: 'x' } } },
    {
      event: { name: 'order_completed', at: 8, properties: { revenue: '99' } },
      expect: {
        computed: {
          eventCount: 4,
          firstSeenAt: at(2),
          lastSeenAt: at(8),
          events: { viewed: { count: 1 }, order_completed: { count: 3, firstAt: at(5), lastAt: at(8), sums: { revenue: 42.5, quantity: 2 } } },
          totals: { revenue: 42.5, quantity: 2 },
        },
      },
    },
    { event: { type: 'page', at: 9 }, expect: { computed: { events: { $page: { count: 1 } }, eventCount: 5 } } },
  ],
  'a session ends after more than 30 minutes of inactivity': [
    { event: { at: 0 }, expect: { computed: { sessionCount: 1, session: { id: `s${at(0)}`, startedAt: at(0), eventCount: 1 } } } },
    { event: { at: 10 } },
    { event: { at: 40 }, expect: { computed: { sessionCount: 1, session: { startedAt: at(0), lastEventAt: at(40), eventCount: 3 } } } },
    { event: { at: 71, type: 'page' }, expect: { computed: { sessionCount: 2, session: { id: `s${at(71)}`, startedAt: at(71), eventCount: 1, pageCount: 1 } } } },
  ],
  'an explicit session id wins over the timeout': [
    { event: { at: 0, context: { sessionId: 'A' } }, expect: { computed: { sessionCount: 1, session: { id: 'A' } } } },
    { event: { at: 50, context: { sessionId: 'A' } }, expect: { computed: { sessionCount: 1, session: { id: 'A', eventCount: 2 } } } },
    { event: { at: 51, properties: { $session_id: 'B' } }, expect: { computed: { sessionCount: 2, session: { id: 'B', startedAt: at(51) } } } },
  ],
  'dwell on the last page: page to page, then a leave event without and with a measured dwell': [
    { event: { type: 'page', name: 'Home', at: 0, properties: { url: 'https://shop/', path: '/' } } },
    { event: { type: 'page', name: 'Shoe', at: 2, properties: { path: '/p/shoe', title: 'Shoe' } }, expect: { computed: { lastPage: { path: '/p/shoe', name: 'Shoe', title: 'Shoe', url: null, enteredAt: at(2), dwellMs: null } } } },
    { event: { name: 'page_left', at: 5 }, expect: { computed: { lastPage: { path: '/p/shoe', dwellMs: 3 * minute } } } },
    { event: { type: 'page', at: 6, properties: { $current_url: 'https://shop/cart', $pathname: '/cart' } }, expect: { computed: { lastPage: { url: 'https://shop/cart', path: '/cart', dwellMs: null } } } },
    { event: { name: 'page_left', at: 9, properties: { dwellMs: 45_000 } }, expect: { computed: { lastPage: { path: '/cart', dwellMs: 45_000 } } } },
    { event: { type: 'page', at: 10 } },
    { event: { name: '$pageleave', at: 11, properties: { dwellMs: Infinity } }, expect: { computed: { lastPage: { enteredAt: at(10), dwellMs: minute } } } },
  ],
  'a late leave event or page does not touch a newer page': [
    { event: { type: 'page', name: 'A', at: 10 } },
    { event: { name: 'page_left', at: 8 }, expect: { computed: { lastPage: { name: 'A', dwellMs: null } } } },
    { event: { type: 'page', name: 'Old', at: 9 }, expect: { computed: { lastPage: { name: 'A', enteredAt: at(10), dwellMs: null }, events: { $page: { count: 2 } } } } },
  ],
  'timezone and locale follow the latest event only': [
    { event: { at: 5, context: { timezone: 'Europe/Berlin', locale: 'de-DE' } }, expect: { computed: { timezone: 'Europe/Berlin', locale: 'de-DE' } } },
    { event: { at: 1, context: { timezone: 'America/New_York', locale: 'en-US' } }, expect: { computed: { timezone: 'Europe/Berlin', locale: 'de-DE' } } },
    { event: { at: 6, type: 'identify', traits: { timezone: 'Asia/Tokyo' } }, expect: { computed: { timezone: 'Asia/Tokyo', locale: 'de-DE' } } },
  ],
  'late events are placed by timestamp; last-seen never regresses; an old session is not reopened': [
    { event: { at: 0 } },
    { event: { at: 60 }, expect: { computed: { sessionCount: 2, session: { startedAt: at(60), eventCount: 1 } } } },
    { event: { at: 70 } },
    {
      event: { at: 1, name: 'bought', properties: { revenue: 5 } },
      expect: { computed: { eventCount: 4, firstSeenAt: at(0), lastSeenAt: at(70), sessionCount: 2, session: { startedAt: at(60), lastEventAt: at(70), eventCount: 2 }, events: { bought: { firstAt: at(1), lastAt: at(1) } }, totals: { revenue: 5 } } },
    },
    { event: { at: -30 }, expect: { computed: { firstSeenAt: at(-30), lastSeenAt: at(70), sessionCount: 2 } } },
    { event: { at: 65 }, expect: { computed: { sessionCount: 2, session: { lastEventAt: at(70), eventCount: 3 } } } },
  ],
  'identify sets traits; updatedAt follows receipt, not event time': [
    { event: { type: 'identify', at: 3, receivedAt: at(100), traits: { email: 'ann@example.com', plan: 'free' } }, expect: { updatedAt: at(100), traits: { email: 'ann@example.com', plan: 'free' } } },
    { event: { at: 200, receivedAt: at(50), context: { traits: { plan: 'pro' } } }, expect: { updatedAt: at(100), traits: { email: 'ann@example.com', plan: 'pro' } } },
  ],
};

describe('profile: computed attributes', () => {
  for (const [name, steps] of Object.entries(scenarios)) test(name, () => void run(steps));
});

describe('profile: hostile keys', () => {
  test('prototype-pollution keys in traits are ignored', () => {
    const hostile = JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}, "prototype": 1, "name": "Ann"}');
    const profile = run([
      { event: { type: 'identify', traits: hostile } },
      { event: { context: { traits: hostile } } },
    ]);
    assert.deepEqual(Object.keys(profile.traits), ['name']);
    assert.equal(Object.getPrototypeOf(profile.traits), Object.prototype);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });

  test('events named like Object.prototype members are counted as any other and pollute nothing', () => {
    const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'];
    const profile = run(names.flatMap((name, i) => [{ event: { name, at: i, properties: { revenue: 1 } } }, { event: { name, at: i + 10 } }]));
    assert.deepEqual(Object.keys(profile.computed.events).sort(), [...names].sort());
    for (const name of names) {
      const stats = Object.getOwnPropertyDescriptor(profile.computed.events, name)?.value;
      assert.deepEqual(stats, { count: 2, firstAt: at(names.indexOf(name)), lastAt: at(names.indexOf(name) + 10), sums: { revenue: 1 } }, name);
    }
    assert.equal(profile.computed.totals['revenue'], 4);
    for (const key of ['count', 'firstAt', 'lastAt', 'sums']) assert.equal(key in {}, false, `Object.prototype.${key}`);
    const copy = draftOf(JSON.parse(JSON.stringify(profile)) as Profile);
    assert.deepEqual(Object.keys(copy.computed.events).sort(), [...names].sort(), 'the counts survive a round trip through JSON');
  });
});
