/**
 * IngestPipeline on real stores and a simulated clock: group commit, deduplication (within a
 * group, across groups, across a restart), failed commits, and per-user order.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { MemoryStore } from '../../src/backends/memory/memory-store.js';
import { SqliteStore } from '../../src/backends/sqlite/sqlite-store.js';
import { defaultProfileOptions } from '../../src/core/profile.js';
import { IngestPipeline, type CommitStats, type IngestOptions, type IngestResult } from '../../src/engine/ingest-pipeline.js';
import { SimulatedClock } from '../../src/ports/clock.js';
import type { Store } from '../../src/ports/store.js';
import { ControlledStore } from '../support/controlled-store.js';
import { event, t0, type EventSpec } from '../support/events.js';

const hour = 3_600_000;
const options: IngestOptions = { profile: defaultProfileOptions, dedupWindowMs: 24 * hour, dedupMaxEntries: 100_000, cacheMaxProfiles: 1000 };

const dir = mkdtempSync(path.join(tmpdir(), 'nudge-pipeline-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

interface Backend {
  name: string;
  /** Opens a fresh store; `again()` opens the same data anew (durable backends only). */
  open(): { store: Store; again?: () => Store };
}

const backends: Backend[] = [
  { name: 'memory', open: () => ({ store: new MemoryStore() }) },
  {
    name: 'sqlite',
    open: () => {
      const file = path.join(dir, `pipeline-${++files}.db`);
      return { store: new SqliteStore({ path: file }), again: () => new SqliteStore({ path: file }) };
    },
  },
];

async function started(store: Store, clock = new SimulatedClock(t0)): Promise<{ pipeline: IngestPipeline; commits: CommitStats[]; errors: unknown[] }> {
  const errors: unknown[] = [];
  const pipeline = new IngestPipeline(store, clock, options, (e) => errors.push(e));
  const commits: CommitStats[] = [];
  pipeline.onCommit((_changes, stats) => commits.push(stats));
  await pipeline.start();
  return { pipeline, commits, errors };
}

const submit = (pipeline: IngestPipeline, ...specs: EventSpec[]): Promise<IngestResult> => pipeline.submit(specs[0]?.workspaceId ?? 'w1', specs.map(event));

