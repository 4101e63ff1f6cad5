/**
 * Behavioral phases with the demo shop's rules (examples/shop/nudge.yaml), on simulated time, as
 * scenario tables: events are folded into a profile (each names the phase changes it records for
 * the timeline), and reads ask for the phase at a time between events, to the millisecond around
 * each threshold. Then how rules compile, and a property: a read at any time between two events
 * agrees with what the next event records, and the recorded changes form one chain.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseConfig } from '../../src/config/config.js';
import { compilePhases, phaseAt, withPhaseAt, type PhaseChange, type PhaseRules } from '../../src/core/phases.js';
import { applyEvent, draftOf, emptyProfile, mergeProfileInto, type Profile, type ProfileOptions } from '../../src/core/profile.js';
import { event, minute, t0, type EventSpec } from '../support/events.js';

const shopFile = new URL('../../examples/shop/nudge.yaml', import.meta.url);
const shop: ProfileOptions = parseConfig(readFileSync(shopFile, 'utf8'), 'nudge.yaml').profiles;
const rules = shop.phases!;
const ms = (m: number, extra = 0) => t0 + m * minute + extra;

type Change = [from: string | null, to: string, at: number];

type Step =
  | { event: EventSpec; records?: Change[] }
  /** The phase a reader sees at `at` (absolute ms), and since when. */
  | { read: number; phase: string; since: number };

function fold(profile: Profile, spec: EventSpec, options: ProfileOptions = shop): { profile: Profile; changes: readonly PhaseChange[] } {
  const draft = draftOf(profile);
  const changes = applyEvent(draft, event({ userId: 'ann', ...spec }), options);
  return { profile: draft, changes };
}

function run(steps: readonly Step[]): Profile {
  let profile = emptyProfile('w1', 'u:ann', t0);
  steps.forEach((step, i) => {
    if ('read' in step) {
      assert.deepEqual(phaseAt(profile, rules, step.read), { phase: step.phase, since: step.since }, `step ${i}: read at ${step.read - t0} ms`);
      return;
    }
    const before = JSON.stringify(profile);
    const folded = fold(profile, step.event);
    assert.equal(JSON.stringify(profile), before, `step ${i}: the profile folded from is untouched`);
    profile = folded.profile;
    assert.deepEqual(folded.changes.map((c) => [c.from, c.to, c.at]), step.records ?? [], `step ${i}: recorded changes`);
    const c = profile.computed;
    assert.deepEqual({ phase: c.phase, since: c.phaseSince }, phaseAt(profile, rules, c.lastSeenAt), `step ${i}: stored phase`);
  });
  return profile;
}

const page = (name: string, at: number): EventSpec => ({ type: 'page', name, timestamp: at });
const track = (name: string, at: number, properties = {}): EventSpec => ({ name, timestamp: at, properties });

