/**
 * The contract of `Store` (src/ports) that every backend must pass. A backend's test file calls
 * `storeConformance` with a factory that opens a fresh, empty store; durable backends also give
 * `reopen`, which opens the same data again as a new process would.
 */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { perTestStore } from '../support/conformance.js';
import type { NudgeEvent, StoredEvent } from '../../src/core/event.js';
import type { EventQuery } from '../../src/ports/event-log.js';
import type { Store } from '../../src/ports/store.js';
import { event, foldAgainst, ingest, minute, t0 } from '../support/events.js';

export interface OpenedStore {
  store: Store;
  /** Closes `store` and opens the same data again; required when `capabilities.durable`. */
  reopen?: () => Promise<Store>;
  cleanup: () => Promise<void>;
}


const ids = (events: readonly { messageId: string }[]): string[] => events.map((e) => e.messageId);

async function queryAll(store: Store, ws: string, query: EventQuery = {}): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.events.query(ws, { ...query, cursor });
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return out;
}

/** Newest first by timestamp, ties by insertion (later first): the order `query` promises. */
function expectedOrder(inserted: readonly NudgeEvent[]): string[] {
  return inserted
    .map((e, i) => ({ e, i }))
    .sort((a, b) => b.e.timestamp - a.e.timestamp || b.i - a.i)
    .map(({ e }) => e.messageId);
}

