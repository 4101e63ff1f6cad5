/**
 * `phases:` and `profiles.latest` in nudge.yaml: compiled once at load, every problem located at
 * `file:line:column: field`, inside a condition's text where it lies there.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/core/errors.js';

const valid = `workspaces:
  - id: shop
    writeKeys: [a-long-write-key]
admin:
  keys: [a-long-admin-key]
`;

function issuesOf(text: string): string[] {
  try {
    parseConfig(text, 'nudge.yaml');
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.issues.map((i) => `${i.path}: ${i.message}`);
  }
  assert.fail('expected a ConfigError');
}

test('without phases and latest values: none, and profiles are folded as before', () => {
  const c = parseConfig(valid, 'nudge.yaml');
  assert.equal(c.profiles.phases, null);
  assert.deepEqual(c.profiles.latest, []);
});

test('phases compile in order, the last the fallback; latest values get their defaults', () => {
  const c = parseConfig(
    `${valid}profiles:
  latest:
    cart_items: { event: cart_updated, property: item_count, clearedBy: [order_completed] }
    plan: { event: $identify, property: plan }
phases:
  - name: idle
    when: now - user.computed.lastSeenAt >= duration("30m")
  - name: known
    when: user.userId != null
  - name: visitor
`,
    'nudge.yaml',
  );
  assert.deepEqual(c.profiles.phases?.rules.map((r) => [r.name, r.when.source]), [
    ['idle', 'now - user.computed.lastSeenAt >= duration("30m")'],
    ['known', 'user.userId != null'],
  ]);
  assert.equal(c.profiles.phases?.fallback, 'visitor');
  assert.equal(c.profiles.phases?.timed, true);
  assert.deepEqual(c.profiles.latest, [
    { name: 'cart_items', event: 'cart_updated', property: 'item_count', clearedBy: ['order_completed'] },
    { name: 'plan', event: '$identify', property: 'plan', clearedBy: [] },
  ]);
});

test('every problem is located: inside a condition, at a phase, at a name', () => {
  const issues = issuesOf(`${valid}phases:
  - name: idle
    when: now - user.computed.lastSeenAt >= duration("30 minutes")
  - name: reading
    when: "event.name == 'x'"
  - name: stuck
    when: |
      user.computed.eventCount > 1 &&
        now - user.computed.lastSeenAt > "x" * 2
  - name: idle
  - name: last
    when: "true"
profiles:
  latest:
    Cart: { event: cart_updated, property: item_count }
`);
  assert.deepEqual(issues, [
    'nudge.yaml:20:5: profiles.latest.Cart: a name is lower-case letters, digits and _, starting with a letter',
    'nudge.yaml:8:45: phases[0].when: duration() expects a string such as "90s", "3m", "1h30m" or "7d", got "30 minutes"',
    'nudge.yaml:10:12: phases[1].when: a phase rule reads `user` and `now` only, not `event`: a phase must be known at any time, also between events',
    'nudge.yaml:14:46: phases[2].when: no such overload: string * number',
    'nudge.yaml:15:11: phases[3].name: phase "idle" is named twice',
    'nudge.yaml:15:5: phases[3]: needs `when`: only the last phase, the fallback, has none',
    'nudge.yaml:17:11: phases[4].when: the last phase is the fallback, taken when no other holds: give it no `when` (add one without it after this)',
  ]);
});

test('the schema refuses a phase without a name and unknown keys', () => {
  const issues = issuesOf(`${valid}phases:\n  - when: "true"\n  - name: rest\n    after: 5m\n`);
  assert.ok(issues.some((i) => /^nudge\.yaml:7:5: phases\[0\]: must have required property 'name'/.test(i)), issues.join('\n'));
  assert.ok(issues.some((i) => /^nudge\.yaml:9:5: phases\[1\]\.after: unknown option/.test(i)), issues.join('\n'));
});

test("the demo shop's phases load", () => {
  const file = new URL('../../examples/shop/nudge.yaml', import.meta.url);
  const c = parseConfig(readFileSync(file, 'utf8'), 'examples/shop/nudge.yaml');
  assert.deepEqual([...(c.profiles.phases?.rules.map((r) => r.name) ?? []), c.profiles.phases?.fallback], ['disengaged', 'hesitating', 'considering', 'exploring']);
  assert.deepEqual(c.profiles.latest.map((l) => l.name), ['cart_items', 'checkout_step', 'viewed_price']);
});