const scenarios: Record<string, Step[]> = {
  'a visitor browses, considers, hesitates on the payment step, goes idle, is disengaged at 30 minutes sharp, and comes back': [
    { event: page('Product', ms(0)), records: [[null, 'exploring', ms(0)]] },
    { read: ms(0), phase: 'exploring', since: ms(0) },
    { event: page('Home', ms(1)) },
    { event: page('Product', ms(2)), records: [['exploring', 'considering', ms(2)]] },
    { event: track('product_added', ms(3)) },
    { event: track('cart_updated', ms(3, 5000), { item_count: 1, value: 89 }) },
    { event: track('checkout_step_viewed', ms(4), { step: 'shipping' }) },
    { event: track('checkout_step_viewed', ms(5), { step: 'payment' }) },
    { read: ms(7, -1), phase: 'considering', since: ms(2) },
    { read: ms(7), phase: 'hesitating', since: ms(7) },
    // The help click comes after the change; it records it at its own time, as the timeline shows it.
    { event: track('help_clicked', ms(8)), records: [['considering', 'hesitating', ms(7)]] },
    { read: ms(38, -1), phase: 'hesitating', since: ms(7) },
    { read: ms(38), phase: 'disengaged', since: ms(38) },
    { read: ms(38, 1), phase: 'disengaged', since: ms(38) },
    { read: ms(5 * 60), phase: 'disengaged', since: ms(38) },
    // Back in a new session: the payment step was another session's, the cart still holds an item.
    { event: page('Home', ms(50)), records: [['hesitating', 'disengaged', ms(38)], ['disengaged', 'considering', ms(50)]] },
    { event: track('order_completed', ms(52), { revenue: 89 }), records: [['considering', 'exploring', ms(52)]] },
    { read: ms(82, -1), phase: 'exploring', since: ms(52) },
    { read: ms(82), phase: 'disengaged', since: ms(82) },
  ],
  'a cart left alone: hesitating after 10 idle minutes, disengaged after 30, each to the millisecond': [
    { event: track('cart_updated', ms(0), { item_count: 2 }), records: [[null, 'considering', ms(0)]] },
    { read: ms(10, -1), phase: 'considering', since: ms(0) },
    { read: ms(10), phase: 'hesitating', since: ms(10) },
    { read: ms(30, -1), phase: 'hesitating', since: ms(10) },
    { read: ms(30), phase: 'disengaged', since: ms(30) },
    {
      event: track('cart_updated', ms(31), { item_count: 0 }),
      records: [['considering', 'hesitating', ms(10)], ['hesitating', 'disengaged', ms(30)], ['disengaged', 'exploring', ms(31)]],
    },
  ],
  'paying within 2 minutes is no hesitation; an event at the very threshold sees the change first': [
    { event: track('cart_updated', ms(0), { item_count: 1 }), records: [[null, 'considering', ms(0)]] },
    { event: track('checkout_step_viewed', ms(1), { step: 'payment' }) },
    { event: track('payment_submitted', ms(3, -1)) },
    { read: ms(5), phase: 'considering', since: ms(0) },
    // 10 idle minutes after the submit, the cart is still full: hesitating, and the order at that
    // very millisecond is recorded after it.
    { event: track('order_completed', ms(13, -1)), records: [['considering', 'hesitating', ms(13, -1)], ['hesitating', 'exploring', ms(13, -1)]] },
  ],
  'a late event changes the phase as of the latest time seen, not its own': [
    { event: page('Home', ms(10)), records: [[null, 'exploring', ms(10)]] },
    { event: track('cart_updated', ms(2), { item_count: 1 }), records: [['exploring', 'considering', ms(10)]] },
    { event: track('order_completed', ms(3)), records: [['considering', 'exploring', ms(10)]] },
    // Older than the order that emptied the cart: it changes nothing.
    { event: track('cart_updated', ms(1), { item_count: 3 }), records: [] },
    { read: ms(40, -1), phase: 'exploring', since: ms(10) },
    { read: ms(40), phase: 'disengaged', since: ms(40) },
  ],
};

