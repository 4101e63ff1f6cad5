/**
 * The backtest and the live engine are the same engine: for random histories over the example
 * shop's triggers, `runBacktest` and a running Nudge (ingest pipeline, trigger engine, durable
 * timer scheduler, outbox; memory stores on a simulated clock) decide exactly the same messages,
 * with the same keys, at the same times.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { loadTriggers } from '../../src/config/triggers.js';
import type { NudgeEvent } from '../../src/core/event.js';
import { defaultProfileOptions } from '../../src/core/profile.js';
import { buildCatalog } from '../../src/core/triggers/catalog.js';
import { compileTrigger } from '../../src/core/triggers/program.js';
import { runBacktest } from '../../src/engine/backtest.js';
import { createNudge } from '../../src/main.js';
import { SimulatedClock } from '../../src/ports/clock.js';
import type { OutboxEntry } from '../../src/ports/engine-store.js';
import { testConfig } from '../support/nudge.js';
import { simulatedTime } from '../support/simulated-time.js';

const triggersDir = path.resolve(import.meta.dirname, '../../examples/shop/triggers');
const dataDir = mkdtempSync(path.join(tmpdir(), 'nudge-live-vs-backtest-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));
const t0 = Date.UTC(2026, 2, 2, 9, 0, 0);
const minute = 60_000;

const kinds = {
  cart: { type: 'track', name: 'cart_updated', properties: { item_count: 2 } },
  emptied: { type: 'track', name: 'cart_updated', properties: { item_count: 0 } },
  order: { type: 'track', name: 'order_completed', properties: { revenue: 20 } },
  product: { type: 'page', name: 'Product', properties: { page_type: 'product' } },
  page: { type: 'page', name: 'Home', properties: { page_type: 'home' } },
  added: { type: 'track', name: 'product_added', properties: {} },
  payment: { type: 'track', name: 'checkout_step_viewed', properties: { step: 'payment' } },
  paid: { type: 'track', name: 'payment_submitted', properties: {} },
} as const;

const historyArb = fc.array(
  fc.record({
    user: fc.constantFrom('ann', 'bob', 'cy'),
    kind: fc.constantFrom(...(Object.keys(kinds) as (keyof typeof kinds)[])),
    gapMs: fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 30 * minute }), fc.integer({ min: 0, max: 30 * 60 * minute })),
  }),
  { minLength: 1, maxLength: 40 },
);

function toEvents(history: { user: string; kind: keyof typeof kinds; gapMs: number }[]): NudgeEvent[] {
  let t = t0;
  return history.map((h, i) => {
    t += h.gapMs;
    const k = kinds[h.kind];
    return {
      workspaceId: 'test',
      messageId: `e${i}`,
      type: k.type,
      name: k.name,
      userId: h.user,
      anonymousId: null,
      previousId: null,
      groupId: null,
      properties: { ...k.properties },
      traits: {},
      context: {},
      timestamp: t,
      receivedAt: t,
    };
  });
}

const describe = (m: { key: string; at: number }) => `${m.key} @${m.at - t0}`;

async function live(events: NudgeEvent[], until: number): Promise<string[]> {
  const time = simulatedTime(new SimulatedClock(t0));
  const config = testConfig(`triggers:\n  dir: ${triggersDir}\n  watch: false\n`, 'memory');
  const nudge = await createNudge({ config, dataDir, clock: time.clock, wakeups: time.wakeups });
  time.attach(nudge);
  const { settle, advanceTo } = time;
  try {
    for (const event of events) {
      await advanceTo(event.timestamp);
      await nudge.pipeline.submit('test', [event]);
      await settle();
    }
    await advanceTo(until);
    const entries: OutboxEntry[] = [];
    let cursor: string | null = null;
    do {
      const page = await nudge.engineStore.listOutbox('test', { limit: 1000, cursor });
      entries.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return entries.map((e) => describe(e.message)).sort();
  } finally {
    await nudge.close();
  }
}

test('for random histories, the live engine and the backtest decide the same messages at the same times', { timeout: 120_000 }, async () => {
  const { triggers, issues } = loadTriggers(triggersDir);
  assert.deepEqual(issues, []);
  const catalog = buildCatalog(triggers.map((t) => compileTrigger(t.definition)));
  let compared = 0;
  await fc.assert(
    fc.asyncProperty(historyArb, async (history) => {
      const events = toEvents(history);
      const until = events[events.length - 1]!.timestamp + 48 * 60 * minute;
      const simulated: string[] = [];
      await runBacktest({ events, catalog, profileOptions: defaultProfileOptions, workspaceId: 'test', until, onSend: (m) => void simulated.push(describe(m)) });
      const lived = await live(events, until);
      assert.deepEqual(lived, simulated.sort());
      compared += simulated.length;
    }),
    { numRuns: 30 },
  );
  assert.ok(compared > 30, `the histories produced messages to compare (${compared})`);
});
