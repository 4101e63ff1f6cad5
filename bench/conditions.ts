/**
 * Trigger conditions: evaluations per second of one realistic rule over a pool of realistic
 * (event, user, now) activations, side by side in one process:
 *
 * - Nudge: the CEL condition compiled once by src/core/expression (closures, no eval);
 * - json-rules-engine 7.3.1 on the same rule, as a widely used JSON rule engine;
 * - the floor: the same rule hand-written as a JS function, the most this machine can do.
 *
 * All three must give the same answer on every activation of the pool (a broken invariant fails
 * the run). Settings (environment): BENCH_CONDITION_MS (measured time per system, default 3000).
 */
import { Engine } from 'json-rules-engine';
import { compileCondition, type Activation } from '../src/core/expression/index.js';
import { applyEvent, defaultProfileOptions, draftOf, emptyProfile, type Profile } from '../src/core/profile.js';
import type { NudgeEvent } from '../src/core/event.js';
import { envInt, formatTable, num, type Benchmark, type BenchmarkReport } from './support/benchmark.js';

const targetPerSecond = 1_000_000;
const poolSize = 1024;

export const rule =
  'event.name == "cart_updated" && event.properties.item_count > 0' +
  ' && user.computed.events.order_completed.count >= 10 && user.traits.plan != "vip"' +
  ' && "shoes" in user.traits.favourite_categories && now - user.computed.lastSeenAt < duration("30m")';

function handWritten(a: { event: NudgeEvent; user: Profile; now: number }): boolean {
  const orders = a.user.computed.events['order_completed'];
  const favourites = a.user.traits['favourite_categories'];
  return (
    a.event.name === 'cart_updated' &&
    (a.event.properties['item_count'] as number) > 0 &&
    orders !== undefined &&
    orders.count >= 10 &&
    a.user.traits['plan'] !== 'vip' &&
    Array.isArray(favourites) &&
    favourites.includes('shoes') &&
    a.now - a.user.computed.lastSeenAt < 30 * 60_000
  );
}

function rulesEngine(): Engine {
  const engine = new Engine([], { allowUndefinedFacts: true });
  engine.addRule({
    conditions: {
      all: [
        { fact: 'event', path: '$.name', operator: 'equal', value: 'cart_updated' },
        { fact: 'event', path: '$.properties.item_count', operator: 'greaterThan', value: 0 },
        { fact: 'user', path: '$.computed.events.order_completed.count', operator: 'greaterThanInclusive', value: 10 },
        { fact: 'user', path: '$.traits.plan', operator: 'notEqual', value: 'vip' },
        { fact: 'user', path: '$.traits.favourite_categories', operator: 'contains', value: 'shoes' },
        { fact: 'idleMs', operator: 'lessThan', value: 30 * 60_000 },
      ],
    },
    event: { type: 'matched' },
  });
  return engine;
}

/** Profiles built by the real fold: varied plans, favourites, order counts and idle times. */
function activationPool(): { event: NudgeEvent; user: Profile; now: number }[] {
  const t0 = Date.UTC(2026, 10, 29, 9, 0, 0);
  const pool: { event: NudgeEvent; user: Profile; now: number }[] = [];
  for (let i = 0; i < poolSize; i++) {
    const user = draftOf(emptyProfile('w1', `p${i}`, t0));
    const base = { workspaceId: 'w1', userId: `u${i}`, anonymousId: `a${i}`, previousId: null, groupId: null, context: { locale: 'de-DE', timezone: 'Europe/Berlin' } };
    const track = (at: number, type: NudgeEvent['type'], name: string, properties: Record<string, unknown>, traits: Record<string, unknown> = {}): NudgeEvent => ({
      ...base, messageId: `m${i}-${at}-${name}`, type, name, properties, traits, timestamp: t0 + at, receivedAt: t0 + at,
    });
    applyEvent(user, track(0, 'identify', '', {}, { plan: ['free', 'pro', 'vip'][i % 3], favourite_categories: i % 4 === 0 ? ['bags'] : ['shoes', 'bags'], email: `u${i}@example.com` }), defaultProfileOptions);
    for (let k = 0; k < (i * 7) % 16; k++) applyEvent(user, track(1000 + k, 'track', 'order_completed', { revenue: 20 + k, currency: 'EUR' }), defaultProfileOptions);
    const now = t0 + 3_600_000;
    const event = track(3_600_000 - ((i * 13) % 45) * 60_000, 'track', i % 5 === 0 ? 'product_viewed' : 'cart_updated', {
      item_count: i % 6, cart_value: 19.9 * (i % 6), currency: 'EUR', sku: `SKU-${i}`, path: '/cart', coupon: null,
    });
    applyEvent(user, event, defaultProfileOptions);
    pool.push({ event, user, now });
  }
  return pool;
}