describe('phases: the shop rules on simulated time', () => {
  for (const [name, steps] of Object.entries(scenarios)) test(name, () => void run(steps));

  test('a read before the latest event gives the stored phase; withPhaseAt copies only when the phase moved', () => {
    const profile = run([{ event: page('Product', ms(10)), records: [[null, 'exploring', ms(10)]] }]);
    assert.deepEqual(phaseAt(profile, rules, ms(0)), { phase: 'exploring', since: ms(10) });
    assert.equal(withPhaseAt(profile, rules, ms(20)), profile);
    assert.equal(withPhaseAt(profile, null, ms(90)), profile);
    const later = withPhaseAt(profile, rules, ms(90));
    assert.deepEqual([later.computed.phase, later.computed.phaseSince, profile.computed.phase], ['disengaged', ms(40), 'exploring']);
  });

  test('without phase rules nothing is computed or recorded', () => {
    const options = { ...shop, phases: null };
    const { profile, changes } = fold(emptyProfile('w1', 'u:ann', t0), page('Product', ms(0)), options);
    assert.deepEqual([profile.computed.phase, profile.computed.phaseSince, changes], [null, null, []]);
  });

  test('merged profiles take the phase of the one seen last', () => {
    const seenFirst = fold(emptyProfile('w1', 'a:dev', t0), track('cart_updated', ms(0), { item_count: 1 })).profile;
    const seenLast = fold(emptyProfile('w1', 'u:ann', t0), page('Home', ms(5))).profile;
    const target = draftOf(seenFirst);
    mergeProfileInto(target, seenLast);
    assert.deepEqual([target.computed.phase, target.computed.phaseSince], ['exploring', ms(5)]);
    const other = draftOf(seenLast);
    mergeProfileInto(other, seenFirst);
    assert.deepEqual([other.computed.phase, other.computed.phaseSince], ['exploring', ms(5)]);
  });
});

describe('phases: latest values and pages of the session', () => {
  test('a latest value follows the latest event by time; a clearing event sets it to null; merges keep the later one', () => {
    let profile = emptyProfile('w1', 'u:ann', t0);
    const apply = (spec: EventSpec) => (profile = fold(profile, spec).profile);
    apply(track('cart_updated', ms(5), { item_count: 2 }));
    apply(track('cart_updated', ms(1), { item_count: 7 }));
    apply(track('cart_updated', ms(6), { value: 3 }));
    assert.deepEqual(profile.computed.latest['cart_items'], { value: 2, at: ms(5) });
    apply(track('order_completed', ms(4)));
    assert.deepEqual(profile.computed.latest['cart_items'], { value: 2, at: ms(5) });
    apply(track('order_completed', ms(8)));
    assert.deepEqual(profile.computed.latest['cart_items'], { value: null, at: ms(8) });
    const other = fold(emptyProfile('w1', 'a:dev', t0), track('cart_updated', ms(9), { item_count: 4 })).profile;
    const merged = draftOf(profile);
    mergeProfileInto(merged, other);
    assert.deepEqual(merged.computed.latest, { cart_items: { value: 4, at: ms(9) }, checkout_step: { value: null, at: ms(8) } });
  });

  test('page views of the session are counted by name, hostile names included, and start again with a session', () => {
    let profile = emptyProfile('w1', 'u:ann', t0);
    for (const [name, at] of [['Product', 0], ['__proto__', 1], ['Product', 2], ['', 3], ['constructor', 4]] as const) profile = fold(profile, page(name, ms(at))).profile;
    assert.deepEqual(Object.entries(profile.computed.session!.pages), [['Product', 2], ['__proto__', 1], ['constructor', 1]]);
    assert.equal(profile.computed.session!.pageCount, 5);
    assert.equal(Object.getPrototypeOf(profile.computed.session!.pages), Object.prototype);
    profile = fold(profile, page('Home', ms(60))).profile;
    assert.deepEqual(profile.computed.session!.pages, { Home: 1 });
  });
});

