/**
 * Checkpoints written in slices: a crash after any commit (an append or a slice) leaves a store
 * from which a restart rebuilds exactly what a clean run has, although slices stored some profiles
 * past the checkpoint (replay must not fold those events into them twice). Every crash point of a
 * story with merges and re-linked keys, on memory and SQLite, then random histories.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { MemoryStore } from '../../src/backends/memory/memory-store.js';
import { SqliteStore } from '../../src/backends/sqlite/sqlite-store.js';
import type { NudgeEvent } from '../../src/core/event.js';
import { identityKeysOf } from '../../src/core/ingest-fold.js';
import { defaultProfileOptions, type Profile } from '../../src/core/profile.js';
import { IngestPipeline, type IngestOptions } from '../../src/engine/ingest-pipeline.js';
import { SimulatedClock } from '../../src/ports/clock.js';
import type { Commit, Store } from '../../src/ports/store.js';
import { ControlledStore } from '../support/controlled-store.js';
import { event, t0, type EventSpec } from '../support/events.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nudge-sliced-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const options: IngestOptions = { profile: defaultProfileOptions, dedupWindowMs: 86_400_000, dedupMaxEntries: 100_000, cacheMaxProfiles: 1000, checkpointIntervalMs: 0 };

interface Backend {
  name: string;
  /** A fresh store, and how a restarted process opens the same data. */
  open(): { store: Store; reopen: () => Store };
}

const backends: Backend[] = [
  { name: 'memory', open: () => { const store = new MemoryStore(); return { store, reopen: () => store }; } },
  {
    name: 'sqlite',
    open: () => {
      const file = path.join(dir, `sliced-${++files}.db`);
      return { store: new SqliteStore({ path: file }), reopen: () => new SqliteStore({ path: file }) };
    },
  },
];

interface Slicing {
  checkpointSliceRows: number;
  checkpointSliceMaxRows: number;
  checkpointMaxDirty: number;
}

interface Snapshot {
  profiles: Record<string, Profile>;
  attribution: Record<string, string>;
  identities: Record<string, string>;
}

async function snapshot(store: Store, keys: readonly string[]): Promise<Snapshot> {
  const profiles: Record<string, Profile> = {};
  for (let cursor: string | null = null, first = true; first || cursor; first = false) {
    const page = await store.profiles.search('w1', { limit: 1000, cursor });
    for (const p of page.items) profiles[p.profileId] = p;
    cursor = page.nextCursor;
  }
  const attribution: Record<string, string> = {};
  for (const { event: e } of await store.events.readAfter(0, 1_000_000)) attribution[e.messageId] = e.profileId;
  const identities = Object.fromEntries(await store.profiles.resolveIdentities('w1', keys));
  return JSON.parse(JSON.stringify({ profiles, attribution, identities })) as Snapshot;
}

/** Submits the batches one turn of the event loop apart, so flushes and slices take turns. */
async function submitAll(pipeline: IngestPipeline, batches: readonly NudgeEvent[][], pauses: readonly number[] = [1]): Promise<void> {
  const pending: Promise<unknown>[] = [];
  for (const [i, batch] of batches.entries()) {
    pending.push(pipeline.submit('w1', batch).catch(() => null));
    for (let k = 0; k < pauses[i % pauses.length]!; k++) await new Promise<void>((r) => setImmediate(r));
  }
  await Promise.all(pending);
}

interface CrashOutcome {
  /** Commits the first process made before it died. */
  commits: Commit[];
  /** A slice had stored a profile past the checkpoint the restart began from. */
  aheadOfCheckpoint: boolean;
}

/**
 * Runs the batches on a process that dies after `dieAfter` commits, restarts on what it left and
 * checks the result against a clean run of the events that were stored.
 */
async function crashAndCompare(backend: Backend, batches: readonly NudgeEvent[][], slicing: Slicing, dieAfter: number, pauses?: readonly number[]): Promise<CrashOutcome> {
  const clock = new SimulatedClock(t0 + 86_400_000);
  const opened = backend.open();
  const dying = new ControlledStore(opened.store);
  dying.dieAfterCommits(dieAfter);
  const first = new IngestPipeline(dying, clock, { ...options, ...slicing }, () => {});
  await first.start();
  await submitAll(first, batches, pauses);
  // Waits for everything the first process was doing; its close fails once it is dead.
  await first.close().catch(() => {});

  const store = opened.reopen();
  const checkpoint = await store.checkpoint();
  const storedIds = [...new Set(Object.values((await snapshot(store, [])).attribution))];
  const folded = await store.profiles.foldedThrough('w1', storedIds);
  const aheadOfCheckpoint = [...folded.values()].some((at) => at > checkpoint);
  const second = new IngestPipeline(store, clock, options);
  await second.start();
  await second.close();

  const stored = new Set((await store.events.readAfter(0, 1_000_000)).map((l) => l.event.messageId));
  const clean = new MemoryStore();
  const cleanRun = new IngestPipeline(clean, clock, options);
  await cleanRun.start();
  for (const batch of batches) {
    const kept = batch.filter((e) => stored.has(e.messageId));
    if (kept.length > 0) await cleanRun.submit('w1', kept);
  }
  await cleanRun.close();

  const keys = [...new Set(batches.flat().flatMap(identityKeysOf))];
  assert.deepEqual(await snapshot(store, keys), await snapshot(clean, keys), `died after ${dieAfter} commits`);
  if (store !== opened.store) await opened.store.close();
  await store.close();
  return { commits: dying.committed, aheadOfCheckpoint };
}

