/**
 * The discount code service over the memory and SQLite stores on a simulated clock: a code per
 * message (the same on a retry and after a restart), released when the message does not go out,
 * redeemed by the owner's events, and collisions answered by generating again, a bounded number of times.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { MemoryCodeStore } from '../../src/backends/memory/memory-code-store.js';
import { SqliteCodeStore } from '../../src/backends/sqlite/sqlite-code-store.js';
import { compileCodeKind, type CodeKind, type CodeKindDefinition } from '../../src/core/delivery/discount-codes.js';
import type { StoredEvent } from '../../src/core/event.js';
import { DiscountCodeError, DiscountCodes, type DiscountCodesOptions } from '../../src/engine/discount-codes.js';
import { SimulatedClock } from '../../src/ports/clock.js';
import type { CodeStore } from '../../src/ports/code-store.js';

const hour = 3_600_000;
const T0 = Date.UTC(2026, 5, 1, 10, 0);
const dir = mkdtempSync(path.join(tmpdir(), 'nudge-discount-codes-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

function kinds(definitions: Record<string, CodeKindDefinition>): Map<string, CodeKind> {
  return new Map(
    Object.entries(definitions).map(([name, d]) => {
      const compiled = compileCodeKind(name, d);
      assert.ok(compiled.ok);
      return [name, compiled.kind];
    }),
  );
}

const cartKinds = kinds({
  cart10: { pattern: 'CART-XXXX-XXXX', ttl: '48h', redeemedBy: { event: 'Order Completed', property: 'coupon' } },
  vip: { pattern: 'VIP-XXXXXX', ttl: '7d', redeemedBy: { event: 'Order Completed', property: 'voucher' } },
  signup: { pattern: 'HELLO-XXXXXX', ttl: '30d', redeemedBy: { event: 'Signed Up', property: 'coupon' } },
});

/** A random source that fills each call with the next value of `values` (the last one repeats). */
function sequence(values: readonly number[]): { random: (n: number) => Uint8Array; calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    random: (n) => {
      calls.push(n);
      return new Uint8Array(n).fill(values[Math.min(calls.length - 1, values.length - 1)]!);
    },
  };
}

function event(profileId: string, name: string, properties: Record<string, unknown>, at = T0 + hour, over: Partial<StoredEvent> = {}): StoredEvent {
  return {
    workspaceId: 'w1',
    messageId: `e-${name}-${at}-${JSON.stringify(properties)}`,
    type: 'track',
    name,
    userId: profileId,
    anonymousId: null,
    previousId: null,
    groupId: null,
    properties,
    traits: {},
    context: {},
    timestamp: at,
    receivedAt: at,
    profileId,
    ...over,
  };
}

interface Backend {
  name: string;
  open: () => { store: CodeStore; reopen: () => Promise<CodeStore>; close: () => Promise<void> };
}

const backends: Backend[] = [
  {
    name: 'memory',
    open: () => {
      const store = new MemoryCodeStore();
      return { store, reopen: async () => store, close: () => store.close() };
    },
  },
  {
    name: 'sqlite',
    open: () => {
      const file = path.join(dir, `codes-${++files}.db`);
      let current: CodeStore = new SqliteCodeStore({ path: file });
      return {
        store: current,
        reopen: async () => {
          await current.close();
          current = new SqliteCodeStore({ path: file });
          return current;
        },
        close: () => current.close(),
      };
    },
  },
];

