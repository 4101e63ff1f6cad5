/**
 * The contract of `CodeStore` (src/ports/code-store.ts) that every backend must pass. A backend's
 * test file calls `codeStoreConformance` with a factory that opens a fresh, empty store; durable
 * backends also give `reopen`, which opens the same data again as a new process would.
 */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { CodeRecord, CodeReservation } from '../../src/core/delivery/discount-codes.js';
import type { CodeStore } from '../../src/ports/code-store.js';
import { perTestStore } from '../support/conformance.js';

export interface OpenedCodeStore {
  store: CodeStore;
  /** Closes `store` and opens the same data again; required when `capabilities.durable`. */
  reopen?: () => Promise<CodeStore>;
  cleanup: () => Promise<void>;
}

const t0 = Date.UTC(2026, 10, 29, 10, 0, 0);
const hour = 3_600_000;
const ttl = 48 * hour;
const reservation = (messageKey: string, code: string, over: Partial<CodeReservation> = {}): CodeReservation => ({
  workspaceId: 'w1',
  profileId: 'p-ann',
  messageKey,
  kind: 'cart10',
  code,
  expiresAt: (over.at ?? t0) + ttl,
  at: t0,
  ...over,
});
const reserved = (r: CodeReservation): CodeRecord => ({
  workspaceId: r.workspaceId,
  code: r.code.trim().toUpperCase(),
  kind: r.kind,
  profileId: r.profileId,
  messageKey: r.messageKey,
  status: 'reserved',
  reservedAt: r.at,
  expiresAt: r.expiresAt,
  settledAt: null,
  redeemedAt: null,
});
const codes = (records: readonly CodeRecord[]): string[] => records.map((r) => r.code);

