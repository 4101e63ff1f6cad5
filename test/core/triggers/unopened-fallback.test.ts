/**
 * `fallback_if_unopened` apart from the scenario tables (scenarios.test.ts): what the file format
 * accepts and refuses, what the fallback message carries, when the catalog lets open and click
 * events through, and that a timer handed back or a state stored before the option existed does
 * no harm.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseTrigger } from '../../../src/config/triggers.js';
import { buildCatalog, openedEvents } from '../../../src/core/triggers/catalog.js';
import type { TriggerState } from '../../../src/core/triggers/state.js';
import { runIdOf, stepKeyOf, timerIdOf, transition, unopenedKeyOf } from '../../../src/core/triggers/transition.js';
import { MessageEvent } from '../../../src/engine/message-events.js';
import { h, Harness, m, T0, triggerFrom } from './harness.js';

/** A trigger file whose one step is `hello`, with the given lines (indented) after its id. */
const yaml = (send: string) => `
id: welcome
entry:
  event: signed_up
steps:
  - id: hello
${send}
`;

const welcome = triggerFrom(
  yaml(`    send: push
    template: welcome
    topic: onboarding
    fallback: [email, sms]
    fallback_if_unopened: 2h`),
);

describe('fallback_if_unopened in a trigger file', () => {
  test('is accepted with a fallback, and compiles to the channels after the step\'s own', () => {
    const node = welcome.nodes.get('hello');
    assert.equal(node?.kind, 'send');
    assert.deepEqual(node.kind === 'send' && node.unopenedFallback, { afterMs: 2 * h, channels: ['email', 'sms'] });
    const own = triggerFrom(yaml(`    send: push\n    template: welcome\n    fallback: [push, email]\n    fallback_if_unopened: 1h`)).nodes.get('hello');
    assert.deepEqual(own?.kind === 'send' && own.unopenedFallback, { afterMs: 1 * h, channels: ['email'] });
  });

  test('without a fallback it is refused, naming the step and the missing field', () => {
    const { trigger, issues } = parseTrigger(yaml(`    send: push\n    template: welcome\n    fallback_if_unopened: 1h`), 'welcome.yaml');
    assert.equal(trigger, null);
    assert.deepEqual(issues, [{ path: 'welcome.yaml:6:5: steps[0]', message: "must have required property 'fallback'" }]);
  });

  test('with an empty fallback it is refused, naming the field', () => {
    const { issues } = parseTrigger(yaml(`    send: push\n    template: welcome\n    fallback: []\n    fallback_if_unopened: 1h`), 'welcome.yaml');
    assert.deepEqual(issues, [{ path: 'welcome.yaml:9:15: steps[0].fallback', message: 'must NOT have fewer than 1 items' }]);
  });

  test('takes a duration', () => {
    const { issues } = parseTrigger(yaml(`    send: push\n    template: welcome\n    fallback: [email]\n    fallback_if_unopened: soon`), 'welcome.yaml');
    assert.equal(issues.length, 1);
    assert.match(`${issues[0]!.path}: ${issues[0]!.message}`, /^welcome\.yaml:10:27: steps\[0\]\.fallback_if_unopened: must match pattern/);
  });
});

describe('the catalog and open events', () => {
  test('opens and clicks concern the engine only while some version, current or retained, has an unopened fallback', () => {
    const plain = triggerFrom(yaml(`    send: push\n    template: welcome\n    fallback: [email]`));
    assert.deepEqual([...openedEvents].sort(), [MessageEvent.clicked, MessageEvent.opened].sort(), 'the names the timeline uses');
    assert.equal(buildCatalog([plain]).concerns(MessageEvent.opened), false);
    assert.equal(buildCatalog([welcome]).concerns(MessageEvent.opened), true);
    assert.equal(buildCatalog([welcome]).concerns(MessageEvent.clicked), true);
    assert.equal(buildCatalog([plain], [welcome]).concerns(MessageEvent.opened), true);
    assert.equal(buildCatalog([welcome]).concerns(MessageEvent.dismissed), false);
  });
});

