/**
 * Behavioral phases through the real ingest pipeline on SQLite, with the demo shop's rules: the
 * stored timeline carries each change where it became known (`context.phaseChanges`), and a
 * restart that replays the log without a checkpoint rebuilds the same profiles and phases.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { SqliteStore } from '../../src/backends/sqlite/sqlite-store.js';
import { parseConfig } from '../../src/config/config.js';
import { phaseAt } from '../../src/core/phases.js';
import { IngestPipeline } from '../../src/engine/ingest-pipeline.js';
import { SimulatedClock } from '../../src/ports/clock.js';
import { event, minute, t0 } from '../support/events.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nudge-phases-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const shopFile = new URL('../../examples/shop/nudge.yaml', import.meta.url);
const profile = parseConfig(readFileSync(shopFile, 'utf8'), 'nudge.yaml').profiles;
const options = { profile, dedupWindowMs: 86_400_000, dedupMaxEntries: 100_000, cacheMaxProfiles: 1000, checkpointIntervalMs: 0 };
const at = (m: number) => t0 + m * minute;

async function open(file: string) {
  const store = new SqliteStore({ path: path.join(dir, file) });
  const pipeline = new IngestPipeline(store, new SimulatedClock(at(24 * 60)), options);
  const started = await pipeline.start();
  return { store, pipeline, replayed: started.replayed };
}

const story = [
  [event({ anonymousId: 'anon-1', type: 'page', name: 'Product', at: 1 }), event({ anonymousId: 'anon-1', type: 'page', name: 'Product', at: 2 })],
  [event({ anonymousId: 'anon-1', name: 'cart_updated', properties: { item_count: 1 }, at: 3 }), event({ anonymousId: 'anon-1', name: 'checkout_step_viewed', properties: { step: 'payment' }, at: 4 })],
  [event({ type: 'identify', userId: 'bea', anonymousId: 'anon-1', at: 8, context: { phaseChanges: 'sent by a client' } })],
  [event({ userId: 'bea', name: 'help_clicked', at: 50 })],
];

test('the timeline shows each phase change; a replay rebuilds the same phases', async () => {
  const clean = await open('clean.db');
  for (const batch of story) await clean.pipeline.submit('w1', batch);
  const timeline = (await clean.store.events.query('w1', { profileId: 'a:anon-1', limit: 100 })).items.sort((a, b) => a.timestamp - b.timestamp);
  assert.deepEqual(
    timeline.map((e) => [(e.timestamp - t0) / minute, e.context['phaseChanges'] ?? []]),
    [
      [1, [{ from: null, to: 'exploring', at: at(1) }]],
      [2, [{ from: 'exploring', to: 'considering', at: at(2) }]],
      [3, []],
      [4, []],
      [8, [{ from: 'considering', to: 'hesitating', at: at(6) }]],
      [50, [{ from: 'hesitating', to: 'disengaged', at: at(38) }, { from: 'disengaged', to: 'considering', at: at(50) }]],
    ],
  );
  await clean.pipeline.close();
  const expected = await clean.store.exportUser('w1', 'a:anon-1');
  assert.deepEqual([expected?.profile.computed.phase, expected?.profile.computed.phaseSince], ['considering', at(50)]);

  const crashed = await open('crashed.db');
  for (const batch of story) await crashed.pipeline.submit('w1', batch);
  const restarted = await open('crashed.db');
  assert.equal(restarted.replayed, 6);
  assert.deepEqual(await restarted.store.exportUser('w1', 'a:anon-1'), expected);
  const bea = await restarted.pipeline.profile('w1', 'bea');
  assert.deepEqual(phaseAt(bea!, profile.phases!, at(80)), { phase: 'disengaged', since: at(80) });
  await restarted.pipeline.close();
  await crashed.store.close();
  await clean.store.close();
});
