/**
 * The contract of `InboxStore` (src/ports/inbox-store.ts) that every backend must pass. A backend's
 * test file calls `inboxStoreConformance` with a factory that opens a fresh, empty store; durable
 * backends also give `reopen`, which opens the same data again as a new process would.
 */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { perTestStore } from '../support/conformance.js';
import type { InboxItem, InboxStore, NewInboxItem } from '../../src/ports/inbox-store.js';

export interface OpenedInboxStore {
  store: InboxStore;
  /** Closes `store` and opens the same data again; required when `capabilities.durable`. */
  reopen?: () => Promise<InboxStore>;
  cleanup: () => Promise<void>;
}

const t0 = Date.UTC(2026, 10, 29, 10, 0, 0);
const ada = ['u:ada', 'a:anon-ada'];
const bob = ['u:bob'];

const message = (key: string, identityKey = 'u:ada', extra: Partial<NewInboxItem> = {}): NewInboxItem => ({
  workspaceId: 'shop',
  identityKey,
  messageKey: key,
  triggerId: 'abandoned-cart',
  content: { title: `Title ${key}`, body: 'Your cart is waiting — crème brûlée ✓', cta_label: 'Back to cart', cta_url: 'https://shop.example/cart', style: 'toast' },
  createdAt: t0,
  expiresAt: null,
  ...extra,
});

const keys = (items: readonly InboxItem[]): string[] => items.map((i) => i.messageKey);

async function addAll(store: InboxStore, items: readonly NewInboxItem[]): Promise<InboxItem[]> {
  const added: InboxItem[] = [];
  for (const item of items) added.push((await store.add(item)).item);
  return added;
}

