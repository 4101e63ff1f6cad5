/**
 * The product's trigger scenarios (PRODUCT.md: 1, 3, 4, 5, 10 and 13) driven through the pure core
 * on a simulated clock, as tables: each row is a list of steps (events arrive, time moves, profiles
 * merge, the catalog is rebuilt, the dispatcher reports a delivery, the user opens a message) and
 * expectations on what was sent since the previous expectation. A send is written `<due> <user> <channel> <template>`, with `(sent <when>)` when it
 * went out later than it was due; times are after the row's origin (`1d10m` = 24h10m).
 *
 * Every row runs twice: once as written, and once with the trigger state written through
 * JSON.stringify/parse between inputs (a store and a restart in between), which must send exactly
 * the same messages. After its last step, a row is run on for 100 days: whatever it did not expect
 * must not be sent.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyEvent, defaultProfileOptions, draftOf, emptyProfile, type Profile } from '../../../src/core/profile.js';
import type { TriggerProgram } from '../../../src/core/triggers/program.js';
import { runIdOf } from '../../../src/core/triggers/transition.js';
import { MessageEvent } from '../../../src/engine/message-events.js';
import { d, describeRecord, describeSend, exampleText, exampleTrigger, fmt, h, Harness, m, s, T0, triggerFrom, type Ev, type Sent } from './harness.js';

const inactivity = exampleTrigger('product-page-inactivity');
const hesitation = exampleTrigger('payment-hesitation');
const cart = exampleTrigger('abandoned-cart');
const tenth = exampleTrigger('tenth-purchase');

/** wait_for after a wait, with its own lookback; both outcomes; a branch on the entry event; a goal. */
const followUp = triggerFrom(`
id: follow-up
entry:
  event: trial_started
reentry: always
exit_on:
  - event: account_closed
goal:
  event: order_completed
  within: 72h
steps:
  - wait: 1m
  - wait_for:
      - event: upgraded
    timeout: 2m
    lookback: 30s
    on_event:
      - send: email
        template: thanks
    on_timeout:
      - branch:
          - when: event.properties.plan == "pro"
            steps:
              - send: email
                template: pro-reminder
          - else:
              - send: email
                template: reminder
`);

/** abandoned-cart as edited after runs started: a longer wait before the push and a new template. */
const cartEdited = triggerFrom(
  exampleText('abandoned-cart').replace('- wait: 10m', '- wait: 20m').replace('template: cart-push-with-code', 'template: cart-push-v2'),
  'abandoned-cart.yaml',
);

/** Scenario 13 with the push's unopened fallback: email when the push is not opened within an hour of its delivery. */
const cartUnopened = triggerFrom(exampleText('abandoned-cart').replace('fallback: [email, in_app]', 'fallback: [email]\n    fallback_if_unopened: 1h'), 'abandoned-cart.yaml');

/** Its send is the last step (the run completes at once) and has two fallbacks; purchases end it. */
const browse = triggerFrom(`
id: browse-push
entry:
  event: page
  when: event.properties.page_type == "product"
reentry: always
exit_on:
  - event: order_completed
steps:
  - wait: 3m
  - id: push
    send: push
    template: product-reminder
    fallback: [email, sms]
    fallback_if_unopened: 30m
`);

type Step =
  | { submit: Ev | Ev[]; user?: Profile | null }
  | { advanceTo: number }
  | { merge: { from: string; to: string } }
  | { catalog: TriggerProgram[]; retained?: TriggerProgram[] }
  /** The dispatcher reports on the last message whose key ends in `/<deliver>` (a step id, or `<step id>:unopened`). */
  | { deliver: string; outcome: string; at: number }
  /** `user` opens (or clicks) that message, at `t`; without `fire`, before the timers due by then. */
  | { open: string; t: number; user?: string; clicked?: boolean; fire?: boolean }
  | { expect: Expectation };

interface Expectation {
  /** Every send since the previous expectation, in order. Left out: none. */
  sends?: string[];
  /** Every record since the previous expectation, in order (not checked when left out). */
  records?: string[];
  /** Pending timers as `<due> <user>/<run>/<step>`, their ids without the workspace (not checked when left out). */
  timers?: string[];
  /** Profiles that must hold no trigger state at all. */
  noState?: string[];
}

interface Row {
  name: string;
  triggers: TriggerProgram[];
  steps: Step[];
}

// Event builders; `user` defaults to ann.
const ev = (name: string, t: number, more: Partial<Ev> = {}): Ev => ({ user: 'ann', name, t, ...more });
const productPage = (t: number, more: Partial<Ev> = {}): Ev => ev('page', t, { props: { page_type: 'product', path: '/p/shoe' }, ...more });
const otherPage = (t: number, more: Partial<Ev> = {}): Ev => ev('page', t, { props: { page_type: 'category', path: '/c/shoes' }, ...more });
const paymentStep = (t: number, more: Partial<Ev> = {}): Ev => ev('checkout_step_viewed', t, { props: { step: 'payment' }, ...more });
const cartUpdated = (t: number, items: number, more: Partial<Ev> = {}): Ev => ev('cart_updated', t, { props: { item_count: items }, ...more });
const order = (t: number, more: Partial<Ev> = {}): Ev => ev('order_completed', t, { props: { revenue: 40 }, ...more });

const at = (t: number): Step => ({ advanceTo: t });
const deliver = (message: string, outcome: string, t: number): Step => ({ deliver: message, outcome, at: t });
const open = (message: string, t: number, more: Partial<Extract<Step, { open: string }>> = {}): Step => ({ open: message, t, ...more });
/** What the cart sends by its push (in-app at once, the push at 10m). */
const pushed = ['0 ann in_app cart-reminder', '10m ann push cart-push-with-code'];
const submit = (...events: Ev[]): Step => ({ submit: events });
const expectSends = (...sends: string[]): Step => ({ expect: { sends } });
const expectNothing: Step = { expect: { sends: [] } };

/** A profile whose order count is `n`, as a replay after a crash may show it (trigger-engine.ts). */
function profileWithOrders(user: string, n: number): Profile {
  const p = draftOf(emptyProfile('w1', user, T0));
  for (let i = 0; i < n; i++) {
    applyEvent(
      p,
      { workspaceId: 'w1', messageId: `x${i}`, type: 'track', name: 'order_completed', userId: user, anonymousId: null, previousId: null, groupId: null, properties: {}, traits: {}, context: {}, timestamp: T0 + i, receivedAt: T0 + i },
      defaultProfileOptions,
    );
  }
  return p;
}

