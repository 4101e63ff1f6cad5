/**
 * Trigger conditions on the behavioral phase, with the demo shop's phase rules, through the pure
 * core on a simulated clock: an entry condition sees the phase right after its event; a condition
 * at a later step sees the phase as it is when the step runs, moved on by the time passed (the
 * profile a timer input carries, see the harness's `profileNow`).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parseConfig } from '../../../src/config/config.js';
import { describeSend, Harness, m, s, triggerFrom, type Ev } from './harness.js';

const shopFile = new URL('../../../examples/shop/nudge.yaml', import.meta.url);
const profileOptions = parseConfig(readFileSync(shopFile, 'utf8'), 'nudge.yaml').profiles;

/** Two minutes after the payment step, a chat invitation if the user is hesitating by then. */
const stuckAtPayment = triggerFrom(`
id: stuck-at-payment
entry:
  event: checkout_step_viewed
  when: event.properties.step == "payment"
steps:
  - wait: 2m
  - branch:
      - when: user.computed.phase == "hesitating"
        steps:
          - send: in_app
            template: live-chat-invitation
`);

/** Help asked for while hesitating. */
const helpWhileHesitating = triggerFrom(`
id: help-while-hesitating
entry:
  event: help_clicked
  when: user.computed.phase == "hesitating"
reentry: always
steps:
  - send: in_app
    template: help-offer
`);

function sendsOf(events: readonly Ev[], until: number): string[] {
  const harness = new Harness({ triggers: [stuckAtPayment, helpWhileHesitating], profileOptions, roundTrip: true });
  for (const ev of events) harness.submit(ev);
  harness.advanceTo(until);
  return harness.takeSends().map((x) => describeSend(x, harness.origin));
}

const cart: Ev = { user: 'ann', name: 'cart_updated', t: 0, props: { item_count: 1 } };
const payment: Ev = { user: 'ann', name: 'checkout_step_viewed', t: 1 * m, props: { step: 'payment' } };

describe('triggers: conditions on the phase', () => {
  test('a user still on the payment step 2 minutes later is hesitating when the wait ends, with no event to show it', () => {
    assert.deepEqual(sendsOf([cart, payment], 10 * m), ['3m ann in_app live-chat-invitation']);
  });

  test('a user who paid in time is not', () => {
    assert.deepEqual(sendsOf([cart, payment, { user: 'ann', name: 'payment_submitted', t: 2 * m }], 10 * m), []);
  });

  test('an entry condition sees the phase right after its event: help is offered only once the user hesitates', () => {
    const help = (t: number): Ev => ({ user: 'ann', name: 'help_clicked', t });
    assert.deepEqual(sendsOf([cart, payment, help(2 * m), help(3 * m - 1), help(3 * m), help(3 * m + 30 * s)], 10 * m), [
      '3m ann in_app live-chat-invitation',
      '3m ann in_app help-offer',
      '3m30s ann in_app help-offer',
    ]);
  });

  test('the stored phase lags until the next event; the timer input carries the phase moved on', () => {
    const harness = new Harness({ triggers: [stuckAtPayment], profileOptions });
    harness.submit(cart);
    harness.submit(payment);
    harness.advanceTo(10 * m);
    assert.equal(harness.profile('ann')?.computed.phase, 'considering');
    assert.deepEqual(harness.takeSends().map((x) => describeSend(x, harness.origin)), ['3m ann in_app live-chat-invitation']);
  });
});