// Merges both ways, an alias that takes a device from one profile to another, revenue to count.
const story: EventSpec[][] = [
  [{ anonymousId: 'd1', type: 'page', name: 'Home', at: 1 }, { userId: 'bea', name: 'order_completed', properties: { revenue: 20 }, at: 2 }, { userId: 'cy', at: 2 }],
  [{ anonymousId: 'd1', name: 'cart_updated', at: 3 }, { anonymousId: 'd2', at: 3 }],
  [{ type: 'identify', userId: 'bea', anonymousId: 'd1', traits: { email: 'bea@example.com' }, at: 4 }],
  [{ userId: 'bea', name: 'order_completed', properties: { revenue: 5 }, at: 5 }, { type: 'alias', userId: 'cy', previousId: 'd2', at: 5 }],
  [{ type: 'identify', userId: 'dee', anonymousId: 'd3', at: 6 }, { anonymousId: 'd3', name: 'viewed', at: 6 }],
  [{ type: 'alias', userId: 'eve', previousId: 'dee', anonymousId: 'd1', at: 7 }],
  [{ anonymousId: 'd1', name: 'order_completed', properties: { revenue: 7 }, at: 8 }, { userId: 'bea', at: 8 }, { userId: 'cy', at: 8 }],
  [{ userId: 'fay', anonymousId: 'd2', at: 9 }, { userId: 'eve', at: 9 }],
];
const storyBatches = (): NudgeEvent[][] => story.map((batch, i) => batch.map((spec, j) => event({ messageId: `s${i}e${j}`, ...spec })));

const slicings: Slicing[] = [
  { checkpointSliceRows: 1, checkpointSliceMaxRows: 4, checkpointMaxDirty: 3 },
  { checkpointSliceRows: 3, checkpointSliceMaxRows: 12, checkpointMaxDirty: 1 },
  { checkpointSliceRows: 2, checkpointSliceMaxRows: 8, checkpointMaxDirty: 8 },
];

for (const backend of backends) {
  describe(`sliced checkpoints on ${backend.name}`, () => {
    test('a crash after any commit, between slices too, restarts into the profiles of a clean run', async () => {
      let crashesAhead = 0;
      for (const slicing of slicings) {
        const { commits } = await crashAndCompare(backend, storyBatches(), slicing, Number.MAX_SAFE_INTEGER);
        const slices = commits.filter((c) => c.events.length === 0 && c.profiles.length > 0);
        assert.ok(slices.length >= 3, `several slices (${slices.length})`);
        for (let dieAfter = 0; dieAfter <= commits.length; dieAfter++) {
          if ((await crashAndCompare(backend, storyBatches(), slicing, dieAfter)).aheadOfCheckpoint) crashesAhead++;
        }
      }
      assert.ok(crashesAhead > 0, 'some crashes left profiles stored past the checkpoint');
    });
  });
}

test('slices take turns with flushes, keep pace within their bounds, and the checkpoint only moves forward', async () => {
  const store = new ControlledStore(new MemoryStore());
  const pipeline = new IngestPipeline(store, new SimulatedClock(t0), { ...options, checkpointSliceRows: 2, checkpointSliceMaxRows: 8, checkpointMaxDirty: 10 });
  await pipeline.start();
  // Every user new: a profile and a link each, 10 entries per batch.
  const batches = Array.from({ length: 12 }, (_, b) => Array.from({ length: 5 }, (_, i) => event({ userId: `u${b}-${i}`, at: b })));
  await submitAll(pipeline, batches);
  await pipeline.close();
  const kinds = store.committed.map((c) => (c.events.length > 0 ? 'append' : 'slice'));
  const slices = store.committed.filter((c) => c.events.length === 0).slice(0, -1); // the last is close's
  assert.ok(slices.length >= 5, kinds.join(' '));
  for (const s of slices) assert.ok(s.profiles.length + s.identities.length + s.merges.length <= 4 * 2, `slice of ${s.profiles.length} profiles`);
  assert.ok(kinds.some((k, i) => k === 'slice' && kinds[i + 1] === 'append' && kinds.slice(i + 2).includes('slice')), `appends between slices: ${kinds.join(' ')}`);
  const checkpoints = store.committed.flatMap((c) => (c.checkpoint === undefined ? [] : [c.checkpoint]));
  assert.deepEqual(checkpoints, [...checkpoints].sort((a, b) => a - b));
  assert.equal(await store.checkpoint(), 60);
  assert.equal(await store.profiles.count('w1'), 60);
});

