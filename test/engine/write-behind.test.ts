/**
 * Profiles are written behind the event log: these tests cut the process short (no close, no
 * checkpoint) and check that a restart rebuilds exactly what a clean run has.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/backends/sqlite/sqlite-store.js';
import { defaultProfileOptions } from '../../src/core/profile.js';
import { IngestPipeline } from '../../src/engine/ingest-pipeline.js';
import { SimulatedClock } from '../../src/ports/clock.js';
import { event, t0 } from '../support/events.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nudge-write-behind-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const options = { profile: defaultProfileOptions, dedupWindowMs: 86_400_000, dedupMaxEntries: 100_000, cacheMaxProfiles: 1000, checkpointIntervalMs: 0 };

async function open(file: string) {
  const store = new SqliteStore({ path: path.join(dir, file) });
  const pipeline = new IngestPipeline(store, new SimulatedClock(t0 + 24 * 3_600_000), options);
  const started = await pipeline.start();
  return { store, pipeline, replayed: started.replayed };
}

// A story with every kind of derived change: new profiles, links, a merge, traits, sums.
const story = [
  [event({ anonymousId: 'anon-1', type: 'page', name: 'Home', at: 1 }), event({ userId: 'bea', name: 'order_completed', properties: { revenue: 20 }, at: 2 })],
  [event({ anonymousId: 'anon-1', name: 'cart_updated', at: 3 })],
  [event({ type: 'identify', userId: 'bea', anonymousId: 'anon-1', traits: { email: 'bea@example.com' }, at: 4 })],
  [event({ userId: 'bea', name: 'order_completed', properties: { revenue: 5 }, at: 5 }), event({ anonymousId: 'anon-2', at: 6 })],
];

/** The whole story through a pipeline that closes cleanly, and bea's export after it. */
async function cleanRun(file: string) {
  const clean = await open(file);
  for (const batch of story) await clean.pipeline.submit('w1', batch);
  await clean.pipeline.close();
  return { clean, expected: await clean.store.exportUser('w1', 'u:bea') };
}

test('a restart without a checkpoint replays the log into the same profiles and timelines', async () => {
  const { clean, expected } = await cleanRun('clean.db');

  const crashed = await open('crashed.db');
  for (const batch of story) await crashed.pipeline.submit('w1', batch);
  assert.deepEqual(await crashed.pipeline.identitiesOf('w1', 'u:bea'), await clean.store.profiles.identitiesOf('w1', 'u:bea'), 'unwritten links are shown as written ones');
  // No close, no checkpoint: the process "dies" here with every profile change unwritten.
  assert.equal(await crashed.store.checkpoint(), 0);
  assert.equal(await crashed.store.profiles.count('w1'), 0, 'profiles were written behind, not with the events');

  const restarted = await open('crashed.db');
  assert.equal(restarted.replayed, 6);
  assert.deepEqual(await restarted.store.exportUser('w1', 'u:bea'), expected);
  assert.equal((await restarted.pipeline.profile('w1', 'anon-1'))?.profileId, 'u:bea', 'the anonymous id now leads to the merged profile');
  assert.equal((await restarted.pipeline.profile('w1', 'bea'))?.computed.totals['revenue'], 25);
  await restarted.pipeline.close();
  await crashed.store.close();
  await clean.store.close();
});

test('unwritten profile changes are visible to reads before any checkpoint', async () => {
  const { store, pipeline } = await open('reads.db');
  await pipeline.submit('w1', [event({ userId: 'cy', name: 'signed_up' })]);
  assert.equal((await pipeline.profile('w1', 'cy'))?.computed.eventCount, 1);
  const timeline = await store.events.query('w1', { profileId: 'u:cy' });
  assert.deepEqual(timeline.items.map((e) => e.name), ['signed_up'], 'the unindexed tail is part of the timeline');
  await pipeline.close();
  await store.close();
});

test("a profile's identities include links written before a merge that is not written yet", async () => {
  const { store, pipeline } = await open('identities.db');
  await pipeline.submit('w1', [event({ anonymousId: 'phone', at: 1 }), event({ anonymousId: 'laptop', at: 1 }), event({ userId: 'eve', at: 1 })]);
  await pipeline.checkpoint();
  await pipeline.submit('w1', [event({ type: 'identify', userId: 'eve', anonymousId: 'phone', at: 2 })]);
  await pipeline.submit('w1', [event({ type: 'alias', userId: 'eve', previousId: 'laptop', at: 3 })]);
  const pending = await pipeline.identitiesOf('w1', 'u:eve');
  assert.deepEqual(pending, ['a:laptop', 'a:phone', 'u:eve']);
  assert.deepEqual(await pipeline.identitiesOf('w1', 'a:phone'), [], 'the merged-away profile has none left');
  await pipeline.checkpoint();
  assert.deepEqual(await store.profiles.identitiesOf('w1', 'u:eve'), pending);
  await pipeline.close();
  await store.close();
});

test('a failed append leaves no trace in profiles and the next one still lands', async () => {
  const { store, pipeline } = await open('failing.db');
  await pipeline.submit('w1', [event({ userId: 'dee', name: 'a' })]);
  const commit = store.commit.bind(store);
  store.commit = async () => {
    throw new Error('disk full');
  };
  await assert.rejects(pipeline.submit('w1', [event({ userId: 'dee', name: 'b', properties: { revenue: 99 } })]), /disk full/);
  store.commit = commit;
  await pipeline.submit('w1', [event({ userId: 'dee', name: 'c' })]);
  const profile = await pipeline.profile('w1', 'dee');
  assert.deepEqual(Object.keys(profile!.computed.events).sort(), ['a', 'c']);
  assert.equal(profile!.computed.totals['revenue'], undefined);
  await pipeline.close();
  await store.close();
});

test('a database from before sliced checkpoints upgrades in place and replays what its checkpoint lacks', async () => {
  const { clean, expected } = await cleanRun('upgrade-clean.db');

  const old = await open('upgrade.db');
  for (const batch of story.slice(0, 2)) await old.pipeline.submit('w1', batch);
  await old.pipeline.checkpoint();
  for (const batch of story.slice(2)) await old.pipeline.submit('w1', batch);
  await old.store.close(); // no close of the pipeline: a crash
  // As the file was at schema version 1: no per-profile position.
  const db = new Database(path.join(dir, 'upgrade.db'));
  db.exec('ALTER TABLE profiles DROP COLUMN folded_through');
  db.pragma('user_version = 1');
  db.close();

  const upgraded = await open('upgrade.db');
  assert.equal(upgraded.replayed, 3, 'the events after the checkpoint, each once');
  assert.deepEqual(await upgraded.store.exportUser('w1', 'u:bea'), expected);
  await upgraded.pipeline.close();
  await upgraded.store.close();
  await clean.store.close();
});