const rows: Row[] = [
  // Scenario 1: a push exactly 3 minutes after a product page, unless the user adds to cart or moves on.
  {
    name: 'inactivity: the push goes out exactly 3 minutes after the product page, not a millisecond earlier',
    triggers: [inactivity],
    steps: [
      submit(productPage(0)),
      at(3 * m - 1),
      { expect: { sends: [], records: ['0 ann entered product-page-inactivity'], timers: ['3m ann/product-page-inactivity:1/0'] } },
      at(3 * m),
      { expect: { sends: ['3m ann push product-reminder'], records: ['3m ann completed product-page-inactivity'], timers: [] } },
    ],
  },
  {
    name: 'inactivity: product_added 1 ms before the due time prevents the push',
    triggers: [inactivity],
    steps: [submit(productPage(0), ev('product_added', 3 * m - 1)), { expect: { sends: [], timers: [] } }, at(1 * d), expectNothing],
  },
  {
    name: 'inactivity: product_added 1 ms after the due time comes too late',
    triggers: [inactivity],
    steps: [submit(productPage(0), ev('product_added', 3 * m + 1)), expectSends('3m ann push product-reminder')],
  },
  {
    name: 'inactivity: another page within 3 minutes means the user did not leave; no push',
    triggers: [inactivity],
    steps: [submit(productPage(0), otherPage(2 * m)), at(1 * d), expectNothing],
  },
  {
    // The re-entry cooldown counts from the start of the previous run, even one that ended without
    // a send: the second product page starts no run of its own (see the report on this rule).
    name: 'inactivity: a second product page ends the first run without a push and starts its own: the push is 3m after the last page',
    triggers: [inactivity],
    steps: [
      submit(productPage(0), productPage(1 * m)),
      at(1 * d),
      {
        expect: {
          sends: ['4m ann push product-reminder'],
          records: [
            '0 ann entered product-page-inactivity',
            '1m ann completed product-page-inactivity',
            '1m ann entered product-page-inactivity',
            '4m ann completed product-page-inactivity',
          ],
        },
      },
    ],
  },
  {
    name: 'inactivity: only product pages start a run',
    triggers: [inactivity],
    steps: [submit(otherPage(0)), at(1 * h), { expect: { sends: [], records: [], timers: [] } }],
  },
  {
    name: 'inactivity: a page view that arrives a minute late is due two minutes after it arrives',
    triggers: [inactivity],
    steps: [submit(productPage(0, { arrives: 1 * m })), { expect: { sends: [], timers: ['3m ann/product-page-inactivity:1/0'] } }, at(3 * m), expectSends('3m ann push product-reminder')],
  },
  {
    name: 'inactivity: a page view that arrives after its 3 minutes are over is followed up at once',
    triggers: [inactivity],
    steps: [submit(productPage(0, { arrives: 5 * m })), expectSends('3m ann push product-reminder (sent 5m)')],
  },
  {
    name: 'inactivity: product_added that overtook the page view in transit still counts',
    triggers: [inactivity],
    steps: [submit(ev('product_added', 1 * m), productPage(0, { arrives: 1 * m + 1 })), { expect: { sends: [], timers: [] } }, at(1 * d), expectNothing],
  },
  {
    name: 'inactivity: the product page view delivered twice does not end its own wait',
    triggers: [inactivity],
    steps: [submit(productPage(0, { id: 'p1' }), productPage(0, { id: 'p1', arrives: 1 * m })), { expect: { sends: [], records: ['0 ann entered product-page-inactivity'] } }, at(3 * m), expectSends('3m ann push product-reminder')],
  },
  {
    name: 'inactivity: users are independent',
    triggers: [inactivity],
    steps: [
      submit(productPage(0), productPage(1 * m, { user: 'bob' }), ev('product_added', 2 * m)),
      at(3 * m),
      expectNothing,
      at(4 * m),
      expectSends('4m bob push product-reminder'),
    ],
  },

  // Scenario 3: on the payment step for over 2 minutes without submitting.
  {
    name: 'hesitation: a first-time buyer gets the discount in-app at entry + 2m',
    triggers: [hesitation],
    steps: [submit(paymentStep(0)), at(2 * m - 1), expectNothing, at(2 * m), expectSends('2m ann in_app first-order-discount')],
  },
  {
    name: 'hesitation: a returning customer (orders in the profile) gets the live-chat invitation',
    triggers: [hesitation],
    steps: [submit(order(0), order(1 * h), paymentStep(1 * d)), at(1 * d + 2 * m), expectSends('1d2m ann in_app live-chat-invitation')],
  },
  {
    name: 'hesitation: the branch reads each user\'s own profile',
    triggers: [hesitation],
    steps: [
      submit(order(0, { user: 'bob' }), paymentStep(1 * h), paymentStep(1 * h, { user: 'bob' })),
      at(1 * h + 2 * m),
      expectSends('1h2m ann in_app first-order-discount', '1h2m bob in_app live-chat-invitation'),
    ],
  },
  {
    name: 'hesitation: payment_submitted 1 ms before the 2 minutes are up: nothing is sent',
    triggers: [hesitation],
    steps: [submit(paymentStep(0), ev('payment_submitted', 2 * m - 1)), { expect: { sends: [], timers: [] } }, at(1 * d), expectNothing],
  },
  {
    name: 'hesitation: payment_submitted 1 ms after the 2 minutes: the message went out at 2m',
    triggers: [hesitation],
    steps: [submit(paymentStep(0), ev('payment_submitted', 2 * m + 1)), expectSends('2m ann in_app first-order-discount')],
  },
  {
    name: 'hesitation: payment_submitted that arrived before the checkout event (timestamp after it) counts',
    triggers: [hesitation],
    steps: [
      submit(ev('payment_submitted', 1 * s), paymentStep(0, { arrives: 3 * s })),
      { expect: { sends: [], timers: [], records: ['0 ann entered payment-hesitation', '1s ann completed payment-hesitation'] } },
      at(1 * d),
      expectNothing,
    ],
  },
  {
    // Submitted before the payment step was even viewed: an earlier attempt, not this one.
    name: 'hesitation: payment_submitted from before the payment step does not end the wait',
    triggers: [hesitation],
    steps: [submit(ev('payment_submitted', 9 * s), paymentStep(10 * s)), at(2 * m + 10 * s), expectSends('2m10s ann in_app first-order-discount')],
  },
  {
    name: 'hesitation: another checkout step starts nothing',
    triggers: [hesitation],
    steps: [submit(ev('checkout_step_viewed', 0, { props: { step: 'shipping' } })), at(1 * h), { expect: { sends: [], records: [], timers: [], noState: ['ann'] } }],
  },
  {
    name: 'hesitation: an order during the wait ends the run',
    triggers: [hesitation],
    steps: [
      submit(paymentStep(0), order(1 * m)),
      { expect: { sends: [], timers: [], records: ['0 ann entered payment-hesitation', '1m ann exited payment-hesitation exit_on'] } },
      at(1 * d),
      expectNothing,
    ],
  },
  {
    name: 'hesitation: re-entry only after the 1h cooldown',
    triggers: [hesitation],
    steps: [
      submit(paymentStep(0)),
      at(2 * m),
      expectSends('2m ann in_app first-order-discount'),
      submit(paymentStep(30 * m), paymentStep(1 * h - 1)),
      { expect: { sends: [], records: [], timers: [] } },
      submit(paymentStep(1 * h)),
      at(1 * h + 2 * m),
      expectSends('1h2m ann in_app first-order-discount'),
    ],
  },

  // Scenarios 4 and 5: in-app at once, push after 10m, email after 24h more; a purchase stops it all.
  {
    name: 'cart: in-app at once, push at +10m, email at +24h10m, each exactly on time',
    triggers: [cart],
    steps: [
      submit(cartUpdated(0, 2)),
      { expect: { sends: ['0 ann in_app cart-reminder'], records: ['0 ann entered abandoned-cart'], timers: ['10m ann/abandoned-cart:1/1'] } },
      at(10 * m - 1),
      expectNothing,
      at(10 * m),
      { expect: { sends: ['10m ann push cart-push-with-code'], timers: ['1d10m ann/abandoned-cart:1/3'] } },
      at(1 * d + 10 * m - 1),
      expectNothing,
      at(1 * d + 10 * m),
      { expect: { sends: ['1d10m ann email cart-email'], records: ['1d10m ann completed abandoned-cart'], timers: [] } },
    ],
  },
  {
    name: 'cart: an order 1 ms before the push is due stops the push and the email',
    triggers: [cart],
    steps: [
      submit(cartUpdated(0, 2), order(10 * m - 1)),
      { expect: { sends: ['0 ann in_app cart-reminder'], records: ['0 ann entered abandoned-cart', '9m59s999ms ann goal abandoned-cart', '9m59s999ms ann exited abandoned-cart exit_on'], timers: [] } },
    ],
  },
  {
    name: 'cart: an order 1 ms after the push stops only the email',
    triggers: [cart],
    steps: [
      submit(cartUpdated(0, 2), order(10 * m + 1)),
      { expect: { sends: ['0 ann in_app cart-reminder', '10m ann push cart-push-with-code'], timers: [] } },
    ],
  },
  {
    name: 'cart: an order stamped the same millisecond as the cart event ends the run',
    triggers: [cart],
    steps: [submit(cartUpdated(0, 2), order(0, { arrives: 1 })), { expect: { sends: ['0 ann in_app cart-reminder'], records: ['0 ann entered abandoned-cart', '0 ann goal abandoned-cart', '0 ann exited abandoned-cart exit_on'], timers: [] } }],
  },
  {
    name: 'cart: an emptied cart is no longer abandoned; nothing more is sent and no goal is counted',
    triggers: [cart],
    steps: [
      submit(cartUpdated(0, 2), cartUpdated(5 * m, 0)),
      { expect: { sends: ['0 ann in_app cart-reminder'], records: ['0 ann entered abandoned-cart', '5m ann exited abandoned-cart exit_on'], timers: [] } },
      submit(order(1 * h)),
      { expect: { sends: [], records: [] } },
    ],
  },
  {
    name: 'cart: more items while the run is in flight neither restart nor repeat it',
    triggers: [cart],
    steps: [submit(cartUpdated(0, 2), cartUpdated(2 * m, 5)), { expect: { sends: ['0 ann in_app cart-reminder'], timers: ['10m ann/abandoned-cart:1/1'] } }, at(10 * m), expectSends('10m ann push cart-push-with-code'), at(2 * d), expectSends('1d10m ann email cart-email')],
  },
  {
    name: 'cart: the goal counts after the steps ended, within 72h of entry',
    triggers: [cart],
    steps: [
      submit(cartUpdated(0, 2)),
      at(2 * d),
      expectSends('0 ann in_app cart-reminder', '10m ann push cart-push-with-code', '1d10m ann email cart-email'),
      submit(order(2 * d)),
      { expect: { records: ['2d ann goal abandoned-cart'] } },
      submit(order(2 * d + 1 * h)),
      { expect: { records: [] } },
    ],
  },
  {
    name: 'cart: an order exactly 72h after entry is a conversion',
    triggers: [cart],
    steps: [submit(cartUpdated(0, 2)), at(3 * d), { expect: { sends: ['0 ann in_app cart-reminder', '10m ann push cart-push-with-code', '1d10m ann email cart-email'] } }, submit(order(3 * d)), { expect: { records: ['3d ann goal abandoned-cart'] } }],
  },
  {
    name: 'cart: an order 72h + 1 ms after entry is not',
    triggers: [cart],
    steps: [
      submit(cartUpdated(0, 2)),
      at(3 * d),
      { expect: { sends: ['0 ann in_app cart-reminder', '10m ann push cart-push-with-code', '1d10m ann email cart-email'] } },
      submit(order(3 * d + 1)),
      { expect: { records: [] } },
    ],
  },
  {
    name: 'cart: re-entry is blocked for 24h after the run started, then allowed',
    triggers: [cart],
    steps: [
      submit(cartUpdated(0, 2), cartUpdated(5 * m, 0)),
      expectSends('0 ann in_app cart-reminder'),
      submit(cartUpdated(1 * d - 1, 1)),
      { expect: { sends: [], records: [], timers: [] } },
      submit(cartUpdated(1 * d, 1)),
      { expect: { sends: ['1d ann in_app cart-reminder'], records: ['1d ann entered abandoned-cart'] } },
      at(1 * d + 10 * m),
      expectSends('1d10m ann push cart-push-with-code'),
      at(3 * d),
      expectSends('2d10m ann email cart-email'),
    ],
  },
  {
    name: 'cart: a purchase blocks re-entry for the rest of the 24h too',
    triggers: [cart],
    steps: [submit(cartUpdated(0, 2), order(20 * m), cartUpdated(2 * h, 1)), at(1 * d), expectSends('0 ann in_app cart-reminder', '10m ann push cart-push-with-code')],
  },
  {
    name: 'cart: the same event delivered twice (same messageId) counts once',
    triggers: [cart],
    steps: [
      submit(cartUpdated(0, 2, { id: 'c1' }), cartUpdated(0, 2, { id: 'c1', arrives: 1 * m })),
      { expect: { sends: ['0 ann in_app cart-reminder'], records: ['0 ann entered abandoned-cart'], timers: ['10m ann/abandoned-cart:1/1'] } },
      submit(order(15 * m, { id: 'o1' }), order(15 * m, { id: 'o1', arrives: 16 * m })),
      { expect: { sends: ['10m ann push cart-push-with-code'], records: ['15m ann goal abandoned-cart', '15m ann exited abandoned-cart exit_on'], timers: [] } },
      submit(cartUpdated(0, 2, { id: 'c1', arrives: 30 * m })),
      { expect: { sends: [], records: [], timers: [] } },
    ],
  },
  {
    name: 'cart: an order that overtook the cart event in transit means there is nothing to recover',
    triggers: [cart],
    steps: [submit(order(1 * s), cartUpdated(0, 2, { arrives: 2 * s })), { expect: { sends: [], timers: [] } }],
  },
  {
    name: 'cart: the overtaking order still counts when another event of the user comes in between',
    triggers: [cart],
    steps: [submit(order(1 * s), otherPage(1500), cartUpdated(0, 2, { arrives: 2 * s })), { expect: { sends: [], timers: [] } }],
  },
  {
    name: 'cart: a cart event that arrives late goes on at once through the steps already due',
    triggers: [cart],
    steps: [
      submit(cartUpdated(0, 2, { arrives: 30 * m })),
      { expect: { sends: ['0 ann in_app cart-reminder (sent 30m)', '10m ann push cart-push-with-code (sent 30m)'], timers: ['1d10m ann/abandoned-cart:1/3'] } },
      at(2 * d),
      expectSends('1d10m ann email cart-email'),
    ],
  },

  // Scenario 10: milestones.
  {
    name: 'tenth purchase: the email goes out on the 10th order and on no other',
    triggers: [tenth],
    steps: [
      submit(...Array.from({ length: 9 }, (_, i) => order(i * h))),
      expectNothing,
      submit(order(9 * h)),
      expectSends('9h ann email tenth-purchase-gift'),
      submit(order(10 * h), order(11 * h)),
      expectNothing,
    ],
  },
  {
    name: 'tenth purchase: each user on their own 10th',
    triggers: [tenth],
    steps: [
      submit(...Array.from({ length: 10 }, (_, i) => order(i * m, { user: i % 2 === 0 ? 'ann' : 'bob' }))),
      expectNothing,
      submit(...Array.from({ length: 10 }, (_, i) => order(10 * m + i * m, { user: i % 2 === 0 ? 'ann' : 'bob' }))),
      expectSends('18m ann email tenth-purchase-gift', '19m bob email tenth-purchase-gift'),
    ],
  },
  {
    // reentry: always -- when the condition holds again (here: the profile as a replay rebuilt it
    // shows 10 orders once more), the trigger fires again, as a new run.
    name: 'tenth purchase: fires again when its condition recurs',
    triggers: [tenth],
    steps: [
      submit(...Array.from({ length: 10 }, (_, i) => order(i * m))),
      expectSends('9m ann email tenth-purchase-gift'),
      { submit: order(1 * h), user: profileWithOrders('ann', 10) },
      { expect: { sends: ['1h ann email tenth-purchase-gift'], records: ['1h ann entered tenth-purchase', '1h ann completed tenth-purchase'] } },
    ],
  },

  // wait_for after a wait: the lookback reaches back into the wait, and no further.
  {
    name: 'wait_for: an awaited event during the preceding wait, within the lookback, counts when the wait_for begins',
    triggers: [followUp],
    steps: [submit(ev('trial_started', 0), ev('upgraded', 45 * s)), at(1 * m - 1), expectNothing, at(1 * m), { expect: { sends: ['1m ann email thanks'], timers: [] } }],
  },
  {
    name: 'wait_for: one before the lookback does not',
    triggers: [followUp],
    steps: [submit(ev('trial_started', 0), ev('upgraded', 20 * s)), at(3 * m), expectSends('3m ann email reminder')],
  },
  {
    name: 'wait_for: during the wait it takes the on_event path at the event\'s time',
    triggers: [followUp],
    steps: [submit(ev('trial_started', 0), ev('upgraded', 2 * m)), { expect: { sends: ['2m ann email thanks'], timers: [] } }],
  },
  {
    name: 'wait_for: one that happened in time but arrives after the timeout fired is too late',
    triggers: [followUp],
    steps: [submit(ev('trial_started', 0), ev('upgraded', 2 * m, { arrives: 3 * m + 1 })), expectSends('3m ann email reminder')],
  },
  {
    name: 'wait_for: one that arrives late, before the timeout fired, counts at its own time',
    triggers: [followUp],
    steps: [submit(ev('trial_started', 0), ev('upgraded', 2 * m, { arrives: 2 * m + 30 * s })), expectSends('2m ann email thanks (sent 2m30s)')],
  },
  {
    name: 'branch: on the run\'s entry event',
    triggers: [followUp],
    steps: [submit(ev('trial_started', 0, { props: { plan: 'pro' } })), at(3 * m), expectSends('3m ann email pro-reminder')],
  },
  {
    name: 'goal: recorded once, at the first conversion, whether the run is in flight or over',
    triggers: [followUp],
    steps: [
      submit(ev('trial_started', 0), ev('order_completed', 30 * s), ev('order_completed', 2 * m)),
      at(1 * h),
      { expect: { sends: ['3m ann email reminder'], records: ['0 ann entered follow-up', '30s ann goal follow-up', '3m ann completed follow-up'] } },
      submit(ev('order_completed', 2 * h)),
      { expect: { records: [] } },
    ],
  },
  {
    name: 'exit_on: an exit event stamped before the run started does not end it',
    triggers: [followUp],
    steps: [submit(ev('trial_started', 10 * s), ev('account_closed', 5 * s, { arrives: 20 * s })), at(1 * h), expectSends('3m10s ann email reminder')],
  },

  // A run keeps the version of the trigger it started with.
  {
    name: 'versions: a run in flight finishes on its own version after the definition is edited',
    triggers: [cart],
    steps: [
      submit(cartUpdated(0, 2)),
      expectSends('0 ann in_app cart-reminder'),
      { catalog: [cartEdited], retained: [cart] },
      submit(cartUpdated(1 * m, 2, { user: 'bob' })),
      expectSends('1m bob in_app cart-reminder'),
      at(10 * m),
      expectSends('10m ann push cart-push-with-code'),
      at(21 * m),
      expectSends('21m bob push cart-push-v2'),
      at(2 * d),
      expectSends('1d10m ann email cart-email', '1d21m bob email cart-email'),
    ],
  },
  {
    name: 'versions: a run whose version is no longer known ends, and does not block the trigger',
    triggers: [cart],
    steps: [
      submit(cartUpdated(0, 2)),
      expectSends('0 ann in_app cart-reminder'),
      { catalog: [cartEdited] },
      at(10 * m),
      { expect: { sends: [], records: ['10m ann exited abandoned-cart step_removed'], timers: [] } },
      submit(cartUpdated(1 * d, 2)),
      at(1 * d + 20 * m),
      expectSends('1d ann in_app cart-reminder', '1d20m ann push cart-push-v2'),
      at(3 * d),
      expectSends('2d20m ann email cart-email'),
    ],
  },
  {
    name: 'versions: such a run also ends at its user\'s next event, and its timer is cancelled',
    triggers: [cart],
    steps: [
      submit(cartUpdated(0, 2)),
      expectSends('0 ann in_app cart-reminder'),
      { catalog: [cartEdited] },
      submit(otherPage(5 * m)),
      { expect: { sends: [], records: ['5m ann exited abandoned-cart step_removed'], timers: [] } },
    ],
  },

  // Merges: another profile turns out to be the same person.
  {
    name: 'merge: a run moves to the target profile and its timer goes with it',
    triggers: [cart],
    steps: [
      submit(cartUpdated(0, 2, { user: 'anon' })),
      { expect: { sends: ['0 anon in_app cart-reminder'], timers: ['10m anon/abandoned-cart:1/1'] } },
      at(3 * m),
      { merge: { from: 'anon', to: 'ann' } },
      { expect: { timers: ['10m ann/abandoned-cart:1/1'], noState: ['anon'] } },
      at(10 * m),
      expectSends('10m ann push cart-push-with-code'),
      submit(order(20 * m)),
      { expect: { sends: [], records: ['20m ann goal abandoned-cart', '20m ann exited abandoned-cart exit_on'], timers: [] } },
    ],
  },
  {
    name: 'merge: a target with its own run keeps it; the merged-in run ends',
    triggers: [cart],
    steps: [
      submit(cartUpdated(0, 2, { user: 'anon' }), cartUpdated(1 * m, 3)),
      expectSends('0 anon in_app cart-reminder', '1m ann in_app cart-reminder'),
      at(3 * m),
      { merge: { from: 'anon', to: 'ann' } },
      { expect: { records: ['3m ann exited abandoned-cart merged'], timers: ['11m ann/abandoned-cart:1/1'], noState: ['anon'] } },
      at(1 * d),
      expectSends('11m ann push cart-push-with-code'),
      at(2 * d),
      expectSends('1d11m ann email cart-email'),
    ],
  },
  {
    name: 'merge: the re-entry cooldown follows the person',
    triggers: [cart],
    steps: [
      submit(cartUpdated(0, 2, { user: 'anon' }), cartUpdated(1 * m, 0, { user: 'anon' })),
      expectSends('0 anon in_app cart-reminder'),
      { merge: { from: 'anon', to: 'ann' } },
      submit(cartUpdated(2 * h, 2)),
      at(1 * d - 1),
      expectNothing,
      submit(cartUpdated(1 * d, 2)),
      expectSends('1d ann in_app cart-reminder'),
      at(1 * d + 10 * m),
      expectSends('1d10m ann push cart-push-with-code'),
      at(3 * d),
      expectSends('2d10m ann email cart-email'),
    ],
  },
  {
    name: 'merge: a merged run that already sent a step never sends it again',
    triggers: [cart],
    steps: [
      submit(cartUpdated(0, 2, { user: 'anon' })),
      at(10 * m),
      expectSends('0 anon in_app cart-reminder', '10m anon push cart-push-with-code'),
      { merge: { from: 'anon', to: 'ann' } },
      at(2 * d),
      expectSends('1d10m ann email cart-email'),
    ],
  },

  // Scenario 13, unopened: the push delivered but not opened within the hour goes out again by email.
  {
    name: 'unopened fallback: a push delivered and not opened goes out by email exactly 1h after its delivery, not a millisecond earlier',
    triggers: [cartUnopened],
    steps: [
      submit(cartUpdated(0, 2)),
      at(10 * m),
      expectSends('0 ann in_app cart-reminder', '10m ann push cart-push-with-code'),
      deliver('personal-code', 'delivered:push', 10 * m + 2 * s),
      { expect: { records: ['10m2s ann delivery abandoned-cart delivered:push'], timers: ['1h10m2s ann/abandoned-cart:1/personal-code:unopened', '1d10m ann/abandoned-cart:1/3'] } },
      at(1 * h + 10 * m + 2 * s - 1),
      expectNothing,
      at(1 * h + 10 * m + 2 * s),
      { expect: { sends: ['1h10m2s ann email cart-push-with-code'], timers: ['1d10m ann/abandoned-cart:1/3'] } },
      at(2 * d),
      expectSends('1d10m ann email cart-email'),
    ],
  },
  {
    name: 'unopened fallback: opened 1 ms before the deadline, no email',
    triggers: [cartUnopened],
    steps: [
      submit(cartUpdated(0, 2)),
      deliver('personal-code', 'delivered:push', 10 * m + 2 * s),
      open('personal-code', 1 * h + 10 * m + 2 * s - 1),
      { expect: { sends: pushed, timers: ['1d10m ann/abandoned-cart:1/3'] } },
      at(2 * d),
      expectSends('1d10m ann email cart-email'),
    ],
  },
  {
    name: 'unopened fallback: a click counts as opened',
    triggers: [cartUnopened],
    steps: [submit(cartUpdated(0, 2)), deliver('personal-code', 'delivered:push', 10 * m), open('personal-code', 20 * m, { clicked: true }), { expect: { sends: pushed, timers: ['1d10m ann/abandoned-cart:1/3'] } }, at(2 * d), expectSends('1d10m ann email cart-email')],
  },
  {
    name: 'unopened fallback: an open stamped exactly at the deadline is in time (when handled before the timer fires)',
    triggers: [cartUnopened],
    steps: [
      submit(cartUpdated(0, 2)),
      deliver('personal-code', 'delivered:push', 10 * m),
      open('personal-code', 1 * h + 10 * m, { fire: false }),
      { expect: { sends: pushed, timers: ['1d10m ann/abandoned-cart:1/3'] } },
      at(2 * d),
      expectSends('1d10m ann email cart-email'),
    ],
  },
  {
    name: 'unopened fallback: an open stamped 1 ms after the deadline is too late, even handled before the timer fires',
    triggers: [cartUnopened],
    steps: [
      submit(cartUpdated(0, 2)),
      deliver('personal-code', 'delivered:push', 10 * m),
      open('personal-code', 1 * h + 10 * m + 1, { fire: false }),
      { expect: { sends: pushed, timers: ['1h10m ann/abandoned-cart:1/personal-code:unopened', '1d10m ann/abandoned-cart:1/3'] } },
      at(1 * h + 10 * m + 1),
      expectSends('1h10m ann email cart-push-with-code (sent 1h10m1ms)'),
      at(2 * d),
      expectSends('1d10m ann email cart-email'),
    ],
  },
  {
    name: 'unopened fallback: an open of another message does not count',
    triggers: [cartUnopened],
    steps: [
      submit(cartUpdated(0, 2)),
      deliver('personal-code', 'delivered:push', 10 * m),
      open('nudge-in-app', 20 * m),
      at(2 * d),
      expectSends(...pushed, '1h10m ann email cart-push-with-code', '1d10m ann email cart-email'),
    ],
  },
  {
    name: 'unopened fallback: a purchase before the deadline ends the run and the watch; no email',
    triggers: [cartUnopened],
    steps: [submit(cartUpdated(0, 2)), deliver('personal-code', 'delivered:push', 10 * m), submit(order(30 * m)), { expect: { sends: pushed, timers: [] } }],
  },
  {
    name: 'unopened fallback: push failed and the dispatcher delivered the email already: nothing more',
    triggers: [cartUnopened],
    steps: [submit(cartUpdated(0, 2)), deliver('personal-code', 'delivered:email', 10 * m), { expect: { sends: pushed, timers: ['1d10m ann/abandoned-cart:1/3'] } }, at(2 * d), expectSends('1d10m ann email cart-email')],
  },
  {
    name: 'unopened fallback: failed on every channel: nothing more',
    triggers: [cartUnopened],
    steps: [submit(cartUpdated(0, 2)), deliver('personal-code', 'failed', 10 * m), { expect: { sends: pushed, timers: ['1d10m ann/abandoned-cart:1/3'] } }, at(2 * d), expectSends('1d10m ann email cart-email')],
  },
  {
    name: 'unopened fallback: suppressed (no consent): nothing more',
    triggers: [cartUnopened],
    steps: [submit(cartUpdated(0, 2)), deliver('personal-code', 'suppressed:consent', 10 * m), { expect: { sends: pushed, timers: ['1d10m ann/abandoned-cart:1/3'] } }, at(2 * d), expectSends('1d10m ann email cart-email')],
  },
  {
    name: 'unopened fallback: the same delivery reported twice arms one timer, from the first report',
    triggers: [cartUnopened],
    steps: [
      submit(cartUpdated(0, 2)),
      deliver('personal-code', 'delivered:push', 10 * m),
      deliver('personal-code', 'delivered:push', 15 * m),
      { expect: { sends: pushed, timers: ['1h10m ann/abandoned-cart:1/personal-code:unopened', '1d10m ann/abandoned-cart:1/3'] } },
      at(2 * d),
      expectSends('1h10m ann email cart-push-with-code', '1d10m ann email cart-email'),
    ],
  },
  {
    name: 'unopened fallback: deferred (quiet hours), then delivered: the hour counts from the delivery',
    triggers: [cartUnopened],
    steps: [
      submit(cartUpdated(0, 2)),
      deliver('personal-code', 'deferred', 10 * m),
      { expect: { sends: pushed, timers: ['1d10m ann/abandoned-cart:1/3'] } },
      deliver('personal-code', 'delivered:push', 9 * h),
      at(2 * d),
      expectSends('10h ann email cart-push-with-code', '1d10m ann email cart-email'),
    ],
  },
  {
    name: 'unopened fallback: a purchase between the send and its delivery report: the late report arms nothing',
    triggers: [cartUnopened],
    steps: [submit(cartUpdated(0, 2), order(10 * m + 1 * s)), deliver('personal-code', 'delivered:push', 10 * m + 2 * s), { expect: { sends: pushed, timers: [] } }],
  },
  {
    name: 'unopened fallback: the watch outlives a run that completed; the email\'s own delivery arms nothing more (no sms)',
    triggers: [browse],
    steps: [
      submit(productPage(0)),
      at(3 * m),
      { expect: { sends: ['3m ann push product-reminder'], records: ['0 ann entered browse-push', '3m ann completed browse-push'], timers: [] } },
      deliver('push', 'delivered:push', 3 * m),
      { expect: { timers: ['33m ann/browse-push:1/push:unopened'] } },
      at(33 * m),
      expectSends('33m ann email product-reminder'),
      deliver('push:unopened', 'delivered:email', 33 * m),
      { expect: { sends: [], timers: [] } },
    ],
  },
  {
    name: 'unopened fallback: a purchase after the run completed still stops the watch',
    triggers: [browse],
    steps: [submit(productPage(0)), deliver('push', 'delivered:push', 3 * m), submit(order(10 * m)), { expect: { sends: ['3m ann push product-reminder'], timers: [] } }],
  },
  {
    name: 'unopened fallback: an open handled before the delivery report (they raced) counts',
    triggers: [browse],
    steps: [submit(productPage(0)), open('push', 3 * m + 1), deliver('push', 'delivered:push', 3 * m + 2), { expect: { sends: ['3m ann push product-reminder'], timers: [] } }],
  },
  {
    name: 'unopened fallback: a delivery report that never comes: the watch is forgotten after a week',
    triggers: [browse],
    steps: [
      submit(productPage(0), ev('searched', 7 * d + 3 * m)),
      { expect: { sends: ['3m ann push product-reminder'] } },
      submit(ev('searched', 7 * d + 3 * m + 1)),
      { expect: { noState: ['ann'] } },
    ],
  },
  {
    name: 'unopened fallback: the watch moves with a merge; the email goes to the merged profile at the deadline',
    triggers: [browse],
    steps: [
      submit(productPage(0, { user: 'anon' })),
      deliver('push', 'delivered:push', 3 * m),
      { merge: { from: 'anon', to: 'ann' } },
      { expect: { sends: ['3m anon push product-reminder'], timers: ['33m ann/browse-push:1/push:unopened'] } },
      at(33 * m),
      expectSends('33m ann email product-reminder'),
    ],
  },
  {
    name: 'unopened fallback: a run merged away (the profile it joins has a run of the trigger) takes its watch with it',
    triggers: [cartUnopened],
    steps: [
      submit(cartUpdated(0, 2, { user: 'anon' }), cartUpdated(5 * m, 2)),
      deliver('personal-code', 'delivered:push', 10 * m),
      { merge: { from: 'anon', to: 'ann' } },
      {
        expect: {
          sends: ['0 anon in_app cart-reminder', '5m ann in_app cart-reminder', '10m anon push cart-push-with-code'],
          records: ['0 anon entered abandoned-cart', '5m ann entered abandoned-cart', '10m anon delivery abandoned-cart delivered:push', '10m ann exited abandoned-cart merged'],
          timers: ['15m ann/abandoned-cart:1/1'],
        },
      },
      at(2 * d),
      expectSends('15m ann push cart-push-with-code', '1d15m ann email cart-email'),
    ],
  },
  {
    name: 'unopened fallback: after a merge, an open of the message sent to the anonymous profile still counts',
    triggers: [browse],
    steps: [
      submit(productPage(0, { user: 'anon' })),
      deliver('push', 'delivered:push', 3 * m),
      { merge: { from: 'anon', to: 'ann' } },
      open('push', 10 * m, { user: 'ann' }),
      { expect: { sends: ['3m anon push product-reminder'], timers: [] } },
    ],
  },
];

