/**
 * Profiles are written behind the event log: these tests cut the process short (no close, no
 * checkpoint) and check that a restart rebuilds exactly what a clean run has.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { SqliteStore } from '../../src/backends/sqlite/sqlite-store.js';
import type { NudgeEvent } from '../../src/core/event.js';
import { defaultProfileOptions } from '../../src/core/profile.js';
import { IngestPipeline } from '../../src/engine/ingest-pipeline.js';
import { SimulatedClock } from '../../src/ports/clock.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nudge-write-behind-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const t0 = Date.parse('2026-11-29T10:00:00Z');
let n = 0;
function event(fields: Partial<NudgeEvent>): NudgeEvent {
  n++;
  return {
    workspaceId: 'w',
    messageId: `m${n}`,
    type: 'track',
    name: 'viewed',
    userId: null,
    anonymousId: null,
    previousId: null,
    groupId: null,
    properties: {},
    traits: {},
    context: {},
    timestamp: t0 + n * 1000,
    receivedAt: t0 + n * 1000,
    ...fields,
  };
}

const options = { profile: defaultProfileOptions, dedupWindowMs: 86_400_000, dedupMaxEntries: 100_000, cacheMaxProfiles: 1000, checkpointIntervalMs: 0 };

async function open(file: string) {
  const store = new SqliteStore({ path: path.join(dir, file) });
  const pipeline = new IngestPipeline(store, new SimulatedClock(t0 + 100_000), options);
  const started = await pipeline.start();
  return { store, pipeline, replayed: started.replayed };
}

// A story with every kind of derived change: new profiles, links, a merge, traits, sums.
const story = (): NudgeEvent[][] => [
  [event({ anonymousId: 'anon-1', type: 'page', name: 'Home' }), event({ userId: 'bea', name: 'order_completed', properties: { revenue: 20 } })],
  [event({ anonymousId: 'anon-1', name: 'cart_updated' })],
  [event({ type: 'identify', userId: 'bea', anonymousId: 'anon-1', traits: { email: 'bea@example.com' } })],
  [event({ userId: 'bea', name: 'order_completed', properties: { revenue: 5 } }), event({ anonymousId: 'anon-2' })],
];

test('a restart without a checkpoint replays the log into the same profiles and timelines', async () => {
  n = 0;
  const clean = await open('clean.db');
  for (const batch of story()) await clean.pipeline.submit('w', batch);
  await clean.pipeline.close();
  const expected = await clean.store.exportUser('w', 'u:bea');

  n = 0;
  const crashed = await open('crashed.db');
  for (const batch of story()) await crashed.pipeline.submit('w', batch);
  // No close, no checkpoint: the process "dies" here with every profile change unwritten.
  assert.equal(await crashed.store.checkpoint(), 0);
  assert.equal(await crashed.store.profiles.count('w'), 0, 'profiles were written behind, not with the events');

  const restarted = await open('crashed.db');
  assert.equal(restarted.replayed, 6);
  assert.deepEqual(await restarted.store.exportUser('w', 'u:bea'), expected);
  assert.equal((await restarted.pipeline.profile('w', 'anon-1'))?.profileId, 'u:bea', 'the anonymous id now leads to the merged profile');
  assert.equal((await restarted.pipeline.profile('w', 'bea'))?.computed.totals['revenue'], 25);
  await restarted.pipeline.close();
  await crashed.store.close();
  await clean.store.close();
});

test('unwritten profile changes are visible to reads before any checkpoint', async () => {
  n = 0;
  const { store, pipeline } = await open('reads.db');
  await pipeline.submit('w', [event({ userId: 'cy', name: 'signed_up' })]);
  assert.equal((await pipeline.profile('w', 'cy'))?.computed.eventCount, 1);
  const timeline = await store.events.query('w', { profileId: 'u:cy' });
  assert.deepEqual(timeline.items.map((e) => e.name), ['signed_up'], 'the unindexed tail is part of the timeline');
  await pipeline.close();
  await store.close();
});

test('a failed append leaves no trace in profiles and the next one still lands', async () => {
  n = 0;
  const { store, pipeline } = await open('failing.db');
  await pipeline.submit('w', [event({ userId: 'dee', name: 'a' })]);
  const commit = store.commit.bind(store);
  store.commit = async () => {
    throw new Error('disk full');
  };
  await assert.rejects(pipeline.submit('w', [event({ userId: 'dee', name: 'b', properties: { revenue: 99 } })]), /disk full/);
  store.commit = commit;
  await pipeline.submit('w', [event({ userId: 'dee', name: 'c' })]);
  const profile = await pipeline.profile('w', 'dee');
  assert.deepEqual(Object.keys(profile!.computed.events).sort(), ['a', 'c']);
  assert.equal(profile!.computed.totals['revenue'], undefined);
  await pipeline.close();
  await store.close();
});