for (const backend of backends) {
  describe(`IngestPipeline on ${backend.name}`, () => {
    test('concurrent submissions share commits; those arriving during a commit form the next group', async () => {
      const { store } = backend.open();
      const gated = new ControlledStore(store);
      const { pipeline, commits } = await started(gated);
      try {
        const firstGroup = Array.from({ length: 20 }, (_, i) => submit(pipeline, { userId: `u${i % 5}`, at: i }));
        const release = gated.holdCommits();
        await gated.commitArrived();
        const secondGroup = Array.from({ length: 30 }, (_, i) => submit(pipeline, { userId: `u${i % 7}`, at: 100 + i }, { anonymousId: `d${i}`, at: 100 + i }));
        release();
        const results = await Promise.all([...firstGroup, ...secondGroup]);
        assert.ok(results.every((r) => r.duplicates === 0));
        assert.deepEqual(commits.map((c) => [c.requests, c.events]), [[20, 20], [30, 60]]);
        assert.equal(await store.events.count('w1'), 80);
      } finally {
        await pipeline.close();
        await store.close();
      }
    });

    test('a duplicate within one submission, one group or across groups is stored once', async () => {
      const { store } = backend.open();
      const { pipeline } = await started(store);
      try {
        const within = submit(pipeline, { messageId: 'a', userId: 'ann' }, { messageId: 'a', userId: 'ann' }, { messageId: 'b', userId: 'ann' });
        const sameGroup = submit(pipeline, { messageId: 'b', userId: 'ann' }, { messageId: 'c', userId: 'bob' });
        const otherWorkspace = submit(pipeline, { workspaceId: 'w2', messageId: 'a', userId: 'ann' });
        assert.deepEqual(await Promise.all([within, sameGroup, otherWorkspace]), [
          { accepted: 2, duplicates: 1 },
          { accepted: 1, duplicates: 1 },
          { accepted: 1, duplicates: 0 },
        ]);
        assert.deepEqual(await submit(pipeline, { messageId: 'c', userId: 'bob' }, { messageId: 'a', userId: 'ann' }), { accepted: 0, duplicates: 2 });
        assert.equal(await store.events.count('w1'), 3);
        assert.equal(await store.events.count('w2'), 1);
        await pipeline.checkpoint();
        assert.equal((await store.profiles.getProfiles('w1', ['u:ann'])).get('u:ann')?.computed.eventCount, 2);
      } finally {
        await pipeline.close();
        await store.close();
      }
    });

    test('a failed commit rejects every submission of its group, stores nothing, and the pipeline goes on', async () => {
      const { store } = backend.open();
      const faulty = new ControlledStore(store);
      const { pipeline, commits } = await started(faulty);
      try {
        await submit(pipeline, { messageId: 'seed', userId: 'ann', at: 0 });
        faulty.failNextCommits(1);
        const group = [
          submit(pipeline, { messageId: 'x1', userId: 'ann', at: 1, properties: { revenue: 10 }, name: 'bought' }),
          submit(pipeline, { messageId: 'x2', anonymousId: 'dev1', at: 2 }),
          submit(pipeline, { messageId: 'x3', type: 'identify', userId: 'ann', anonymousId: 'dev1', at: 3 }),
        ];
        const outcomes = await Promise.allSettled(group);
        assert.deepEqual(outcomes.map((o) => o.status), ['rejected', 'rejected', 'rejected']);
        assert.equal(await store.events.count('w1'), 1);
        await pipeline.checkpoint();
        assert.equal(await store.profiles.count('w1'), 1);
        assert.equal(commits.length, 1, 'listeners hear only of commits that happened');

        // The same events are accepted on retry, and the profile shows no trace of the failure.
        const retried = await Promise.all([
          submit(pipeline, { messageId: 'x1', userId: 'ann', at: 1, properties: { revenue: 10 }, name: 'bought' }),
          submit(pipeline, { messageId: 'x2', anonymousId: 'dev1', at: 2 }, { messageId: 'x3', type: 'identify', userId: 'ann', anonymousId: 'dev1', at: 3 }),
        ]);
        assert.deepEqual(retried, [{ accepted: 1, duplicates: 0 }, { accepted: 2, duplicates: 0 }]);
        await pipeline.checkpoint();
        const ann = (await store.profiles.getProfiles('w1', ['u:ann'])).get('u:ann');
        assert.equal(ann?.computed.eventCount, 4);
        assert.equal(ann?.computed.totals['revenue'], 10);
        assert.equal(await store.events.count('w1'), 4);
      } finally {
        await pipeline.close();
        await store.close();
      }
    });

    test("one user's events apply in submit order, across groups", async () => {
      const { store } = backend.open();
      const gated = new ControlledStore(store);
      const { pipeline, commits } = await started(gated);
      try {
        // Same timestamp everywhere: only the order of application tells them apart.
        const names = Array.from({ length: 30 }, (_, i) => `p${i}`);
        const pending: Promise<IngestResult>[] = [];
        let release = gated.holdCommits();
        for (const [i, name] of names.entries()) {
          pending.push(submit(pipeline, { userId: 'ann', type: 'page', name, at: 0 }));
          if (i % 10 === 9) {
            await gated.commitArrived();
            const open = release;
            release = gated.holdCommits();
            open();
          }
        }
        release();
        await Promise.all(pending);
        assert.ok(commits.length >= 3, `several groups (${commits.length})`);
        const stored = (await store.events.query('w1', { profileId: 'u:ann', limit: 100 })).items.map((e) => e.name).reverse();
        assert.deepEqual(stored, names, 'stored in submit order');
        await pipeline.checkpoint();
        const ann = (await store.profiles.getProfiles('w1', ['u:ann'])).get('u:ann');
        assert.equal(ann?.computed.lastPage?.name, 'p29');
      } finally {
        await pipeline.close();
        await store.close();
      }
    });

    test('after a restart the dedup window is rebuilt from the store, and forgets what is older than the window', async (t) => {
      const opened = backend.open();
      if (!opened.again) return t.skip(`${backend.name} keeps nothing across a restart`);
      const clock = new SimulatedClock(t0);
      const first = await started(opened.store, clock);
      await submit(first.pipeline, { messageId: 'old', userId: 'ann', receivedAt: t0 });
      clock.advance(20 * hour);
      await submit(first.pipeline, { messageId: 'new', userId: 'ann', receivedAt: clock.now() }, { messageId: 'new2', workspaceId: 'w1', anonymousId: 'd1', receivedAt: clock.now() });
      await first.pipeline.close();
      await opened.store.close();

      clock.advance(5 * hour); // 'old' is now 25 h old: out of the 24 h window; 'new' is 5 h old.
      const store = opened.again();
      const second = await started(store, clock);
      try {
        const result = await submit(second.pipeline, { messageId: 'new', userId: 'ann', receivedAt: clock.now() }, { messageId: 'new2', anonymousId: 'd1', receivedAt: clock.now() });
        assert.deepEqual(result, { accepted: 0, duplicates: 2 });
        assert.equal(await store.events.count('w1'), 3);
        assert.deepEqual(await submit(second.pipeline, { messageId: 'old', userId: 'ann', receivedAt: clock.now() }), { accepted: 1, duplicates: 0 });
      } finally {
        await second.pipeline.close();
        await store.close();
      }
    });
  });
}

test('a read runs after the submissions that came before it and before those after it, so steady ingestion cannot hold it up', async () => {
  const gated = new ControlledStore(new MemoryStore());
  const { pipeline, commits } = await started(gated);
  const release = gated.holdCommits();
  const first = submit(pipeline, { userId: 'ann' });
  await gated.commitArrived();
  const before = submit(pipeline, { userId: 'bea' });
  const read = pipeline.profilesByIds('w1', ['u:bea', 'u:cy']);
  const later = submit(pipeline, { userId: 'cy' });
  release();
  await Promise.all([first, before, later]);
  assert.deepEqual([...(await read).keys()], ['u:bea'], 'bea, submitted before the read, and not cy, after it');
  assert.deepEqual(commits.map((c) => c.requests), [1, 1, 1], 'the submissions on either side of the read are flushed apart');
  await pipeline.close();
});

test('a closed pipeline commits what it accepted and refuses more', async () => {
  const store = new MemoryStore();
  const { pipeline } = await started(store);
  const accepted = submit(pipeline, { userId: 'ann' });
  await pipeline.close();
  assert.deepEqual(await accepted, { accepted: 1, duplicates: 0 });
  await assert.rejects(submit(pipeline, { userId: 'ann' }), /closed/);
  assert.equal(await store.events.count('w1'), 1);
});