test('a checkpoint for a consistent read is written in slices, the event loop turning between them', async () => {
  const store = new ControlledStore(new MemoryStore());
  const pipeline = new IngestPipeline(store, new SimulatedClock(t0), { ...options, checkpointSliceRows: 2, checkpointSliceMaxRows: 8, checkpointMaxDirty: 1_000_000 });
  await pipeline.start();
  await pipeline.submit('w1', Array.from({ length: 30 }, (_, i) => event({ userId: `u${i}`, at: i })));
  const before = store.committed.length;

  // Count the turns of the event loop while the read waits for the checkpoint.
  let turns = 0;
  let reading = true;
  const turnsAtCommit: number[] = [];
  const tick = (): void => {
    turns++;
    if (reading) setImmediate(tick);
  };
  setImmediate(tick);
  const realCommit = store.commit.bind(store);
  store.commit = (changes: Commit) => {
    turnsAtCommit.push(turns);
    return realCommit(changes);
  };
  const count = await pipeline.readCheckpointed(() => store.profiles.count('w1'));
  reading = false;

  assert.equal(count, 30, 'the read sees every accepted profile');
  const slices = store.committed.slice(before);
  assert.ok(slices.length >= 8, `${slices.length} commits for 30 profiles and 30 links in slices of at most 8`);
  for (const c of slices) assert.ok(c.profiles.length + c.identities.length <= 8);
  assert.ok(turnsAtCommit.every((t, i) => i === 0 || t > turnsAtCommit[i - 1]!), `a turn between every two slices: ${turnsAtCommit.join(' ')}`);
  assert.equal(await store.checkpoint(), 30);
  await pipeline.close();
});

// ---- random histories, random slicing, a crash at a random commit ----

const users = ['ann', 'bob', 'cid'];
const devices = ['d1', 'd2', 'd3', 'd4'];
const eventArb = fc
  .record({
    kind: fc.constantFrom('track', 'identify', 'page', 'alias'),
    userId: fc.option(fc.constantFrom(...users), { nil: null }),
    anonymousId: fc.option(fc.constantFrom(...devices), { nil: null }),
    previousId: fc.constantFrom(...users, ...devices),
    minute: fc.integer({ min: 0, max: 120 }),
    revenue: fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }),
  })
  .filter((e) => (e.kind === 'alias' ? e.userId !== null : e.userId !== null || e.anonymousId !== null));

// SLICED_RUNS=20000 for a longer search.
test('random histories: a crash at any commit restarts into the profiles of a clean run', async () => {
  const memory = backends[0]!;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(eventArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 10 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 0, max: 25 }),
      fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 5 }),
      async (draws, sliceRows, maxDirty, dieAfter, pauses) => {
        let n = 0;
        const batches = draws.map((batch) =>
          batch.map((d) =>
            event({
              messageId: `r${n++}`,
              type: d.kind,
              name: d.kind === 'track' ? 'bought' : d.kind === 'page' ? 'Home' : '',
              userId: d.userId,
              anonymousId: d.anonymousId,
              previousId: d.kind === 'alias' ? d.previousId : null,
              timestamp: t0 + d.minute * 60_000,
              properties: d.revenue === undefined ? {} : { revenue: d.revenue },
            }),
          ),
        );
        await crashAndCompare(memory, batches, { checkpointSliceRows: sliceRows, checkpointSliceMaxRows: 4 * sliceRows, checkpointMaxDirty: maxDirty }, dieAfter, pauses);
      },
    ),
    {
      numRuns: Number(process.env['SLICED_RUNS'] ?? 300),
      examples: [
        // A key an event found unlinked (u:ann, looked up by the first alias) is linked later, to a profile
        // written before the event's own: the replay must not see that link.
        [[[{ kind: 'track', userId: null, anonymousId: 'd1', previousId: 'ann', minute: 0, revenue: undefined }], [{ kind: 'alias', userId: 'bob', anonymousId: null, previousId: 'ann', minute: 0, revenue: undefined }], [{ kind: 'alias', userId: 'ann', anonymousId: null, previousId: 'd1', minute: 0, revenue: undefined }]], 1, 1, 2, [0]],
      ],
    },
  );
});