export function inboxStoreConformance(name: string, open: () => Promise<OpenedInboxStore>): void {
  const it = perTestStore<InboxStore, OpenedInboxStore>(open);
  const durable = (title: string, body: (opened: OpenedInboxStore & { reopen: () => Promise<InboxStore> }) => Promise<void>) =>
    it(title, async (store, opened, t) => {
      if (!store.capabilities.durable) return t.skip(`${name} is not durable: nothing survives a reopen`);
      assert.ok(opened.reopen, 'a durable backend must give reopen');
      await body({ ...opened, reopen: opened.reopen });
    });

  describe(`InboxStore conformance: ${name}`, () => {
    it('add stores every field as given, untouched by interactions, with increasing ids', async (store) => {
      const first = await store.add(message('m-1', 'u:ada', { expiresAt: t0 + 1000 }));
      assert.equal(first.added, true);
      assert.deepEqual({ ...first.item, id: 0 }, {
        ...message('m-1', 'u:ada', { expiresAt: t0 + 1000 }),
        id: 0,
        readAt: null,
        shownAt: null,
        clickedAt: null,
        dismissedAt: null,
        feedback: null,
      });
      const second = await store.add(message('m-2', 'a:anon-ada'));
      assert.ok(second.item.id > first.item.id);
    });

    it('adding a message key again keeps the one item as stored, also after interactions; other workspaces are apart', async (store) => {
      const { item } = await store.add(message('m-1'));
      await store.record('shop', ada, item.id, { kind: 'read' }, t0 + 5);
      const again = await store.add(message('m-1', 'u:ada', { content: { title: 'changed' }, createdAt: t0 + 9 }));
      assert.equal(again.added, false);
      assert.deepEqual(again.item, { ...item, readAt: t0 + 5 });
      const elsewhere = await store.add({ ...message('m-1'), workspaceId: 'other' });
      assert.equal(elsewhere.added, true);
      assert.notEqual(elsewhere.item.id, item.id);
      assert.equal((await store.list('shop', ada)).items.length, 1);
    });

    it('a bad item is refused naming the field, and nothing is stored', async (store) => {
      await assert.rejects(store.add(message('m-1', 'ada')), /identityKey/);
      await assert.rejects(store.add({ ...message('m-1'), content: { title: 3 as unknown as string } }), /content\.title/);
      await assert.rejects(store.add({ ...message('m-1'), messageKey: '' }), /messageKey/);
      await assert.rejects(store.add({ ...message('m-1'), createdAt: Number.NaN }), /createdAt/);
      assert.deepEqual(await store.exportUser('shop', ['u:ada', 'ada']), []);
    });

    it('list: the items of all the identity keys given, newest first, with unread and latest id; other users and workspaces apart', async (store) => {
      const [m1, , , m3] = await addAll(store, [message('m-1'), message('b-1', 'u:bob'), message('m-2', 'a:anon-ada'), message('m-3')]);
      await store.add({ ...message('w-1'), workspaceId: 'other' });
      const page = await store.list('shop', ada);
      assert.deepEqual(keys(page.items), ['m-3', 'm-2', 'm-1']);
      assert.deepEqual([page.unread, page.nextCursor], [3, null]);
      assert.equal(page.latestId, page.items[0]!.id);
      assert.deepEqual(keys((await store.list('shop', bob)).items), ['b-1']);
      assert.deepEqual(await store.list('shop', ['u:nobody']), { items: [], nextCursor: null, unread: 0, latestId: 0 });

      await store.record('shop', ada, m1!.id, { kind: 'read' }, t0);
      await store.record('shop', ada, m3!.id, { kind: 'dismissed' }, t0);
      const after = await store.list('shop', ada);
      assert.deepEqual(keys(after.items), ['m-2', 'm-1'], 'dismissed items are left out');
      assert.equal(after.unread, 1);
      assert.equal(after.latestId, m3!.id, 'the latest id counts dismissed items');
      assert.deepEqual(keys((await store.list('shop', ada, { includeDismissed: true })).items), ['m-3', 'm-2', 'm-1']);
    });

    it('list pages with a cursor, each item once; a foreign cursor is refused', async (store) => {
      await addAll(store, Array.from({ length: 7 }, (_, i) => message(`m-${i}`, i % 2 ? 'u:ada' : 'a:anon-ada')));
      const first = await store.list('shop', ada, { limit: 3 });
      assert.deepEqual(keys(first.items), ['m-6', 'm-5', 'm-4']);
      const second = await store.list('shop', ada, { limit: 3, cursor: first.nextCursor });
      assert.deepEqual(keys(second.items), ['m-3', 'm-2', 'm-1']);
      const last = await store.list('shop', ada, { limit: 3, cursor: second.nextCursor });
      assert.deepEqual([keys(last.items), last.nextCursor, last.unread], [['m-0'], null, 7]);
      await assert.rejects(store.list('shop', ada, { cursor: 'bm90LWEtY3Vyc29y' }), /cursor/);
    });

    it('expired items leave list, unread and since at `now`, and purgeExpired deletes them', async (store) => {
      await addAll(store, [message('m-1', 'u:ada', { expiresAt: t0 + 100 }), message('m-2', 'u:ada', { expiresAt: t0 + 200 }), message('m-3')]);
      const at150 = await store.list('shop', ada, { now: t0 + 150 });
      assert.deepEqual([keys(at150.items), at150.unread], [['m-3', 'm-2'], 2]);
      assert.deepEqual(keys((await store.list('shop', ada, { now: t0 + 100 })).items), ['m-3', 'm-2'], 'expired at exactly expiresAt');
      assert.deepEqual(keys((await store.list('shop', ada)).items), ['m-3', 'm-2', 'm-1'], 'without now nothing has expired');
      assert.deepEqual(keys(await store.since('shop', ada, 0, { now: t0 + 150 })), ['m-2', 'm-3']);
      assert.equal(await store.purgeExpired(t0 + 200), 2);
      assert.deepEqual(keys(await store.exportUser('shop', ada)), ['m-3']);
      assert.equal(await store.purgeExpired(t0 + 200), 0);
    });

    it('since: the items after an id, oldest first, without dismissed ones, up to the limit', async (store) => {
      const [m1, m2, , , m4] = await addAll(store, [message('m-1'), message('m-2'), message('b-1', 'u:bob'), message('m-3', 'a:anon-ada'), message('m-4')]);
      assert.deepEqual(keys(await store.since('shop', ada, m1!.id, { now: t0 })), ['m-2', 'm-3', 'm-4']);
      await store.record('shop', ada, m4!.id, { kind: 'dismissed' }, t0);
      assert.deepEqual(keys(await store.since('shop', ada, 0, { now: t0 })), ['m-1', 'm-2', 'm-3']);
      assert.deepEqual(keys(await store.since('shop', ada, 0, { now: t0, limit: 2 })), ['m-1', 'm-2']);
      assert.deepEqual(keys(await store.since('shop', ada, m2!.id + 1000, { now: t0 })), []);
      assert.deepEqual(keys(await store.since('shop', bob, 0, { now: t0 })), ['b-1']);
    });

    it('interactions are recorded once; a click reads; feedback keeps the last value', async (store) => {
      const { item } = await store.add(message('m-1'));
      const read = await store.record('shop', ada, item.id, { kind: 'read' }, t0 + 1);
      assert.deepEqual(read, { item: { ...item, readAt: t0 + 1 }, changed: true });
      assert.deepEqual(await store.record('shop', ada, item.id, { kind: 'read' }, t0 + 2), { item: { ...item, readAt: t0 + 1 }, changed: false });

      const { item: other } = await store.add(message('m-2', 'a:anon-ada'));
      assert.equal((await store.record('shop', ada, other.id, { kind: 'shown' }, t0 + 3))?.item.shownAt, t0 + 3);
      const clicked = await store.record('shop', ada, other.id, { kind: 'clicked' }, t0 + 4);
      assert.deepEqual([clicked?.item.clickedAt, clicked?.item.readAt, clicked?.changed], [t0 + 4, t0 + 4, true]);
      assert.equal((await store.record('shop', ada, other.id, { kind: 'clicked' }, t0 + 5))?.changed, false);
      const feedback = await store.record('shop', ada, other.id, { kind: 'feedback', value: 'not_relevant' }, t0 + 6);
      assert.deepEqual([feedback?.item.feedback, feedback?.changed], ['not_relevant', true]);
      assert.equal((await store.record('shop', ada, other.id, { kind: 'feedback', value: 'not_relevant' }, t0 + 7))?.changed, false);
      assert.equal((await store.record('shop', ada, other.id, { kind: 'feedback', value: 'helpful' }, t0 + 8))?.item.feedback, 'helpful');
      const dismissed = await store.record('shop', ada, other.id, { kind: 'dismissed' }, t0 + 9);
      assert.deepEqual(
        [dismissed?.item.dismissedAt, dismissed?.item.shownAt, dismissed?.item.clickedAt, dismissed?.item.feedback],
        [t0 + 9, t0 + 3, t0 + 4, 'helpful'],
      );
      assert.deepEqual((await store.exportUser('shop', ada)).map((i) => [i.messageKey, i.readAt, i.dismissedAt]), [['m-1', t0 + 1, null], ['m-2', t0 + 4, t0 + 9]]);
    });

    it("another user's item, another workspace's and an unknown id are not found and stay unchanged", async (store) => {
      const { item } = await store.add(message('b-1', 'u:bob'));
      assert.equal(await store.record('shop', ada, item.id, { kind: 'dismissed' }, t0), null);
      assert.equal(await store.record('other', bob, item.id, { kind: 'read' }, t0), null);
      assert.equal(await store.record('shop', bob, item.id + 1000, { kind: 'read' }, t0), null);
      assert.deepEqual(await store.exportUser('shop', bob), [item]);
    });

    it("exportUser and eraseUser cover exactly the user's identity keys; erased ids are not reused", async (store) => {
      const added = await addAll(store, [message('m-1'), message('b-1', 'u:bob'), message('m-2', 'a:anon-ada')]);
      await store.add({ ...message('w-1'), workspaceId: 'other' });
      assert.deepEqual(await store.exportUser('shop', ada), [added[0], added[2]]);
      assert.equal(await store.eraseUser('shop', ada), 2);
      assert.deepEqual(await store.exportUser('shop', ada), []);
      assert.deepEqual(await store.list('shop', ada), { items: [], nextCursor: null, unread: 0, latestId: 0 });
      assert.deepEqual(keys(await store.exportUser('shop', bob)), ['b-1']);
      assert.deepEqual(keys(await store.exportUser('other', ada)), ['w-1']);
      assert.equal(await store.eraseUser('shop', ada), 0);
      const next = await store.add(message('m-3'));
      assert.ok(next.item.id > added[2]!.id, 'the highest erased id is not given again');
    });

    it("many items: a user's whole inbox paged newest first and replayed oldest first, each once", async (store) => {
      const added = await addAll(store, Array.from({ length: 1500 }, (_, i) => message(`m-${i}`, ['u:ada', 'u:bob', 'a:anon-ada'][i % 3])));
      const own = added.filter((i) => i.identityKey !== 'u:bob').map((i) => i.id);
      const paged: number[] = [];
      let cursor: string | null = null;
      do {
        const page = await store.list('shop', ada, { limit: 77, cursor });
        paged.push(...page.items.map((i) => i.id));
        cursor = page.nextCursor;
      } while (cursor);
      assert.deepEqual(paged, [...own].reverse());
      const replayed: number[] = [];
      for (let batch = await store.since('shop', ada, 0, { now: t0, limit: 300 }); batch.length > 0; batch = await store.since('shop', ada, replayed.at(-1)!, { now: t0, limit: 300 })) {
        replayed.push(...batch.map((i) => i.id));
      }
      assert.deepEqual(replayed, own);
    });

    durable('a reopen keeps items and their interactions; ids keep increasing, also past an erased highest id', async ({ store, reopen }) => {
      const [m1, m2] = await addAll(store, [message('m-1', 'u:ada', { expiresAt: t0 + 60_000 }), message('m-2', 'u:bob')]);
      await store.record('shop', ada, m1!.id, { kind: 'feedback', value: 'not_relevant' }, t0 + 1);
      await store.record('shop', ada, m1!.id, { kind: 'clicked' }, t0 + 2);
      await store.eraseUser('shop', bob);
      const next = await reopen();
      const [kept] = await next.exportUser('shop', ada);
      assert.deepEqual(kept, { ...m1!, feedback: 'not_relevant', clickedAt: t0 + 2, readAt: t0 + 2 });
      assert.equal((await next.add(message('m-1'))).added, false, 'message keys are remembered');
      const fresh = await next.add(message('m-3'));
      assert.ok(fresh.item.id > m2!.id, `id ${fresh.item.id} after a reopen must exceed ${m2!.id}`);
    });
  });
}