for (const backend of backends) {
  describe(`DiscountCodes over ${backend.name}`, () => {
    const setup = (options: Partial<DiscountCodesOptions> = {}) => {
      const opened = backend.open();
      const clock = new SimulatedClock(T0);
      const service = new DiscountCodes({ store: opened.store, kinds: cartKinds, clock, ...options });
      return { ...opened, clock, service };
    };

    test('a message gets a code of its kind, valid for the ttl; a retry of the message gets the same code', async () => {
      const { service, clock, close } = setup();
      try {
        const first = await service.codeFor('w1', 'ann', 'w1/ann/run1/personal-code', 'cart10');
        assert.match(first.code, /^CART-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$/);
        assert.equal(first.expiresAt, T0 + 48 * hour);
        clock.advance(30_000);
        assert.deepEqual(await service.codeFor('w1', 'ann', 'w1/ann/run1/personal-code', 'cart10'), first, 'the same code, the same expiry');
        const other = await service.codeFor('w1', 'ann', 'w1/ann/run2/personal-code', 'cart10');
        assert.notEqual(other.code, first.code);
        assert.equal(other.expiresAt, T0 + 30_000 + 48 * hour);
        assert.deepEqual((await service.listFor('w1', 'ann')).items.map((c) => [c.code, c.state]), [[other.code, 'reserved'], [first.code, 'reserved']]);
      } finally {
        await close();
      }
    });

    test('after a restart (a crash between render and send) the message gets the code it had', async () => {
      const { service, reopen, clock, close } = setup();
      try {
        const first = await service.codeFor('w1', 'ann', 'm1', 'cart10');
        const store = await reopen();
        const again = await new DiscountCodes({ store, kinds: cartKinds, clock }).codeFor('w1', 'ann', 'm1', 'cart10');
        assert.deepEqual(again, first);
      } finally {
        await close();
      }
    });

    test('delivered issues the code; failed and suppressed release it for good', async () => {
      const { service, close } = setup();
      try {
        const delivered = await service.codeFor('w1', 'ann', 'm-delivered', 'cart10');
        const failed = await service.codeFor('w1', 'ann', 'm-failed', 'cart10');
        const suppressed = await service.codeFor('w1', 'ann', 'm-suppressed', 'cart10');
        assert.equal((await service.settled('m-delivered', 'delivered'))?.status, 'issued');
        assert.equal((await service.settled('m-failed', 'failed'))?.status, 'released');
        assert.equal((await service.settled('m-suppressed', 'suppressed'))?.status, 'released');
        assert.equal(await service.settled('m-without-code', 'delivered'), null);
        assert.equal((await service.get('w1', delivered.code))?.state, 'issued');
        for (const code of [failed.code, suppressed.code]) {
          assert.equal((await service.get('w1', code))?.state, 'released');
          assert.equal((await service.redeem('w1', code, 'ann')).outcome, 'released');
        }
        await assert.rejects(service.codeFor('w1', 'ann', 'm-failed', 'cart10'), (e: unknown) => e instanceof DiscountCodeError && e.code === 'code_released' && /m-failed/.test(e.message));
      } finally {
        await close();
      }
    });

    test("a visitor's codes are theirs after they sign up: listed, and redeemed by their events and at checkout", async () => {
      // Profiles merged into u:ann left their ids among her identity keys.
      const identities: Record<string, string[]> = { 'u:ann': ['a:dev-9', 'u:ann'], 'u:bob': ['u:bob'] };
      const { service, close } = setup({ identitiesOf: async (_workspaceId, profileId) => identities[profileId] ?? [] });
      try {
        const before = await service.codeFor('w1', 'a:dev-9', 'm1', 'cart10');
        const after = await service.codeFor('w1', 'u:ann', 'm2', 'cart10');
        const second = await service.codeFor('w1', 'a:dev-9', 'm3', 'cart10');
        assert.deepEqual(new Set((await service.listFor('w1', 'u:ann')).items.map((c) => c.code)), new Set([before.code, after.code, second.code]));
        assert.deepEqual((await service.listFor('w1', 'u:bob')).items, []);

        const results = await service.redeemFrom([event('u:bob', 'Order Completed', { coupon: before.code }), event('u:ann', 'Order Completed', { coupon: before.code })]);
        assert.deepEqual(results.map((r) => [r.profileId, r.outcome]), [['u:bob', 'not_owner'], ['u:ann', 'redeemed']]);
        assert.equal((await service.redeem('w1', second.code, 'u:bob')).outcome, 'not_owner');
        assert.equal((await service.redeem('w1', second.code, 'u:ann')).outcome, 'redeemed');
      } finally {
        await close();
      }
    });

    test('redemption by events: the owner, the named event and property, once, before expiry; a Set lookup for the rest', async () => {
      const { service, close } = setup();
      try {
        const cart = await service.codeFor('w1', 'ann', 'm1', 'cart10');
        const late = await service.codeFor('w1', 'ann', 'm2', 'cart10');
        const vip = await service.codeFor('w1', 'ann', 'm3', 'vip');
        const bobs = await service.codeFor('w1', 'bob', 'm4', 'cart10');
        await service.settled('m1', 'delivered');

        assert.deepEqual(await service.redeemFrom([
          event('ann', 'Product Viewed', { coupon: cart.code }),
          event('ann', 'Order Completed', { coupon: cart.code }, T0 + hour, { type: 'page' }),
          event('ann', 'Order Completed', { total: 30 }),
        ]), [], 'other events, other types and events without the property redeem nothing');

        const events = [
          event('ann', 'Order Completed', { coupon: ` ${cart.code.toLowerCase()} ` }),
          event('ann', 'Order Completed', { coupon: cart.code }, T0 + 2 * hour),
          event('ann', 'Order Completed', { coupon: late.code }, T0 + 48 * hour),
          event('ann', 'Order Completed', { voucher: vip.code, coupon: 'SUMMER10' }),
          event('ann', 'Signed Up', { coupon: cart.code }),
          event('ann', 'Order Completed', { coupon: bobs.code }),
          event('ann', 'Order Completed', { coupon: 'not a code!' }),
        ];
        const results = await service.redeemFrom(events);
        assert.deepEqual(
          results.map((r) => [r.code, r.outcome, r.kind]),
          [
            [cart.code, 'redeemed', 'cart10'],
            [cart.code, 'already_redeemed', 'cart10'],
            [late.code, 'expired', 'cart10'],
            ['SUMMER10', 'not_found', null],
            [vip.code, 'redeemed', 'vip'],
            [cart.code, 'other_kind', 'cart10'],
            [bobs.code, 'not_owner', 'cart10'],
          ],
        );
        assert.deepEqual([results[0]!.workspaceId, results[0]!.profileId, results[0]!.messageId], ['w1', 'ann', events[0]!.messageId]);
        const redeemed = await service.get('w1', cart.code);
        assert.deepEqual([redeemed?.state, redeemed?.redeemedAt], ['redeemed', T0 + hour], 'at the time of the event');
        assert.equal((await service.get('w1', bobs.code))?.state, 'reserved', "another user's event leaves bob's code as it was");
      } finally {
        await close();
      }
    });

    test('a code already taken in the workspace is generated again', async () => {
      // Every byte 0 gives CART-AAAA-AAAA, every byte 1 CART-BBBB-BBBB.
      const { random, calls } = sequence([0, 0, 1]);
      const { service, close } = setup({ random });
      try {
        assert.equal((await service.codeFor('w1', 'ann', 'm1', 'cart10')).code, 'CART-AAAA-AAAA');
        assert.equal((await service.codeFor('w1', 'bob', 'm2', 'cart10')).code, 'CART-BBBB-BBBB', 'the duplicate was replaced');
        assert.deepEqual(calls, [16, 16, 16], 'one draw per code generated');
        assert.equal((await service.get('w1', 'CART-AAAA-AAAA'))?.profileId, 'ann', "the first owner's code is untouched");
      } finally {
        await close();
      }
    });

    test('collisions a bounded number of times in a row: a clear error, nothing stored', async () => {
      const { random, calls } = sequence([0]);
      const { service, close } = setup({ random, maxAttempts: 3 });
      try {
        await service.codeFor('w1', 'ann', 'm1', 'cart10');
        await assert.rejects(
          service.codeFor('w1', 'bob', 'm2', 'cart10'),
          (e: unknown) => e instanceof DiscountCodeError && e.code === 'codes_exhausted' && /codes\.cart10: 3 codes generated in a row .* too few X's/.test(e.message),
        );
        assert.equal(calls.length, 4);
        assert.equal(await service.settled('m2', 'failed'), null, 'the message has no code');
      } finally {
        await close();
      }
    });

    test('an unknown kind, and a random source with no usable bytes, are errors naming them', async () => {
      const digits = kinds({ pin: { pattern: 'XXXXXX', alphabet: '0123456789', ttl: '1h' } });
      const { service, store, close } = setup({ random: sequence([255]).random, kinds: digits });
      try {
        await assert.rejects(service.codeFor('w1', 'ann', 'm1', 'cart10'), /code: no kind "cart10" in nudge.yaml codes \(known: pin\)/);
        await assert.rejects(service.codeFor('w1', 'ann', 'm1', 'pin'), /codes\.pin: the random source gave no usable bytes/);
        assert.equal((await store.listFor('w1', ['ann'])).items.length, 0);
      } finally {
        await close();
      }
    });

    test('the default random source gives distinct codes', async () => {
      const { service, close } = setup();
      try {
        const issued = await Promise.all(Array.from({ length: 200 }, (_, i) => service.codeFor('w1', `u${i % 7}`, `m${i}`, 'vip')));
        assert.equal(new Set(issued.map((c) => c.code)).size, 200);
        assert.ok(issued.every((c) => /^VIP-[A-HJ-NP-Z2-9]{6}$/.test(c.code)));
      } finally {
        await close();
      }
    });
  });
}