interface Outcome {
  sends: Sent[];
}

function play(row: Row, roundTrip: boolean): Outcome {
  const harness = new Harness({ triggers: row.triggers, roundTrip });
  const runNames = new RunNames();
  let recordsSeen = 0;
  row.steps.forEach((step, i) => {
    const where = `step ${i}${roundTrip ? ' (state through JSON)' : ''}`;
    if ('submit' in step) {
      for (const e of Array.isArray(step.submit) ? step.submit : [step.submit]) harness.submit(e, 'user' in step ? { user: step.user ?? null } : {});
    } else if ('advanceTo' in step) {
      harness.advanceTo(step.advanceTo);
    } else if ('merge' in step) {
      harness.merge(step.merge.from, step.merge.to);
    } else if ('catalog' in step) {
      harness.setCatalog(step.catalog, step.retained);
    } else if ('deliver' in step) {
      harness.advanceTo(step.at);
      harness.deliver(messageOf(harness, step.deliver), step.outcome);
    } else if ('open' in step) {
      harness.advanceTo(step.t, { fire: step.fire ?? true });
      const message = messageOf(harness, step.open);
      const props = { messageKey: message.key, stepId: message.stepId, channel: message.channel };
      harness.submit({ user: step.user ?? message.profileId, name: step.clicked ? MessageEvent.clicked : MessageEvent.opened, t: step.t, props }, { fire: step.fire ?? true });
    } else {
      const e = step.expect;
      assert.deepEqual(harness.takeSends().map((x) => describeSend(x, harness.origin)), e.sends ?? [], `${where}: sends`);
      const records = harness.records.slice(recordsSeen).map((r) => describeRecord(r, harness.origin));
      recordsSeen = harness.records.length;
      if (e.records) assert.deepEqual(records, e.records, `${where}: records`);
      if (e.timers) assert.deepEqual(harness.pendingTimers().map((t) => `${fmt(t.dueAt - harness.origin)} ${runNames.readable(keyOfTimer(t.id).slice(harness.workspaceId.length + 1))}`), e.timers, `${where}: timers`);
      for (const id of e.noState ?? []) assert.equal(harness.state(id), null, `${where}: ${id} keeps no trigger state`);
    }
  });
  harness.advanceBy(100 * d);
  assert.deepEqual(harness.takeSends().map((x) => describeSend(x, harness.origin)), [], 'nothing more is sent after the last step');
  return { sends: harness.sends };
}

