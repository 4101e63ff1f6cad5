/**
 * The delivery policy as a table: consent, frequency caps and quiet hours decided at the moment
 * of sending, on given times (no clock).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideDelivery, orderForCaps, preferredFirst, type DeliveryPolicy, type PolicyInput } from '../../src/core/delivery/policy.js';

const hour = 3_600_000;
const minute = 60_000;
/** 2026-06-01 10:00 UTC = 12:00 in Berlin (CEST). */
const noon = Date.UTC(2026, 5, 1, 10, 0);
const base: PolicyInput = { channel: 'push', topic: 'marketing', triggerId: 'cart', consent: undefined, timezone: 'Europe/Berlin', history: [], now: noon };
const none: DeliveryPolicy = { caps: [], quietHours: null, defaultConsent: 'granted' };

const rows: { name: string; policy?: Partial<DeliveryPolicy>; input: Partial<PolicyInput>; expect: ReturnType<typeof decideDelivery> | string }[] = [
  { name: 'nothing set: send', input: {}, expect: { action: 'send' } },
  { name: 'opted out of the channel', input: { consent: { push: false } }, expect: 'drop no_consent' },
  { name: 'opted out of the topic on every channel', input: { consent: { marketing: false } }, expect: 'drop no_consent' },
  { name: 'the most specific key wins', input: { consent: { push: false, 'push:marketing': true } }, expect: { action: 'send' } },
  { name: 'opted out of email only: push goes', input: { consent: { email: false } }, expect: { action: 'send' } },
  { name: 'opt-in only, nothing said: no', policy: { defaultConsent: 'denied' }, input: {}, expect: 'drop no_consent' },
  { name: 'opt-in only, opted in to the topic', policy: { defaultConsent: 'denied' }, input: { consent: { marketing: true } }, expect: { action: 'send' } },
  { name: 'opt-in only: transactional still goes', policy: { defaultConsent: 'denied' }, input: { topic: 'transactional' }, expect: { action: 'send' } },
  { name: 'a consent that is not a boolean counts as nothing said', input: { consent: { push: 'no' } }, expect: { action: 'send' } },
  { name: 'a consent trait of the wrong type counts as nothing said', input: { consent: 'none' }, expect: { action: 'send' } },
  {
    name: 'cap 2 per hour: two in the last hour, the third is capped',
    policy: { caps: [{ max: 2, windowMs: hour }] },
    input: { history: [{ at: noon - 59 * minute, channel: 'email', triggerId: 'a' }, { at: noon - 1, channel: 'push', triggerId: 'b' }] },
    expect: 'drop capped',
  },
  {
    name: 'cap 2 per hour: the older one left the window at exactly one hour',
    policy: { caps: [{ max: 2, windowMs: hour }] },
    input: { history: [{ at: noon - hour, channel: 'email', triggerId: 'a' }, { at: noon - 1, channel: 'push', triggerId: 'b' }] },
    expect: { action: 'send' },
  },
  {
    name: 'a per-channel cap counts only that channel',
    policy: { caps: [{ max: 1, windowMs: hour, channel: 'push' }] },
    input: { history: [{ at: noon - minute, channel: 'email', triggerId: 'a' }] },
    expect: { action: 'send' },
  },
  {
    name: 'a per-channel cap does not cap other channels',
    policy: { caps: [{ max: 1, windowMs: hour, channel: 'email' }] },
    input: { history: [{ at: noon - minute, channel: 'email', triggerId: 'a' }] },
    expect: { action: 'send' },
  },
  {
    name: 'a per-trigger cap counts only that trigger',
    policy: { caps: [{ max: 1, windowMs: 24 * hour, triggerId: 'cart' }] },
    input: { history: [{ at: noon - hour, channel: 'push', triggerId: 'cart' }] },
    expect: 'drop capped',
  },
  {
    name: 'transactional messages are not capped',
    policy: { caps: [{ max: 0, windowMs: hour }] },
    input: { topic: 'transactional' },
    expect: { action: 'send' },
  },
  {
    name: 'quiet hours 21:00-08:00 at 22:00 Berlin: deferred to 08:00',
    policy: { quietHours: { from: '21:00', to: '08:00', action: 'defer' } },
    input: { now: Date.UTC(2026, 5, 1, 20, 0) },
    expect: { action: 'defer', until: Date.UTC(2026, 5, 2, 6, 0), reason: 'quiet_hours' },
  },
  {
    name: 'quiet hours at 07:59 Berlin: deferred a minute',
    policy: { quietHours: { from: '21:00', to: '08:00', action: 'defer' } },
    input: { now: Date.UTC(2026, 5, 1, 5, 59) },
    expect: { action: 'defer', until: Date.UTC(2026, 5, 1, 6, 0), reason: 'quiet_hours' },
  },
  { name: 'quiet hours end at 08:00 sharp', policy: { quietHours: { from: '21:00', to: '08:00', action: 'defer' } }, input: { now: Date.UTC(2026, 5, 1, 6, 0) }, expect: { action: 'send' } },
  { name: 'quiet hours start at 21:00 sharp', policy: { quietHours: { from: '21:00', to: '08:00', action: 'drop' } }, input: { now: Date.UTC(2026, 5, 1, 19, 0) }, expect: 'drop quiet_hours' },
  { name: 'noon is not quiet', policy: { quietHours: { from: '21:00', to: '08:00', action: 'drop' } }, input: {}, expect: { action: 'send' } },
  {
    name: 'quiet hours apply only to their channels',
    policy: { quietHours: { from: '21:00', to: '08:00', channels: ['push', 'sms'], action: 'drop' } },
    input: { channel: 'email', now: Date.UTC(2026, 5, 1, 20, 0) },
    expect: { action: 'send' },
  },
  {
    name: "the user's zone decides: 22:00 UTC is 18:00 in New York",
    policy: { quietHours: { from: '21:00', to: '08:00', action: 'drop' } },
    input: { timezone: 'America/New_York', now: Date.UTC(2026, 5, 1, 22, 0) },
    expect: { action: 'send' },
  },
  {
    name: 'quiet hours across the spring DST change end at 08:00 local (06:00 UTC)',
    policy: { quietHours: { from: '21:00', to: '08:00', action: 'defer' } },
    input: { now: Date.UTC(2026, 2, 28, 21, 0) },
    expect: { action: 'defer', until: Date.UTC(2026, 2, 29, 6, 0), reason: 'quiet_hours' },
  },
  {
    name: 'a daytime quiet window (12:00-14:00) that does not span midnight',
    policy: { quietHours: { from: '12:00', to: '14:00', action: 'defer' } },
    input: { now: noon + 30 * minute },
    expect: { action: 'defer', until: noon + 2 * hour, reason: 'quiet_hours' },
  },
  {
    name: 'no consent comes before caps and quiet hours',
    policy: { caps: [{ max: 0, windowMs: hour }], quietHours: { from: '00:00', to: '23:59', action: 'defer' } },
    input: { consent: { push: false } },
    expect: 'drop no_consent',
  },
];