/** Calls `run` over the pool for about `ms` milliseconds (after a warm-up) and returns calls/s. */
async function rate(ms: number, run: (i: number) => unknown): Promise<number> {
  const measure = async (budgetMs: number) => {
    const started = performance.now();
    let calls = 0;
    while (performance.now() - started < budgetMs) {
      for (let i = 0; i < poolSize; i++) {
        const r = run(i);
        if (r instanceof Promise) await r;
      }
      calls += poolSize;
    }
    return calls / ((performance.now() - started) / 1000);
  };
  await measure(Math.min(500, ms / 4));
  return measure(ms);
}

export const conditionsBenchmark: Benchmark = {
  name: 'conditions',
  title: 'trigger conditions: compiled CEL vs json-rules-engine vs a hand-written predicate',
  async run(): Promise<BenchmarkReport> {
    const ms = envInt('BENCH_CONDITION_MS', 3000);
    const failures: string[] = [];
    const compiled = compileCondition(rule);
    if (!compiled.ok) throw new Error(`the benchmark rule does not compile: ${compiled.error.message}`);
    const condition = compiled.condition;
    const engine = rulesEngine();
    const pool = activationPool();
    const activations: Activation[] = pool;
    const engineFacts = pool.map((a) => ({ event: a.event, user: a.user, idleMs: a.now - a.user.computed.lastSeenAt }));
    const matchesOf = async (i: number) => (await engine.run(engineFacts[i]!)).events.length > 0;

    let matched = 0;
    for (let i = 0; i < poolSize; i++) {
      const expected = handWritten(pool[i]!);
      const ours = condition.evaluate(activations[i]!);
      const theirs = await matchesOf(i);
      if (expected) matched++;
      if (!ours.ok || ours.value !== expected || theirs !== expected) {
        failures.push(`activation ${i}: hand-written ${expected}, Nudge ${JSON.stringify(ours)}, json-rules-engine ${theirs}`);
        if (failures.length > 5) break;
      }
    }
    console.log(`  rule: ${rule}`);
    console.log(`  ${poolSize} activations built by the real profile fold; the rule matches ${matched} of them; all three agree: ${failures.length === 0}`);

    const nudge = await rate(ms, (i) => condition.test(activations[i]!));
    const jre = await rate(ms, (i) => matchesOf(i));
    const floor = await rate(ms, (i) => handWritten(pool[i]!));
    console.log(
      formatTable(
        ['system', 'evaluations/s', 'ns per evaluation', 'vs Nudge'],
        [
          ['Nudge (compiled CEL)', num(nudge), num(1e9 / nudge, 0), '1×'],
          ['json-rules-engine 7.3.1', num(jre), num(1e9 / jre, 0), `${num(nudge / jre, 0)}× slower`],
          ['hand-written JS (floor)', num(floor), num(1e9 / floor, 0), `${num(floor / nudge, 1)}× faster`],
        ],
      ),
    );
    return {
      rows: [
        { what: 'condition evaluations/s', nudge: num(nudge), floor: num(floor), ratio: `${num(nudge / floor, 2)}×`, target: `≥ ${num(targetPerSecond)}`, met: nudge >= targetPerSecond },
        { what: 'json-rules-engine evaluations/s', nudge: num(jre), floor: num(floor), ratio: `${num(jre / floor, 4)}×`, target: `Nudge ${num(nudge / jre, 0)}× faster`, met: null },
      ],
      failures,
    };
  },
};