/** A timer id without its leading run start (see `timerIdOf`): the step's key. */
const keyOfTimer = (id: string): string => id.slice(id.indexOf('/') + 1);

function messageOf(harness: Harness, keyEnd: string) {
  const sent = harness.sends.findLast((x) => x.message.key.endsWith(`/${keyEnd}`));
  if (!sent) throw new Error(`no message ${keyEnd} was sent`);
  return sent.message;
}

describe('trigger scenarios on a simulated clock', () => {
  for (const row of rows) {
    test(row.name, () => {
      const plain = play(row, false);
      const restarted = play(row, true);
      assert.deepEqual(restarted.sends, plain.sends, 'the same sends with the state written through JSON between inputs');
    });
  }
});

/** Regression guard for the tables themselves: a table that cannot fail proves nothing. */
test('a row that expects a send that does not happen fails', () => {
  assert.throws(() => play({ name: 'x', triggers: [inactivity], steps: [submit(productPage(0)), at(3 * m), expectNothing] }, false), /sends/);
});

describe('what a send carries', () => {
  test('a cart push names its run and step (the at-most-once key), its fallback, priority, version and entry event', () => {
    const harness = new Harness({ triggers: [cart] });
    harness.submit(cartUpdated(0, 2, { id: 'c1' }));
    harness.advanceTo(10 * m);
    const [inApp, push] = harness.takeSends().map((x) => x.message);
    assert.ok(inApp && push);
    const runId = runIdOf('abandoned-cart', 'c1');
    assert.equal(inApp.key, `w1/ann/${runId}/nudge-in-app`);
    assert.deepEqual(
      { key: push.key, runId: push.runId, stepId: push.stepId, channel: push.channel, fallback: push.fallback, priority: push.priority, topic: push.topic, version: push.version, at: push.at },
      { key: `w1/ann/${runId}/personal-code`, runId, stepId: 'personal-code', channel: 'push', fallback: ['email', 'in_app'], priority: 70, topic: 'marketing', version: cart.version, at: T0 + 10 * m },
    );
    assert.deepEqual(push.entry, { messageId: 'c1', type: 'track', name: 'cart_updated', properties: { item_count: 2 }, timestamp: T0 });
  });

  test('a second run of the same user gets new keys: at most once per (user, run, step), not per user', () => {
    const harness = new Harness({ triggers: [cart] });
    harness.submit(cartUpdated(0, 2, { id: 'c1' }));
    harness.submit(cartUpdated(1 * m, 0));
    harness.submit(cartUpdated(1 * d, 2, { id: 'c2' }));
    assert.deepEqual(
      harness.takeSends().map((x) => x.message.key),
      [`w1/ann/${runIdOf('abandoned-cart', 'c1')}/nudge-in-app`, `w1/ann/${runIdOf('abandoned-cart', 'c2')}/nudge-in-app`],
    );
  });
});