for (const row of rows) {
  test(row.name, () => {
    const decision = decideDelivery({ ...base, ...row.input }, { ...none, ...row.policy });
    if (typeof row.expect === 'string') {
      const [action, reason] = row.expect.split(' ');
      assert.equal(decision.action, action);
      assert.equal((decision as { reason: string }).reason, reason);
    } else assert.deepEqual(decision, row.expect);
  });
}

test('within a batch, higher priority first, then the earlier due', () => {
  const ordered = orderForCaps([
    { id: 'a', priority: 50, at: 2 },
    { id: 'b', priority: 90, at: 3 },
    { id: 'c', priority: 50, at: 1 },
  ]);
  assert.deepEqual(ordered.map((m) => m.id), ['b', 'c', 'a']);
});

test("the user's preferred channel goes first when it is one of the step's; otherwise the step's order", () => {
  assert.deepEqual(preferredFirst(['push', 'email', 'sms'], 'sms'), ['sms', 'push', 'email']);
  assert.deepEqual(preferredFirst(['push', 'email'], 'in_app'), ['push', 'email'], 'not one of them: unchanged');
  assert.deepEqual(preferredFirst(['push', 'email'], 42), ['push', 'email']);
  assert.deepEqual(preferredFirst(['push', 'email'], undefined), ['push', 'email']);
});
