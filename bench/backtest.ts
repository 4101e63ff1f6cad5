/**
 * The backtest (`nudge simulate`): how fast a day of a shop's history replays through the shop's
 * abandoned-cart trigger (examples/shop/triggers/abandoned-cart.yaml: in-app at once, push after
 * 10 minutes, email after 24 hours; an order or an emptied cart ends it) on the simulated clock.
 *
 * In memory, from a seeded generator: every user views a product, puts it in the cart and then
 * buys within 10 minutes, buys later that day, empties the cart, or does nothing; a few page views
 * in between. The clock is run 25 hours past the last event, so every sequence plays out. What the
 * trigger must have done is computed from the generated outcomes and checked against the report
 * (a mismatch fails the run). Only `runBacktest` is timed, not the generation.
 *
 * Settings (environment): BENCH_BACKTEST_USERS (default 100,000).
 */
import { readFileSync } from 'node:fs';
import { parseTrigger } from '../src/config/triggers.js';
import type { NudgeEvent } from '../src/core/event.js';
import { defaultProfileOptions } from '../src/core/profile.js';
import { buildCatalog } from '../src/core/triggers/catalog.js';
import { compileTrigger } from '../src/core/triggers/program.js';
import { runBacktest } from '../src/engine/backtest.js';
import { envInt, formatTable, num, type Benchmark, type BenchmarkReport } from './support/benchmark.js';
import { mulberry32 as prng } from './support/random.js';

const minute = 60_000;
const hour = 60 * minute;
/** The replay of 100,000 users must take seconds; a minute is the line. */
const targetSeconds = 60;
const t0 = Date.UTC(2026, 2, 2, 0, 0, 0);


interface Expected {
  entered: number;
  inApp: number;
  push: number;
  email: number;
  goals: number;
  exitOn: number;
  completed: number;
}

function history(users: number): { events: NudgeEvent[]; expected: Expected } {
  const random = prng(42);
  const events: NudgeEvent[] = [];
  const expected: Expected = { entered: 0, inApp: 0, push: 0, email: 0, goals: 0, exitOn: 0, completed: 0 };
  let seq = 0;
  const at = (userId: string, offset: number, name: string, properties: Record<string, unknown>, type: NudgeEvent['type'] = 'track'): void => {
    events.push({
      workspaceId: 'shop', messageId: `m${++seq}`, type, name, userId, anonymousId: null, previousId: null, groupId: null,
      properties, traits: {}, context: {}, timestamp: offset, receivedAt: offset,
    });
  };
  for (let i = 0; i < users; i++) {
    const userId = `u${i}`;
    const start = t0 + Math.floor(random() * 24 * hour);
    at(userId, start, '', { page_type: 'product', path: `/p/${i % 500}` }, 'page');
    const cartAt = start + 30_000 + Math.floor(random() * 5 * minute);
    at(userId, cartAt, 'cart_updated', { item_count: 1 + Math.floor(random() * 3), value: 20 + Math.floor(random() * 100) });
    at(userId, cartAt + 20_000, '', { page_type: 'cart', path: '/cart' }, 'page');
    expected.entered++;
    expected.inApp++;
    const outcome = random();
    // Offsets stay clear of the 10-minute push, so no event ties with a timer.
    if (outcome < 0.3) {
      at(userId, cartAt + minute + Math.floor(random() * 8 * minute), 'order_completed', { revenue: 50 });
      expected.goals++;
      expected.exitOn++;
    } else if (outcome < 0.5) {
      at(userId, cartAt + 11 * minute + Math.floor(random() * 12 * hour), 'order_completed', { revenue: 50 });
      expected.push++;
      expected.goals++;
      expected.exitOn++;
    } else if (outcome < 0.6) {
      at(userId, cartAt + 11 * minute + Math.floor(random() * hour), 'cart_updated', { item_count: 0 });
      expected.push++;
      expected.exitOn++;
    } else {
      if (random() < 0.5) at(userId, cartAt + 2 * hour, '', { page_type: 'home', path: '/' }, 'page');
      expected.push++;
      expected.email++;
      expected.completed++;
    }
  }
  events.sort((a, b) => a.timestamp - b.timestamp);
  return { events, expected };
}

export const backtestBenchmark: Benchmark = {
  name: 'backtest',
  title: 'backtest: a day of abandoned carts replayed on the simulated clock',
  async run(): Promise<BenchmarkReport> {
    const users = envInt('BENCH_BACKTEST_USERS', 100_000);
    const file = new URL('../examples/shop/triggers/abandoned-cart.yaml', import.meta.url);
    const parsed = parseTrigger(readFileSync(file, 'utf8'), 'abandoned-cart.yaml');
    if (!parsed.trigger) throw new Error(`abandoned-cart.yaml does not parse: ${JSON.stringify(parsed.issues)}`);
    const catalog = buildCatalog([compileTrigger(parsed.trigger)]);
    const { events, expected } = history(users);
    console.log(`  ${num(users)} users, ${num(events.length)} events over 24 h (generated, sorted), clock run 25 h past the last event`);

    const rssBefore = process.memoryUsage().rss;
    const started = performance.now();
    const report = await runBacktest({ events, catalog, profileOptions: defaultProfileOptions, workspaceId: 'shop', order: 'stream', drainMs: 25 * hour });
    const seconds = (performance.now() - started) / 1000;
    // The peak of the process (KiB), so what the replay held at its largest, garbage included.
    const peakRss = process.resourceUsage().maxRSS * 1024;
    const perSecond = events.length / seconds;

    const t = report.triggers[0]!;
    const sent = (stepId: string): number => t.messages.find((m) => m.stepId === stepId)?.count ?? 0;
    const actual: Expected = {
      entered: t.entered,
      inApp: sent('nudge-in-app'),
      push: sent('personal-code'),
      email: sent('last-call'),
      goals: t.goals,
      exitOn: t.exited['exit_on'] ?? 0,
      completed: t.completed,
    };
    const failures = Object.entries(expected)
      .filter(([k, v]) => actual[k as keyof Expected] !== v)
      .map(([k, v]) => `${k}: expected ${v}, the backtest counted ${actual[k as keyof Expected]}`);
    if (report.timersPending !== 0) failures.push(`${report.timersPending} timers still pending after the drain`);

    console.log(
      formatTable(
        ['entered', 'in-app', 'push', 'email', 'goals', 'exit_on', 'completed', 'timers fired'],
        [[num(t.entered), num(actual.inApp), num(actual.push), num(actual.email), num(t.goals), num(actual.exitOn), num(t.completed), num(report.timersFired)]],
      ),
    );
    console.log(`  replay: ${seconds.toFixed(2)} s, ${num(perSecond)} events/s (${num((seconds * 1e6) / events.length, 2)} µs per event, timers included); peak RSS ${num(peakRss / 2 ** 20)} MiB, ${num(Math.max(0, peakRss - rssBefore) / 2 ** 20)} MiB above the generated input`);
    console.log(`  the numbers match the generated outcomes: ${failures.length === 0}`);
    return {
      rows: [
        {
          what: `backtest of ${num(users)} users (${num(events.length)} events, 24 h)`,
          nudge: `${seconds.toFixed(2)} s, ${num(perSecond)} events/s`,
          floor: '',
          ratio: '',
          target: `< ${targetSeconds} s`,
          met: seconds < targetSeconds,
        },
      ],
      failures,
    };
  },
};