describe('the unopened fallback message', () => {
  const sentAndDelivered = () => {
    const harness = new Harness({ triggers: [welcome], roundTrip: true });
    harness.submit({ user: 'ann', name: 'signed_up', t: 0, id: 's1' });
    const [push] = harness.takeSends();
    assert.ok(push);
    harness.deliver(push.message, 'delivered:push', 1 * m);
    return { harness, push: push.message };
  };

  test('is the same message on the next channel, the rest as its fallbacks, under a key of its own, due at the deadline', () => {
    const { harness, push } = sentAndDelivered();
    harness.advanceTo(2 * h + 1 * m);
    const [fallback] = harness.takeSends();
    assert.ok(fallback);
    const runId = runIdOf('welcome', 's1');
    assert.equal(push.key, stepKeyOf({ workspaceId: 'w1' }, 'ann', runId, 'hello'));
    assert.deepEqual(fallback.message, {
      ...push,
      key: unopenedKeyOf({ workspaceId: 'w1' }, 'ann', runId, 'hello'),
      channel: 'email',
      fallback: ['sms'],
      at: T0 + 2 * h + 1 * m,
    });
    assert.equal(fallback.message.key, `${push.key}:unopened`);
  });

  test('its timer handed back again (at-least-once) sends nothing more', () => {
    const { harness } = sentAndDelivered();
    harness.advanceTo(3 * h);
    assert.equal(harness.takeSends().length, 1);
    const timerId = timerIdOf(T0, unopenedKeyOf({ workspaceId: 'w1' }, 'ann', runIdOf('welcome', 's1'), 'hello'));
    assert.deepEqual(harness.redeliver(timerId), []);
  });

  test('a cancelled timer handed back sends nothing', () => {
    const { harness, push } = sentAndDelivered();
    harness.submit({ user: 'ann', name: MessageEvent.opened, t: 30 * m + 1 * m, props: { messageKey: push.key } });
    const timerId = timerIdOf(T0, unopenedKeyOf({ workspaceId: 'w1' }, 'ann', runIdOf('welcome', 's1'), 'hello'));
    assert.equal(harness.timers.get(timerId)?.cancelled, 1);
    assert.deepEqual(harness.redeliver(timerId), []);
    harness.advanceTo(1 * 24 * h);
    assert.deepEqual(harness.takeSends(), []);
  });
});

test("a report that comes after the visitor merged into a signed-up profile arms the watch there", () => {
  const harness = new Harness({ triggers: [welcome], roundTrip: true });
  harness.submit({ user: 'visitor', name: 'signed_up', t: 0, id: 's1' });
  const [push] = harness.takeSends();
  assert.ok(push);
  harness.merge('visitor', 'ann');
  harness.deliver(push.message, 'delivered:push', 1 * m);
  harness.advanceTo(2 * h + 1 * m);
  const sent = harness.takeSends();
  assert.deepEqual(sent.map((s) => [s.message.channel, s.message.key]), [['email', unopenedKeyOf({ workspaceId: 'w1' }, 'ann', runIdOf('welcome', 's1'), 'hello')]], 'the email fallback, once, at the deadline');
});

test('a state stored before unopened watches existed is read as having none', () => {
  const stored = { runs: {}, lastEntryAt: {}, lastEntryIds: {}, goalWatches: {}, recent: [], timezone: null } as unknown as TriggerState;
  const context = { now: T0, workspaceId: 'w1', profileId: 'ann', catalog: buildCatalog([welcome]) };
  const event = { workspaceId: 'w1', messageId: 'o1', type: 'track' as const, name: MessageEvent.opened, userId: 'ann', anonymousId: null, previousId: null, groupId: null, properties: { messageKey: 'x' }, traits: {}, context: {}, timestamp: T0, receivedAt: T0 };
  assert.deepEqual(transition(stored, { type: 'event', event, user: null }, context), { state: null, effects: [] });
  assert.deepEqual(transition(null, { type: 'merge', fromProfileId: 'anon', from: stored }, context), { state: null, effects: [] });
});