describe('phases: compiling rules', () => {
  const problems = (definitions: Parameters<typeof compilePhases>[0]) => {
    const compiled = compilePhases(definitions);
    assert.equal(compiled.ok, false);
    return compiled.ok ? [] : compiled.problems;
  };

  test('every phase but the last has a condition; names are unique', () => {
    assert.deepEqual(problems([{ name: 'a' }, { name: 'a', when: 'true' }]), [
      { path: [0], message: 'needs `when`: only the last phase, the fallback, has none' },
      { path: [1, 'name'], message: 'phase "a" is named twice' },
      { path: [1, 'when'], message: 'the last phase is the fallback, taken when no other holds: give it no `when` (add one without it after this)' },
    ]);
  });

  test('a condition that does not compile, or reads `event`, is located inside its text', () => {
    assert.deepEqual(problems([{ name: 'a', when: 'user.computed.eventCount >\n  duration("3 minutes")' }, { name: 'b', when: 'now > 0 && event.name == "x"' }, { name: 'c' }]), [
      { path: [0, 'when'], message: 'duration() expects a string such as "90s", "3m", "1h30m" or "7d", got "3 minutes"', within: { line: 2, column: 3 } },
      {
        path: [1, 'when'],
        message: 'a phase rule reads `user` and `now` only, not `event`: a phase must be known at any time, also between events',
        within: { line: 1, column: 12 },
      },
    ]);
    assert.match(problems([{ name: 'a', when: '"always"' }, { name: 'b' }])[0]!.message, /^a condition must be true or false/);
  });

  test('a macro variable may be called event; rules that never read now change only at events', () => {
    const compiled = compilePhases([{ name: 'tagged', when: 'user.traits.tags.exists(event, event == "vip")' }, { name: 'other' }]);
    assert.ok(compiled.ok);
    const untimed: PhaseRules = compiled.phases;
    assert.equal(untimed.timed, false);
    const profile = fold(emptyProfile('w1', 'u:ann', t0), page('Home', ms(0)), { ...shop, phases: untimed }).profile;
    assert.deepEqual(phaseAt(profile, untimed, ms(1e6)), { phase: 'other', since: ms(0) });
    assert.equal(rules.timed, true);
  });
});

// ---- property: reads between events agree with the timeline ----

const stepArb = fc.record({
  gapMs: fc.oneof(fc.integer({ min: 0, max: 45 * minute }), fc.constantFrom(2, 10, 30).chain((m) => fc.integer({ min: m * minute - 1, max: m * minute + 1 }))),
  action: fc.constantFrom('product', 'home', 'cart', 'empty', 'shipping', 'payment', 'submit', 'order', 'help'),
});

const specOf = (action: string, at: number): EventSpec =>
  ({
    product: page('Product', at),
    home: page('Home', at),
    cart: track('cart_updated', at, { item_count: 1 }),
    empty: track('cart_updated', at, { item_count: 0 }),
    shipping: track('checkout_step_viewed', at, { step: 'shipping' }),
    payment: track('checkout_step_viewed', at, { step: 'payment' }),
    submit: track('payment_submitted', at),
    order: track('order_completed', at),
    help: track('help_clicked', at),
  })[action]!;

describe('phases: reads and the timeline agree', () => {
  test('the phase read at any time before the next event is the one the timeline records by then', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 25 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 25, maxLength: 25 }), (steps, readAt) => {
        let profile = emptyProfile('w1', 'u:ann', t0);
        let at = t0;
        const timeline: PhaseChange[] = [];
        steps.forEach((step, i) => {
          const next = at + step.gapMs;
          // A read strictly between the previous event and this one, of the profile as it was then.
          const read = i > 0 && next - at > 1 ? Math.min(at + 1 + Math.floor(readAt[i]! * (next - at - 1)), next - 1) : null;
          const seen = read === null ? null : phaseAt(profile, rules, read);
          const folded = fold(profile, specOf(step.action, next));
          timeline.push(...folded.changes);
          if (read !== null) {
            const last = timeline.filter((c) => c.at <= read).at(-1)!;
            assert.deepEqual(seen, { phase: last.to, since: last.at }, `read at ${read - t0} ms`);
          }
          profile = folded.profile;
          at = next;
        });
        timeline.forEach((c, i) => {
          if (i === 0) return assert.equal(c.from, null);
          assert.equal(c.from, timeline[i - 1]!.to, `change ${i} continues the one before`);
          assert.ok(c.at >= timeline[i - 1]!.at && c.from !== c.to, `change ${i}`);
        });
        assert.deepEqual([profile.computed.phase, profile.computed.phaseSince], [timeline.at(-1)!.to, timeline.at(-1)!.at]);
      }),
      { numRuns: 300 },
    );
  });
});