export function codeStoreConformance(name: string, open: () => Promise<OpenedCodeStore>): void {
  const it = perTestStore<CodeStore, OpenedCodeStore>(open);
  const durable = (title: string, body: (opened: OpenedCodeStore & { reopen: () => Promise<CodeStore> }) => Promise<void>) =>
    it(title, async (store, opened, t) => {
      if (!store.capabilities.durable) return t.skip(`${name} is not durable: nothing survives a reopen`);
      assert.ok(opened.reopen, 'a durable backend must give reopen');
      await body({ ...opened, reopen: opened.reopen });
    });

  describe(`CodeStore conformance: ${name}`, () => {
    it('reserve stores the code in normal form with every field; get finds it however it is typed', async (store) => {
      const r = reservation('w1/p-ann/run1/step1', ' cart-ab3d-k9q2 ');
      assert.deepEqual(await store.reserve(r), { outcome: 'reserved', record: reserved(r) });
      assert.deepEqual(await store.get('w1', 'CART-AB3D-K9Q2'), reserved(r));
      assert.deepEqual(await store.get('w1', '  Cart-Ab3d-K9q2\n'), reserved(r));
      assert.equal(await store.get('w2', 'CART-AB3D-K9Q2'), null, 'codes are per workspace');
      assert.equal(await store.get('w1', 'CART-AB3D-K9Q3'), null);
    });

    it('the same message asking again gets the code it has, whatever it offers, and nothing changes', async (store) => {
      const first = reservation('m1', 'CART-AAAA-AAAA');
      await store.reserve(first);
      const again = await store.reserve(reservation('m1', 'CART-BBBB-BBBB', { at: t0 + 5000, kind: 'other' }));
      assert.deepEqual(again, { outcome: 'existing', record: reserved(first) });
      assert.equal(await store.get('w1', 'CART-BBBB-BBBB'), null, 'the offered code was not stored');
      await store.settle('m1', 'issued', t0 + 10);
      const afterSettle = await store.reserve(first);
      assert.equal(afterSettle.outcome, 'existing');
      assert.equal(afterSettle.outcome === 'existing' && afterSettle.record.status, 'issued', 'an existing code comes back as it is');
    });

    it('a code the workspace has already is a collision: nothing stored; another workspace may have it', async (store) => {
      await store.reserve(reservation('m1', 'CART-AAAA-AAAA'));
      assert.deepEqual(await store.reserve(reservation('m2', 'cart-aaaa-aaaa', { profileId: 'p-bob' })), { outcome: 'collision' });
      assert.equal((await store.get('w1', 'CART-AAAA-AAAA'))?.messageKey, 'm1');
      const retry = await store.reserve(reservation('m2', 'CART-CCCC-CCCC', { profileId: 'p-bob' }));
      assert.equal(retry.outcome, 'reserved', 'the message that collided has no code yet and can take another');
      assert.equal((await store.reserve(reservation('w2-m1', 'CART-AAAA-AAAA', { workspaceId: 'w2' }))).outcome, 'reserved');
    });

    it('a reservation with a bad field is refused naming it, and stores nothing', async (store) => {
      await assert.rejects(store.reserve(reservation('', 'CART-AAAA-AAAA')), /messageKey: must be a non-empty string/);
      await assert.rejects(store.reserve(reservation('m1', 'CART AAAA')), /code: must be/);
      await assert.rejects(store.reserve(reservation('m1', 'CART-AAAA-AAAA', { expiresAt: t0 })), /expiresAt: must be after `at`/);
      await assert.rejects(store.reserve(reservation('m1', 'CART-AAAA-AAAA', { at: Number.NaN, expiresAt: t0 })), /at: must be an integer/);
      assert.equal(await store.get('w1', 'CART-AAAA-AAAA'), null);
      assert.equal((await store.reserve(reservation('m1', 'CART-AAAA-AAAA'))).outcome, 'reserved');
    });

    it("settle records the message's outcome once: the first wins; a message without a code is null", async (store) => {
      await store.reserve(reservation('m1', 'CART-AAAA-AAAA'));
      await store.reserve(reservation('m2', 'CART-BBBB-BBBB'));
      assert.deepEqual(await store.settle('m1', 'issued', t0 + 100), { ...reserved(reservation('m1', 'CART-AAAA-AAAA')), status: 'issued', settledAt: t0 + 100 });
      assert.equal((await store.settle('m1', 'released', t0 + 200))?.status, 'issued', 'a delivered code is not released later');
      assert.equal((await store.settle('m2', 'released', t0 + 100))?.status, 'released');
      const late = await store.settle('m2', 'issued', t0 + 200);
      assert.deepEqual([late?.status, late?.settledAt], ['released', t0 + 100], 'a released code never comes back');
      assert.equal(await store.settle('no-code', 'issued', t0), null);
    });

    it('redeem: once, by the owner, before expiry, not when released; a refusal changes nothing', async (store) => {
      await store.reserve(reservation('m1', 'CART-AAAA-AAAA'));
      await store.settle('m1', 'issued', t0 + 10);
      assert.deepEqual(await store.redeem('w1', 'CART-ZZZZ-ZZZZ', 'p-ann', t0 + 20), { outcome: 'not_found', record: null });
      assert.equal((await store.redeem('w2', 'CART-AAAA-AAAA', 'p-ann', t0 + 20)).outcome, 'not_found', 'not in another workspace');
      const stranger = await store.redeem('w1', 'CART-AAAA-AAAA', 'p-bob', t0 + 20);
      assert.deepEqual([stranger.outcome, stranger.record?.status], ['not_owner', 'issued']);
      const used = await store.redeem('w1', ' cart-aaaa-aaaa', 'p-ann', t0 + 30);
      assert.deepEqual([used.outcome, used.record?.status, used.record?.redeemedAt], ['redeemed', 'redeemed', t0 + 30]);
      const twice = await store.redeem('w1', 'CART-AAAA-AAAA', 'p-ann', t0 + 40);
      assert.deepEqual([twice.outcome, twice.record?.redeemedAt], ['already_redeemed', t0 + 30]);
      assert.equal((await store.settle('m1', 'released', t0 + 50))?.status, 'redeemed');

      await store.reserve(reservation('m2', 'CART-BBBB-BBBB'));
      await store.settle('m2', 'released', t0 + 10);
      assert.equal((await store.redeem('w1', 'CART-BBBB-BBBB', 'p-ann', t0 + 20)).outcome, 'released');

      await store.reserve(reservation('m3', 'CART-CCCC-CCCC'));
      await store.settle('m3', 'issued', t0 + 10);
      assert.equal((await store.redeem('w1', 'CART-CCCC-CCCC', 'p-ann', t0 + ttl)).outcome, 'expired', 'expired at exactly expiresAt');
      assert.equal((await store.get('w1', 'CART-CCCC-CCCC'))?.status, 'issued');
    });

    it('a reserved code (outcome not yet recorded) can be redeemed, and stays redeemed after the outcome', async (store) => {
      await store.reserve(reservation('m1', 'CART-AAAA-AAAA'));
      assert.equal((await store.redeem('w1', 'CART-AAAA-AAAA', 'p-ann', t0 + 1)).outcome, 'redeemed');
      const settled = await store.settle('m1', 'issued', t0 + 2);
      assert.deepEqual([settled?.status, settled?.settledAt, settled?.redeemedAt], ['redeemed', null, t0 + 1]);
    });

    it('of many redemptions of one code at once, exactly one redeems', async (store) => {
      await store.reserve(reservation('m1', 'CART-AAAA-AAAA'));
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.redeem('w1', 'CART-AAAA-AAAA', 'p-ann', t0 + i)));
      assert.equal(results.filter((r) => r.outcome === 'redeemed').length, 1);
      assert.equal(results.filter((r) => r.outcome === 'already_redeemed').length, 19);
    });

    it("listFor pages a profile's codes newest first; others' are not listed; a foreign cursor is refused", async (store) => {
      for (let i = 0; i < 7; i++) await store.reserve(reservation(`m${i}`, `CART-AAAA-AAA${i}`, { at: t0 + Math.floor(i / 2) * 1000 }));
      await store.reserve(reservation('bob', 'CART-BBBB-BBBB', { profileId: 'p-bob', at: t0 + 9000 }));
      await store.reserve(reservation('w2', 'CART-CCCC-CCCC', { workspaceId: 'w2', at: t0 + 9000 }));
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { items: CodeRecord[]; nextCursor: string | null } = await store.listFor('w1', ['p-ann'], { limit: 3, cursor });
        assert.ok(page.items.length <= 3);
        seen.push(...codes(page.items));
        cursor = page.nextCursor;
      } while (cursor !== null);
      assert.deepEqual(seen, ['CART-AAAA-AAA6', 'CART-AAAA-AAA5', 'CART-AAAA-AAA4', 'CART-AAAA-AAA3', 'CART-AAAA-AAA2', 'CART-AAAA-AAA1', 'CART-AAAA-AAA0']);
      assert.deepEqual(await store.listFor('w1', ['p-nobody']), { items: [], nextCursor: null });
      await assert.rejects(store.listFor('w1', ['p-ann'], { cursor: 'bm9wZQ' }), /cursor/);
    });

    it('listFor several profile ids (a profile and those merged into it) pages their codes together, newest first', async (store) => {
      await store.reserve(reservation('a1', 'CART-AAAA-AAA1', { profileId: 'a:dev-9', at: t0 }));
      await store.reserve(reservation('a2', 'CART-AAAA-AAA2', { profileId: 'u:ann', at: t0 + 1000 }));
      await store.reserve(reservation('a3', 'CART-AAAA-AAA3', { profileId: 'a:dev-9', at: t0 + 2000 }));
      await store.reserve(reservation('b1', 'CART-BBBB-BBB1', { profileId: 'u:bob', at: t0 + 1500 }));
      const first = await store.listFor('w1', ['u:ann', 'a:dev-9', 'u:ann'], { limit: 2 });
      assert.deepEqual(codes(first.items), ['CART-AAAA-AAA3', 'CART-AAAA-AAA2']);
      const second = await store.listFor('w1', ['u:ann', 'a:dev-9'], { limit: 2, cursor: first.nextCursor });
      assert.deepEqual(codes(second.items), ['CART-AAAA-AAA1']);
      assert.equal(second.nextCursor, null);
    });

    it('exportUser gives every code of the profiles, erasing deletes them only, and frees their messages and codes', async (store) => {
      await store.reserve(reservation('a1', 'CART-AAAA-AAA1'));
      await store.reserve(reservation('a2', 'CART-AAAA-AAA2', { profileId: 'p-ann-old', at: t0 + 1000 }));
      await store.redeem('w1', 'CART-AAAA-AAA2', 'p-ann-old', t0 + 1500);
      await store.reserve(reservation('b1', 'CART-BBBB-BBB1', { profileId: 'p-bob' }));
      await store.reserve(reservation('w2', 'CART-CCCC-CCC1', { workspaceId: 'w2' }));
      const exported = await store.exportUser('w1', ['p-ann', 'p-ann-old']);
      assert.deepEqual(codes(exported), ['CART-AAAA-AAA2', 'CART-AAAA-AAA1']);
      assert.equal(exported[0]?.status, 'redeemed');
      assert.deepEqual(await store.exportUser('w1', []), []);

      assert.equal(await store.eraseUser('w1', ['p-ann', 'p-ann-old', 'p-ann']), 2);
      assert.deepEqual(await store.exportUser('w1', ['p-ann', 'p-ann-old']), []);
      assert.equal(await store.get('w1', 'CART-AAAA-AAA1'), null);
      assert.equal(await store.settle('a1', 'issued', t0), null);
      assert.equal((await store.get('w1', 'CART-BBBB-BBB1'))?.profileId, 'p-bob');
      assert.equal((await store.get('w2', 'CART-CCCC-CCC1'))?.profileId, 'p-ann', 'another workspace is untouched');
      assert.equal(await store.eraseUser('w1', ['p-ann']), 0);
      assert.equal((await store.reserve(reservation('a1', 'CART-AAAA-AAA1'))).outcome, 'reserved');
    });

    durable('a reopen keeps every code, its status and both unique keys', async ({ store, reopen }) => {
      await store.reserve(reservation('m1', 'CART-AAAA-AAAA'));
      await store.reserve(reservation('m2', 'CART-BBBB-BBBB'));
      await store.reserve(reservation('m3', 'CART-CCCC-CCCC'));
      await store.reserve(reservation('m4', 'CART-DDDD-DDDD'));
      await store.settle('m1', 'issued', t0 + 1);
      await store.settle('m2', 'released', t0 + 2);
      await store.redeem('w1', 'CART-CCCC-CCCC', 'p-ann', t0 + 3);
      const before = await store.exportUser('w1', ['p-ann']);
      const next = await reopen();
      assert.deepEqual(await next.exportUser('w1', ['p-ann']), before);
      assert.deepEqual(before.map((r) => r.status).sort(), ['issued', 'redeemed', 'released', 'reserved']);
      assert.equal((await next.reserve(reservation('m4', 'CART-EEEE-EEEE'))).outcome, 'existing');
      assert.deepEqual(await next.reserve(reservation('m5', 'CART-AAAA-AAAA')), { outcome: 'collision' });
      assert.equal((await next.redeem('w1', 'CART-CCCC-CCCC', 'p-ann', t0 + 4)).outcome, 'already_redeemed');
      assert.equal((await next.redeem('w1', 'CART-AAAA-AAAA', 'p-ann', t0 + 4)).outcome, 'redeemed');
    });
  });
}