describe('experiment step', () => {
  const experiment = (holdout: number) =>
    triggerFrom(`
id: welcome-test
entry:
  event: signed_up
reentry: always
goal:
  event: order_completed
  within: 7d
steps:
  - experiment:
      id: welcome-timing
      holdout: ${holdout}
      variants:
        - name: soon
          steps:
            - wait: 5m
            - send: push
              template: welcome-soon
        - name: later
          weight: 3
          steps:
            - wait: 10m
            - send: push
              template: welcome-later
`);
  const users = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

  /** Every user signs up at 0; returns each user's variant (from the `assigned` records) and sends. */
  function assign(holdout: number, order: readonly string[] = users) {
    const harness = new Harness({ triggers: [experiment(holdout)] });
    for (const user of order) harness.submit({ user, name: 'signed_up', t: 0 });
    harness.advanceTo(1 * h);
    const variants = new Map(harness.records.filter((r) => r.record.kind === 'assigned').map((r) => [r.profileId, r.record.variant!]));
    return { harness, variants };
  }

  const counts = (variants: Map<string, string>) => {
    const c: Record<string, number> = {};
    for (const v of variants.values()) c[v] = (c[v] ?? 0) + 1;
    return c;
  };

  test('10,000 users: the holdout is about 10 % and the 1:3 weights hold among the rest; each variant gets its own steps', () => {
    const { harness, variants } = assign(10);
    assert.equal(variants.size, users.length);
    const c = counts(variants);
    // Binomial(10000, 0.1) has a standard deviation of 30: ±150 is 5 of them, yet rules out 0 % and 20 %.
    assert.ok(Math.abs((c['holdout'] ?? 0) - 1000) <= 150, `holdout ${c['holdout']}`);
    // Among about 9,000 users, the share of "later" has a standard deviation near 0.005: ±0.025 is 5 of them.
    const rest = (c['soon'] ?? 0) + (c['later'] ?? 0);
    assert.ok(Math.abs((c['later'] ?? 0) / rest - 0.75) <= 0.025, `later ${c['later']} of ${rest}`);
    // What was sent follows the assignment, at each variant's own time; the holdout gets nothing.
    const sends = new Map(harness.sends.map((x) => [x.profileId, `${x.message.template} ${x.now}`]));
    for (const [user, variant] of variants) {
      const expected = variant === 'holdout' ? undefined : variant === 'soon' ? `welcome-soon ${5 * m}` : `welcome-later ${10 * m}`;
      assert.equal(sends.get(user), expected, user);
    }
    assert.equal(harness.sends.length, rest);
    assert.ok(harness.sends.every((x) => x.message.variants['welcome-timing'] === variants.get(x.profileId)));
  });

  test('assignment is a function of the user: the same in another process, in any order, and on re-entry', () => {
    const first = assign(10).variants;
    const again = assign(10, [...users].reverse()).variants;
    assert.deepEqual(again, first);
    const harness = new Harness({ triggers: [experiment(10)] });
    for (let i = 0; i < 5; i++) harness.submit({ user: 'user-7', name: 'signed_up', t: i * h });
    const seen = harness.records.filter((r) => r.record.kind === 'assigned').map((r) => r.record.variant);
    assert.deepEqual(seen, Array(5).fill(first.get('user-7')));
  });

  test('raising the holdout takes users only out of the variants; nobody switches variant', () => {
    const at10 = assign(10).variants;
    const at20 = assign(20).variants;
    let moved = 0;
    for (const [user, v10] of at10) {
      const v20 = at20.get(user)!;
      if (v10 === 'holdout') assert.equal(v20, 'holdout', user);
      else if (v20 === 'holdout') moved++;
      else assert.equal(v20, v10, user);
    }
    assert.ok(Math.abs(moved - 1000) <= 150, `moved to the holdout: ${moved}`);
  });

  test('the holdout\'s conversions are counted, labelled as the holdout', () => {
    const { variants } = assign(10);
    const held = [...variants].find(([, v]) => v === 'holdout')![0];
    const harness = new Harness({ triggers: [experiment(10)] });
    harness.submit({ user: held, name: 'signed_up', t: 0 });
    harness.submit({ user: held, name: 'order_completed', t: 2 * d });
    assert.deepEqual(
      harness.records.map((r) => describeRecord(r, harness.origin)),
      [`0 ${held} entered welcome-test`, `0 ${held} assigned welcome-test welcome-timing=holdout`, `0 ${held} completed welcome-test`, `2d ${held} goal welcome-test welcome-timing=holdout`],
    );
    assert.equal(harness.sends.length, 0);
  });
});