export function storeConformance(name: string, open: () => Promise<OpenedStore>): void {
  const it = perTestStore<Store, OpenedStore>(open);

  describe(`Store conformance: ${name}`, () => {
    it('a commit is visible once it resolves, with every field as committed', async (store) => {
      const e = event({ userId: 'ann', anonymousId: 'dev1', name: 'order_completed', properties: { revenue: 30, items: [{ sku: 'a' }] }, context: { locale: 'de-DE' }, receivedAt: t0 + 5 });
      await ingest(store, [e]);
      const page = await store.events.query('w1', {});
      assert.deepEqual(page.items, [{ ...e, profileId: 'u:ann' }]);
      assert.equal(page.nextCursor, null);
      assert.equal(await store.events.count('w1'), 1);
      assert.equal(await store.profiles.count('w1'), 1);
      const profile = (await store.profiles.getProfiles('w1', ['u:ann'])).get('u:ann');
      assert.equal(profile?.computed.totals['revenue'], 30);
      assert.deepEqual(profile?.anonymousIds, ['dev1']);
    });

    it('a commit that fails applies nothing, and the same change set can be retried', async (store) => {
      await ingest(store, [event({ userId: 'ann' })]);
      const anon = event({ anonymousId: 'dev9' });
      const identify = event({ type: 'identify', userId: 'ann', anonymousId: 'dev9', at: 1, traits: { email: 'ann@example.com' } });
      await ingest(store, [anon]);
      const changes = await foldAgainst(store, 'w1', [identify, event({ userId: 'bob', at: 2 })]);
      assert.equal(changes.merges.length, 1, 'the change set merges dev9 into ann');
      // A value no backend can serialise, placed last so that a partial write would show.
      const poisoned = event({ userId: 'bob', at: 3 });
      Object.defineProperty(poisoned.properties, 'boom', { enumerable: true, get: () => { throw new Error('unserialisable'); } });
      const bad = { ...changes, events: [...changes.events, { ...poisoned, profileId: 'u:bob' }] };
      await assert.rejects(store.commit(bad));

      assert.equal(await store.events.count('w1'), 2);
      assert.equal(await store.profiles.count('w1'), 2);
      assert.deepEqual(Object.fromEntries(await store.profiles.resolveIdentities('w1', ['u:ann', 'a:dev9', 'u:bob'])), { 'u:ann': 'u:ann', 'a:dev9': 'a:dev9' });
      assert.equal((await store.profiles.getProfiles('w1', ['u:ann'])).get('u:ann')?.traits['email'], undefined);

      await store.commit(changes);
      assert.equal(await store.events.count('w1'), 4);
      assert.deepEqual([...(await store.profiles.getProfiles('w1', ['a:dev9', 'u:ann', 'u:bob'])).keys()].sort(), ['u:ann', 'u:bob']);
    });

    it('events come newest first by timestamp, ties in reverse insertion order', async (store) => {
      const first = [event({ userId: 'ann', at: 5 }), event({ userId: 'ann', at: 1 }), event({ userId: 'bob', at: 5 })];
      const second = [event({ userId: 'bob', at: 3 }), event({ userId: 'ann', at: 5 }), event({ userId: 'cid', at: 9 })];
      await ingest(store, first);
      await ingest(store, second);
      assert.deepEqual(ids(await queryAll(store, 'w1', { limit: 2 })), expectedOrder([...first, ...second]));
    });

    it('keyset pages neither repeat nor skip events while new ones are committed', async (store) => {
      const original = Array.from({ length: 25 }, (_, i) => event({ userId: `u${i % 4}`, at: Math.floor(i / 3) }));
      await ingest(store, original);
      const seen: StoredEvent[] = [];
      let cursor: string | null = null;
      let round = 0;
      do {
        const page = await store.events.query('w1', { limit: 4, cursor });
        seen.push(...page.items);
        cursor = page.nextCursor;
        // Newer, equally old and older events arrive between pages.
        await ingest(store, [event({ userId: 'u1', at: 100 + round }), event({ userId: 'u2', at: 4 }), event({ userId: 'u3', at: -1 - round })]);
        round++;
      } while (cursor !== null && round < 50);
      assert.equal(cursor, null, 'pagination ends');
      const seenIds = ids(seen);
      assert.equal(new Set(seenIds).size, seenIds.length, 'no event is returned twice');
      const originalIds = expectedOrder(original);
      assert.deepEqual(seenIds.filter((id) => originalIds.includes(id)), originalIds, 'every original event, in order');
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i - 1]!.timestamp >= seen[i]!.timestamp, 'newest first across pages');
    });

    it('filters by profile, type, name and a [since, until) time range', async (store) => {
      const all = [
        event({ userId: 'ann', name: 'viewed', at: 0 }),
        event({ userId: 'ann', type: 'page', name: 'Home', at: 1 }),
        event({ userId: 'bob', name: 'viewed', at: 2 }),
        event({ userId: 'ann', name: 'bought', at: 3 }),
        event({ userId: 'ann', name: 'viewed', at: 4 }),
        event({ userId: 'bob', type: 'page', name: 'Cart', at: 5 }),
      ];
      await ingest(store, all);
      const pick = (...i: number[]) => expectedOrder(i.map((n) => all[n]!));
      assert.deepEqual(ids(await queryAll(store, 'w1', { profileId: 'u:ann', limit: 1 })), pick(0, 1, 3, 4));
      assert.deepEqual(ids(await queryAll(store, 'w1', { type: 'page' })), pick(1, 5));
      assert.deepEqual(ids(await queryAll(store, 'w1', { name: 'viewed', limit: 2 })), pick(0, 2, 4));
      assert.deepEqual(ids(await queryAll(store, 'w1', { since: t0 + 2 * minute, until: t0 + 4 * minute })), pick(2, 3));
      assert.deepEqual(ids(await queryAll(store, 'w1', { profileId: 'u:ann', name: 'viewed', since: t0 + minute })), pick(4));
      assert.deepEqual(ids(await queryAll(store, 'w1', { profileId: 'u:nobody' })), []);
    });

    it('a cursor from another listing, or not from the store at all, is refused as an invalid request', async (store) => {
      await ingest(store, [event({ userId: 'ann', at: 0 }), event({ userId: 'bob', at: 1 }), event({ userId: 'cid', at: 2 })]);
      const eventCursor = (await store.events.query('w1', { limit: 1 })).nextCursor;
      const profileCursor = (await store.profiles.search('w1', { limit: 1 })).nextCursor;
      assert.ok(eventCursor && profileCursor);
      const invalid = { name: 'NudgeError', code: 'invalid_request' };
      const foreign = Buffer.from('[1]').toString('base64url');
      await assert.rejects(store.events.query('w1', { cursor: profileCursor }), invalid);
      await assert.rejects(store.events.query('w1', { cursor: foreign }), invalid);
      await assert.rejects(store.events.query('w1', { cursor: 'not a cursor' }), invalid);
      await assert.rejects(store.profiles.search('w1', { cursor: eventCursor }), invalid);
      assert.equal((await store.events.query('w1', { cursor: eventCursor })).items.length, 2);
    });

    it('identity keys resolve to their profile; unknown keys are absent', async (store) => {
      await ingest(store, [event({ anonymousId: 'dev1' }), event({ type: 'identify', userId: 'ann', anonymousId: 'dev1', at: 1 }), event({ userId: 'bob', at: 2 })]);
      const found = await store.profiles.resolveIdentities('w1', ['a:dev1', 'u:ann', 'u:bob', 'u:zed']);
      assert.deepEqual(Object.fromEntries(found), { 'a:dev1': 'a:dev1', 'u:ann': 'a:dev1', 'u:bob': 'u:bob' });
      assert.deepEqual((await store.profiles.identitiesOf('w1', 'a:dev1')).sort(), ['a:dev1', 'u:ann']);
      assert.deepEqual(await store.profiles.identitiesOf('w1', 'nobody'), []);
      assert.equal((await store.profiles.getProfiles('w1', ['a:dev1', 'nobody'])).size, 1);
    });

    it('a merge moves the source events and identities to the target and deletes the source', async (store) => {
      await ingest(store, [event({ userId: 'ann', at: 0 }), event({ anonymousId: 'dev2', at: 1 }), event({ anonymousId: 'dev2', at: 2 })]);
      const changes = await ingest(store, [event({ type: 'identify', userId: 'ann', anonymousId: 'dev2', at: 3 })]);
      assert.deepEqual(changes.merges, [{ workspaceId: 'w1', from: 'a:dev2', to: 'u:ann' }]);
      assert.equal((await store.profiles.getProfiles('w1', ['a:dev2'])).size, 0);
      assert.equal(await store.profiles.count('w1'), 1);
      assert.deepEqual(Object.fromEntries(await store.profiles.resolveIdentities('w1', ['a:dev2', 'u:ann'])), { 'a:dev2': 'u:ann', 'u:ann': 'u:ann' });
      assert.equal((await queryAll(store, 'w1', { profileId: 'u:ann' })).length, 4);
      assert.deepEqual(await queryAll(store, 'w1', { profileId: 'a:dev2' }), []);
      assert.equal((await store.profiles.getProfiles('w1', ['u:ann'])).get('u:ann')?.computed.eventCount, 4);
    });

    it('profile search matches user id, anonymous id or email prefix, newest-updated first, in pages', async (store) => {
      await ingest(store, [
        event({ type: 'identify', userId: 'anna', traits: { email: 'Anna@Example.com' }, receivedAt: t0 + 1 }),
        event({ type: 'identify', userId: 'annika', traits: { email: 'nika@example.com' }, receivedAt: t0 + 2 }),
        event({ anonymousId: 'ann-device', receivedAt: t0 + 3 }),
        event({ type: 'identify', userId: 'zoe', traits: { email: 'annual@example.org' }, receivedAt: t0 + 4 }),
        event({ userId: 'bob', receivedAt: t0 + 5 }),
      ]);
      const searchAll = async (query: string | undefined, limit: number): Promise<string[]> => {
        const out: string[] = [];
        let cursor: string | null = null;
        do {
          const page = await store.profiles.search('w1', { query, limit, cursor });
          assert.ok(page.items.length <= limit);
          out.push(...page.items.map((p) => p.profileId));
          cursor = page.nextCursor;
        } while (cursor !== null);
        return out;
      };
      assert.deepEqual(await searchAll('ann', 1), ['u:zoe', 'a:ann-device', 'u:annika', 'u:anna']);
      assert.deepEqual(await searchAll('ANNA@', 10), ['u:anna'], 'email matches case-insensitively');
      assert.deepEqual(await searchAll('nika@', 10), ['u:annika']);
      assert.deepEqual(await searchAll('ann-', 10), ['a:ann-device']);
      assert.deepEqual(await searchAll('ANNI', 10), [], 'ids match by exact prefix');
      assert.deepEqual(await searchAll(' annika ', 10), ['u:annika'], 'the query is trimmed');
      assert.deepEqual(await searchAll(undefined, 2), ['u:bob', 'u:zoe', 'a:ann-device', 'u:annika', 'u:anna']);
      assert.deepEqual(await searchAll('nobody', 10), []);
      // A later event moves a profile to the front.
      await ingest(store, [event({ userId: 'anna', receivedAt: t0 + 9 })]);
      assert.deepEqual(await searchAll('ann', 3), ['u:anna', 'u:zoe', 'a:ann-device', 'u:annika']);
    });

    it('recent message ids since a receipt time, oldest first', async (store) => {
      await ingest(store, [event({ userId: 'ann', messageId: 'old', receivedAt: t0 })]);
      // One group carries requests whose receipt times interleave.
      await ingest(store, [
        event({ userId: 'ann', messageId: 'c', receivedAt: t0 + 30 }),
        event({ userId: 'bob', messageId: 'a', receivedAt: t0 + 10 }),
        event({ userId: 'ann', messageId: 'b', receivedAt: t0 + 20 }),
      ]);
      await ingest(store, [event({ workspaceId: 'w2', userId: 'ann', messageId: 'd', receivedAt: t0 + 40 })]);
      const recent = await store.events.recentMessageIds(t0 + 10);
      assert.deepEqual(recent, [
        { workspaceId: 'w1', messageId: 'a', receivedAt: t0 + 10 },
        { workspaceId: 'w1', messageId: 'b', receivedAt: t0 + 20 },
        { workspaceId: 'w1', messageId: 'c', receivedAt: t0 + 30 },
        { workspaceId: 'w2', messageId: 'd', receivedAt: t0 + 40 },
      ]);
      assert.deepEqual(await store.events.recentMessageIds(t0 + 41), []);
    });

    it('workspaces are isolated', async (store) => {
      await ingest(store, [event({ userId: 'ann', name: 'w1-only' }), event({ userId: 'bob' })]);
      await ingest(store, [event({ workspaceId: 'w2', userId: 'ann', name: 'w2-only', traits: {} })]);
      assert.equal(await store.events.count('w1'), 2);
      assert.equal(await store.events.count('w2'), 1);
      assert.equal(await store.profiles.count('w2'), 1);
      assert.equal(await store.events.count('w3'), 0);
      assert.deepEqual((await queryAll(store, 'w2')).map((e) => e.name), ['w2-only']);
      assert.deepEqual((await store.profiles.search('w2', { query: 'bob' })).items, []);
      assert.equal((await store.profiles.getProfiles('w2', ['u:ann'])).get('u:ann')?.computed.eventCount, 1);
      await store.eraseUser('w2', 'u:ann');
      assert.equal((await store.exportUser('w1', 'u:ann'))?.events.length, 1);
    });

    it('exportUser returns everything about one user and nothing about anyone else', async (store) => {
      await ingest(store, [
        event({ anonymousId: 'dev1', at: 0 }),
        event({ userId: 'bob', anonymousId: 'dev2', at: 1 }),
        event({ type: 'identify', userId: 'ann', anonymousId: 'dev1', traits: { email: 'ann@example.com' }, at: 2 }),
        event({ userId: 'ann', name: 'bought', at: 3 }),
        event({ workspaceId: 'w1', userId: 'bob', at: 4 }),
      ]);
      await ingest(store, [event({ workspaceId: 'w2', userId: 'ann' })]);
      const data = await store.exportUser('w1', 'a:dev1');
      assert.ok(data);
      assert.equal(data.profile.userId, 'ann');
      assert.equal(data.profile.traits['email'], 'ann@example.com');
      assert.deepEqual([...data.identities].sort(), ['a:dev1', 'u:ann']);
      assert.deepEqual(data.events.map((e) => e.timestamp), [3, 2, 0].map((m) => t0 + m * minute));
      assert.ok(data.events.every((e) => e.profileId === 'a:dev1' && e.workspaceId === 'w1'));
      assert.equal(await store.exportUser('w1', 'u:nobody'), null);
    });

    it('eraseUser removes the profile, its identities and every event of that user, and nothing else', async (store) => {
      await ingest(store, [event({ anonymousId: 'dev1', at: 0 }), event({ userId: 'bob', at: 1 }), event({ userId: 'ann', at: 2 })]);
      await ingest(store, [event({ type: 'identify', userId: 'ann', anonymousId: 'dev1', at: 3 }), event({ userId: 'bob', at: 4 })]);
      await ingest(store, [event({ workspaceId: 'w2', userId: 'ann' })]);
      const bobBefore = await store.exportUser('w1', 'u:bob');
      const report = await store.eraseUser('w1', 'u:ann');
      assert.deepEqual(report, { profiles: 1, identities: 2, events: 3 });
      assert.equal(await store.exportUser('w1', 'u:ann'), null);
      assert.deepEqual(await store.profiles.identitiesOf('w1', 'u:ann'), []);
      assert.equal((await store.profiles.resolveIdentities('w1', ['u:ann', 'a:dev1'])).size, 0);
      assert.deepEqual(await queryAll(store, 'w1', { profileId: 'u:ann' }), []);
      assert.ok((await queryAll(store, 'w1')).every((e) => e.userId !== 'ann' && e.anonymousId !== 'dev1'));
      assert.deepEqual(await store.exportUser('w1', 'u:bob'), bobBefore);
      assert.equal(await store.events.count('w1'), 2);
      assert.equal(await store.profiles.count('w1'), 1);
      assert.equal(await store.events.count('w2'), 1);
      assert.deepEqual(await store.eraseUser('w1', 'u:ann'), { profiles: 0, identities: 0, events: 0 });
    });

    it('a durable store still holds everything after it is reopened', async (store, opened, t) => {
      if (!store.capabilities.durable) return t.skip('not durable: nothing survives a restart');
      assert.ok(opened.reopen, 'a durable backend must give the suite a way to reopen it');
      await ingest(store, [event({ anonymousId: 'dev1', at: 0 }), event({ type: 'identify', userId: 'ann', anonymousId: 'dev1', traits: { email: 'ann@example.com' }, at: 1 })]);
      await ingest(store, [event({ workspaceId: 'w2', userId: 'bob', at: 2 })]);
      const before = { w1: await queryAll(store, 'w1'), w2: await queryAll(store, 'w2'), ann: await store.exportUser('w1', 'a:dev1'), recent: await store.events.recentMessageIds(0) };
      const again = await opened.reopen();
      assert.deepEqual(await queryAll(again, 'w1'), before.w1);
      assert.deepEqual(await queryAll(again, 'w2'), before.w2);
      assert.deepEqual(await again.exportUser('w1', 'a:dev1'), before.ann);
      assert.deepEqual(await again.events.recentMessageIds(0), before.recent);
      assert.deepEqual((await again.profiles.search('w1', { query: 'ann@' })).items.map((p) => p.profileId), ['a:dev1']);
    });

    it('log positions grow in commit order and readAfter replays from any position', async (store) => {
      const batches = [[event({ userId: 'ann', at: 5 }), event({ userId: 'bob', at: 1 })], [event({ workspaceId: 'w2', userId: 'cy' })], [event({ userId: 'ann', at: 2 })]];
      const receipts = [];
      for (const batch of batches) receipts.push(await store.commit(await foldAgainst(store, batch[0]!.workspaceId, batch)));
      const all = await store.events.readAfter(0, 100);
      assert.deepEqual(ids(all.map((l) => l.event)), ids(batches.flat()), 'commit order, not timestamp order, across workspaces');
      const positions = all.map((l) => l.position);
      assert.ok(positions.every((p, i) => i === 0 || p > positions[i - 1]!), `increasing: ${positions.join(', ')}`);
      assert.deepEqual(receipts.map((r) => r.position), [positions[1], positions[2], positions[3]]);
      assert.deepEqual(ids((await store.events.readAfter(positions[1]!, 100)).map((l) => l.event)), ids(batches.flat().slice(2)));
      assert.equal((await store.events.readAfter(0, 2)).length, 2);
      assert.deepEqual(await store.events.readAfter(positions[3]!, 100), []);
    });

    it('a checkpoint is recorded atomically with its commit', async (store, opened) => {
      assert.equal(await store.checkpoint(), 0);
      const changes = await foldAgainst(store, 'w1', [event({ userId: 'ann' })]);
      const { position } = await store.commit({ events: changes.events, profiles: [], identities: [], merges: [] });
      assert.equal(await store.profiles.count('w1'), 0, 'derived state may trail the log');
      await store.commit({ ...changes, events: [], checkpoint: position });
      assert.equal(await store.checkpoint(), position);
      assert.equal(await store.profiles.count('w1'), 1);
      if (opened.reopen) assert.equal(await (await opened.reopen()).checkpoint(), position);
    });

    it('a profile is stored with the log position it is folded up to; a merge or erasure drops it', async (store, opened) => {
      const changes = await foldAgainst(store, 'w1', [event({ userId: 'ann' }), event({ anonymousId: 'dev1', at: 1 })]);
      const { position } = await store.commit({ events: changes.events, profiles: [], identities: [], merges: [] });
      assert.deepEqual(await store.profiles.foldedThrough('w1', ['u:ann', 'a:dev1']), new Map(), 'no profile stored yet');
      // A slice written behind the log: the profiles as of the first event, the checkpoint still 0.
      await store.commit({ events: [], profiles: changes.profiles, identities: changes.identities, merges: [], profilesAt: position - 1, checkpoint: 0 });
      assert.deepEqual(Object.fromEntries(await store.profiles.foldedThrough('w1', ['u:ann', 'a:dev1', 'u:nobody'])), { 'u:ann': position - 1, 'a:dev1': position - 1 });
      assert.equal(await store.checkpoint(), 0);
      // Without `profilesAt`: the newest position after the commit.
      const later = await ingest(store, [event({ userId: 'ann', at: 2 })]);
      const newest = (await store.events.readAfter(0, 100)).at(-1)!.position;
      assert.equal(later.events.length, 1);
      assert.equal((await store.profiles.foldedThrough('w1', ['u:ann'])).get('u:ann'), newest);
      assert.deepEqual(Object.fromEntries(await store.profiles.foldedThrough('w2', ['u:ann'])), {}, 'per workspace');
      await ingest(store, [event({ type: 'identify', userId: 'ann', anonymousId: 'dev1', at: 3 })]);
      const merged = (await store.events.readAfter(0, 100)).at(-1)!.position;
      assert.deepEqual([...(await store.profiles.foldedThrough('w1', ['u:ann', 'a:dev1'])).keys()], ['u:ann'], 'the merged-away profile has none');
      const again = opened.reopen ? await opened.reopen() : store;
      assert.equal((await again.profiles.foldedThrough('w1', ['u:ann'])).get('u:ann'), merged);
      await again.eraseUser('w1', 'u:ann');
      assert.deepEqual(await again.profiles.foldedThrough('w1', ['u:ann']), new Map());
    });

    it('timelines, merges and erasure are the same on both sides of a checkpoint', async (store) => {
      const checkpoint = async () => {
        const { position } = await store.commit({ events: [], profiles: [], identities: [], merges: [] });
        await store.commit({ events: [], profiles: [], identities: [], merges: [], checkpoint: position });
      };
      const before = [event({ userId: 'ann', at: 1 }), event({ anonymousId: 'dev1', at: 2 }), event({ userId: 'bob', at: 3 })];
      await ingest(store, before);
      await checkpoint();
      const after = [event({ anonymousId: 'dev1', at: 4 }), event({ userId: 'ann', at: 0, name: 'late' }), event({ type: 'identify', userId: 'ann', anonymousId: 'dev1', at: 5 })];
      await ingest(store, after);
      const timeline = await queryAll(store, 'w1', { profileId: 'u:ann', limit: 2 });
      assert.deepEqual(ids(timeline), expectedOrder([before[0]!, before[1]!, after[0]!, after[1]!, after[2]!]));
      assert.deepEqual(ids(await queryAll(store, 'w1', { profileId: 'u:ann', name: 'late' })), [after[1]!.messageId]);
      await checkpoint();
      assert.equal((await queryAll(store, 'w1', { profileId: 'u:ann' })).length, 5, 'unchanged once indexed');

      const last = (await store.events.readAfter(0, 100)).at(-1)!.position;
      assert.deepEqual(await store.eraseUser('w1', 'u:ann'), { profiles: 1, identities: 2, events: 5 });
      assert.deepEqual(ids((await store.events.readAfter(0, 100)).map((l) => l.event)), [before[2]!.messageId]);
      const { position } = await store.commit(await foldAgainst(store, 'w1', [event({ userId: 'ann', at: 9 })]));
      assert.ok(position > last, 'positions are never reused, even after the newest events were erased');
    });
  });
}