describe('wait until a local time of day, across the 2026 DST changes', () => {
  const morning = (until: string) =>
    triggerFrom(`
id: morning-push
entry:
  event: signed_up
reentry: always
steps:
  - wait:
      until: "${until}"
  - send: push
    template: good-morning
`);

  interface Case {
    name: string;
    zone: string | null;
    until: string;
    /** When the user signs up (UTC). */
    signup: string;
    /** When the event reaches the engine, if later. */
    arrives?: string;
    /** When the push is due (UTC), and when it goes out if later. */
    due: string;
    sent?: string;
  }
  const cases: Case[] = [
    { name: 'Berlin 09:00 the morning of the EU spring change (CET -> CEST)', zone: 'Europe/Berlin', until: '09:00', signup: '2026-03-28T12:00:00Z', due: '2026-03-29T07:00:00Z' },
    { name: 'New York 09:00 the morning of the US spring change (EST -> EDT)', zone: 'America/New_York', until: '09:00', signup: '2026-03-07T20:00:00Z', due: '2026-03-08T13:00:00Z' },
    { name: 'New York 09:00 between the two spring changes (EDT, 5 h from Berlin)', zone: 'America/New_York', until: '09:00', signup: '2026-03-15T00:00:00Z', due: '2026-03-15T13:00:00Z' },
    { name: 'Berlin 09:00 between the two spring changes (still CET)', zone: 'Europe/Berlin', until: '09:00', signup: '2026-03-15T00:00:00Z', due: '2026-03-15T08:00:00Z' },
    { name: 'Berlin 02:30 does not exist on 2026-03-29: 03:30 CEST instead', zone: 'Europe/Berlin', until: '02:30', signup: '2026-03-28T12:00:00Z', due: '2026-03-29T01:30:00Z' },
    { name: 'New York 02:30 does not exist on 2026-03-08: 03:30 EDT instead', zone: 'America/New_York', until: '02:30', signup: '2026-03-07T20:00:00Z', due: '2026-03-08T07:30:00Z' },
    { name: 'Berlin 02:30 happens twice on 2026-10-25: the first (CEST)', zone: 'Europe/Berlin', until: '02:30', signup: '2026-10-24T12:00:00Z', due: '2026-10-25T00:30:00Z' },
    { name: 'Berlin 02:30 from between its two occurrences: the repeat is skipped, the next day', zone: 'Europe/Berlin', until: '02:30', signup: '2026-10-25T00:45:00Z', due: '2026-10-26T01:30:00Z' },
    { name: 'New York 01:30 happens twice on 2026-11-01: the first (EDT)', zone: 'America/New_York', until: '01:30', signup: '2026-10-31T18:00:00Z', due: '2026-11-01T05:30:00Z' },
    { name: 'Berlin 09:00 the morning of the EU fall change (CEST -> CET)', zone: 'Europe/Berlin', until: '09:00', signup: '2026-10-24T12:00:00Z', due: '2026-10-25T08:00:00Z' },
    { name: 'New York 09:00 the morning of the US fall change (EDT -> EST)', zone: 'America/New_York', until: '09:00', signup: '2026-10-31T18:00:00Z', due: '2026-11-01T14:00:00Z' },
    { name: 'New York 09:00 between the two fall changes (still EDT)', zone: 'America/New_York', until: '09:00', signup: '2026-10-28T00:00:00Z', due: '2026-10-28T13:00:00Z' },
    { name: 'Berlin 09:00 between the two fall changes (CET again)', zone: 'Europe/Berlin', until: '09:00', signup: '2026-10-28T00:00:00Z', due: '2026-10-28T08:00:00Z' },
    { name: 'a user without a time zone counts as UTC', zone: null, until: '09:00', signup: '2026-03-28T12:00:00Z', due: '2026-03-29T09:00:00Z' },
    { name: 'an unknown time zone counts as UTC', zone: 'Mars/Olympus_Mons', until: '09:00', signup: '2026-03-28T12:00:00Z', due: '2026-03-29T09:00:00Z' },
    { name: 'a signup at exactly 09:00 local waits for the next day', zone: 'Europe/Berlin', until: '09:00', signup: '2026-03-30T07:00:00Z', due: '2026-03-31T07:00:00Z' },
    {
      name: 'a signup that arrives after its 09:00 has passed is followed up at once',
      zone: 'Europe/Berlin',
      until: '09:00',
      signup: '2026-03-29T06:00:00Z',
      arrives: '2026-03-29T07:30:00Z',
      due: '2026-03-29T07:00:00Z',
      sent: '2026-03-29T07:30:00Z',
    },
  ];

  for (const c of cases) {
    test(c.name, () => {
      const origin = Date.parse(c.signup);
      for (const roundTrip of [false, true]) {
        const harness = new Harness({ triggers: [morning(c.until)], origin, roundTrip });
        harness.submit({ user: 'ann', name: 'signed_up', t: 0, arrives: c.arrives ? Date.parse(c.arrives) - origin : 0, context: c.zone ? { timezone: c.zone } : {} });
        harness.advanceTo(3 * d);
        assert.deepEqual(
          harness.sends.map((x) => ({ due: new Date(x.message.at).toISOString(), sent: new Date(origin + x.now).toISOString() })),
          [{ due: new Date(c.due).toISOString(), sent: new Date(c.sent ?? c.due).toISOString() }],
        );
      }
    });
  }

  test('Berlin and New York users who sign up together are each sent at their own 09:00, in due order', () => {
    const origin = Date.parse('2026-03-28T12:00:00Z');
    const harness = new Harness({ triggers: [morning('09:00')], origin });
    harness.submit({ user: 'ny', name: 'signed_up', t: 0, context: { timezone: 'America/New_York' } });
    harness.submit({ user: 'berlin', name: 'signed_up', t: 0, context: { timezone: 'Europe/Berlin' } });
    harness.advanceTo(2 * d);
    assert.deepEqual(
      harness.sends.map((x) => `${x.profileId} ${new Date(x.message.at).toISOString()}`),
      ['ny 2026-03-28T13:00:00.000Z', 'berlin 2026-03-29T07:00:00.000Z'],
    );
  });
});

/**
 * Run ids are a hash of the entry event's id; the tables name runs `<trigger>:<n>`, numbered per
 * user and trigger in the order they first appear, so that a row reads as the story it tells.
 */
class RunNames {
  private readonly names = new Map<string, string>();
  private readonly counts = new Map<string, number>();

  readable(text: string): string {
    return text.replace(/^([^/]+)\/([a-z0-9_-]+):([0-9a-z]+)/, (_all, user: string, trigger: string, hash: string) => {
      const id = `${user}/${trigger}:${hash}`;
      let name = this.names.get(id);
      if (!name) {
        const n = (this.counts.get(`${user}/${trigger}`) ?? 0) + 1;
        this.counts.set(`${user}/${trigger}`, n);
        this.names.set(id, (name = `${user}/${trigger}:${n}`));
      }
      return name;
    });
  }
}
