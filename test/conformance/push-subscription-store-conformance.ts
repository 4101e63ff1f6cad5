/**
 * The contract of `PushSubscriptionStore` (src/ports/push-subscription-store.ts) that every backend
 * must pass. A backend's test file calls `pushSubscriptionStoreConformance` with a factory that
 * opens a fresh, empty store; durable backends also give `reopen`.
 */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { perTestStore } from '../support/conformance.js';
import {
  maxSubscriptionsPerIdentity,
  type PushRegistration,
  type PushSubscriptionRecord,
  type PushSubscriptionStore,
} from '../../src/ports/push-subscription-store.js';

export interface OpenedPushSubscriptionStore {
  store: PushSubscriptionStore;
  /** Closes `store` and opens the same data again; required when `capabilities.durable`. */
  reopen?: () => Promise<PushSubscriptionStore>;
  cleanup: () => Promise<void>;
}

const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const endpoint = (n: number | string): string => `https://push.nudge.test/send/${n}`;

function registration(n: number | string, identityKey: string, at: number, extra: Partial<PushRegistration> = {}): PushRegistration {
  return {
    workspaceId: 'w1',
    identityKey,
    subscription: { endpoint: endpoint(n), keys: { p256dh: `p256dh-${n}`, auth: `auth-${n}` }, expirationTime: null },
    userAgent: 'Mozilla/5.0 (test)',
    at,
    ...extra,
  };
}

const endpoints = (records: readonly PushSubscriptionRecord[]): string[] => records.map((r) => r.endpoint);

export function pushSubscriptionStoreConformance(name: string, open: () => Promise<OpenedPushSubscriptionStore>): void {
  const it = perTestStore<PushSubscriptionStore, OpenedPushSubscriptionStore>(open);

  describe(`PushSubscriptionStore conformance: ${name}`, () => {
    it('a registered subscription is listed with every field as given', async (store) => {
      const expires = t0 + 86_400_000;
      const r = registration(1, 'u:ann', t0, { subscription: { endpoint: endpoint(1), keys: { p256dh: 'P', auth: 'A' }, expirationTime: expires } });
      assert.deepEqual(await store.register(r), { created: true });
      assert.deepEqual(await store.listFor('w1', ['u:ann']), [
        {
          workspaceId: 'w1',
          identityKey: 'u:ann',
          endpoint: endpoint(1),
          keys: { p256dh: 'P', auth: 'A' },
          expirationTime: expires,
          userAgent: 'Mozilla/5.0 (test)',
          createdAt: t0,
          updatedAt: t0,
        },
      ]);
      await store.register(registration(2, 'u:bob', t0, { userAgent: undefined }));
      const [bob] = await store.listFor('w1', ['u:bob']);
      assert.equal(bob?.userAgent, null, 'no user agent is null');
      assert.equal(bob?.expirationTime, null);
      assert.equal(await store.count(), 2);
    });

    it('registering an endpoint again refreshes it: new keys and user agent, createdAt kept', async (store) => {
      await store.register(registration(1, 'u:ann', t0));
      const again = registration(1, 'u:ann', t0 + 5000, {
        subscription: { endpoint: endpoint(1), keys: { p256dh: 'P2', auth: 'A2' }, expirationTime: null },
        userAgent: 'Other/1.0',
      });
      assert.deepEqual(await store.register(again), { created: false });
      const [record] = await store.listFor('w1', ['u:ann']);
      assert.deepEqual([record?.keys, record?.userAgent, record?.createdAt, record?.updatedAt], [{ p256dh: 'P2', auth: 'A2' }, 'Other/1.0', t0, t0 + 5000]);
      assert.equal(await store.count(), 1);
    });

    it('registering an endpoint for another identity moves it there', async (store) => {
      await store.register(registration(1, 'a:device-1', t0));
      assert.deepEqual(await store.register(registration(1, 'u:ann', t0 + 1000)), { created: false });
      assert.deepEqual(await store.listFor('w1', ['a:device-1']), []);
      assert.deepEqual(endpoints(await store.listFor('w1', ['u:ann'])), [endpoint(1)]);
      assert.equal(await store.count(), 1);
    });

    it('listFor gathers the given identity keys, newest first (ties by endpoint), in one workspace only', async (store) => {
      await store.register(registration('b', 'u:ann', t0));
      await store.register(registration('a', 'a:device-1', t0));
      await store.register(registration('c', 'a:device-1', t0 + 2000));
      await store.register(registration('d', 'u:bob', t0 + 3000));
      await store.register({ ...registration('e', 'u:ann', t0 + 4000), workspaceId: 'w2' });
      assert.deepEqual(endpoints(await store.listFor('w1', ['u:ann', 'a:device-1'])), [endpoint('c'), endpoint('a'), endpoint('b')]);
      assert.deepEqual(endpoints(await store.listFor('w2', ['u:ann'])), [endpoint('e')]);
      assert.deepEqual(await store.listFor('w1', []), []);
      assert.deepEqual(await store.listFor('w1', ['u:nobody']), []);
    });

    it('the same endpoint in two workspaces is two subscriptions', async (store) => {
      await store.register(registration(1, 'u:ann', t0));
      assert.deepEqual(await store.register({ ...registration(1, 'u:ann', t0), workspaceId: 'w2' }), { created: true });
      assert.equal(await store.count(), 2);
      assert.equal(await store.remove('w2', endpoint(1)), true);
      assert.deepEqual(endpoints(await store.listFor('w1', ['u:ann'])), [endpoint(1)]);
    });

    it('remove deletes one endpoint; removing it again is a no-op', async (store) => {
      await store.register(registration(1, 'u:ann', t0));
      await store.register(registration(2, 'u:ann', t0 + 1));
      assert.equal(await store.remove('w1', endpoint(1)), true);
      assert.equal(await store.remove('w1', endpoint(1)), false);
      assert.equal(await store.remove('w1', endpoint('never')), false);
      assert.deepEqual(endpoints(await store.listFor('w1', ['u:ann'])), [endpoint(2)]);
      assert.equal(await store.count(), 1);
    });

    it(`an identity keeps its ${maxSubscriptionsPerIdentity} most recently registered subscriptions`, async (store) => {
      for (let n = 0; n < maxSubscriptionsPerIdentity; n++) await store.register(registration(n, 'u:ann', t0 + n));
      await store.register(registration(0, 'u:ann', t0 + 100)); // refreshed: now the newest
      await store.register(registration('other', 'u:bob', t0));
      assert.equal(await store.count(), maxSubscriptionsPerIdentity + 1, 'refreshing one drops none');
      await store.register(registration('new', 'u:ann', t0 + 200));
      const held = endpoints(await store.listFor('w1', ['u:ann']));
      assert.equal(held.length, maxSubscriptionsPerIdentity);
      assert.deepEqual(held.slice(0, 2), [endpoint('new'), endpoint(0)]);
      assert.ok(!held.includes(endpoint(1)), 'the least recently registered is dropped');
      assert.deepEqual(endpoints(await store.listFor('w1', ['u:bob'])), [endpoint('other')], 'other identities keep theirs');
    });

    it('a new registration is kept even when it ties the time of every other', async (store) => {
      for (let n = 0; n < maxSubscriptionsPerIdentity; n++) await store.register(registration(`b${n}`, 'u:ann', t0));
      await store.register(registration('a-new', 'u:ann', t0)); // sorts before the others by endpoint
      const held = endpoints(await store.listFor('w1', ['u:ann']));
      assert.equal(held.length, maxSubscriptionsPerIdentity);
      assert.ok(held.includes(endpoint('a-new')));
    });

    it('exportUser returns everything about one user and nothing about anyone else', async (store) => {
      await store.register(registration(1, 'u:ann', t0));
      await store.register(registration(2, 'a:device-1', t0 + 1));
      await store.register(registration(3, 'u:bob', t0 + 2));
      await store.register({ ...registration(4, 'u:ann', t0 + 3), workspaceId: 'w2' });
      const data = await store.exportUser('w1', ['u:ann', 'a:device-1']);
      assert.deepEqual(endpoints(data), [endpoint(2), endpoint(1)]);
      assert.ok(data.every((r) => r.workspaceId === 'w1' && r.keys.auth.startsWith('auth-')));
      assert.deepEqual(await store.exportUser('w1', ['u:nobody']), []);
    });

    it('eraseUser removes every subscription of the user and nothing else', async (store) => {
      await store.register(registration(1, 'u:ann', t0));
      await store.register(registration(2, 'a:device-1', t0 + 1));
      await store.register(registration(3, 'u:bob', t0 + 2));
      await store.register({ ...registration(4, 'u:ann', t0 + 3), workspaceId: 'w2' });
      const bobBefore = await store.exportUser('w1', ['u:bob']);
      assert.equal(await store.eraseUser('w1', ['u:ann', 'a:device-1']), 2);
      assert.deepEqual(await store.exportUser('w1', ['u:ann', 'a:device-1']), []);
      assert.deepEqual(await store.exportUser('w1', ['u:bob']), bobBefore);
      assert.equal((await store.exportUser('w2', ['u:ann'])).length, 1);
      assert.equal(await store.eraseUser('w1', ['u:ann', 'a:device-1']), 0, 'erasing twice is a no-op');
      assert.equal(await store.eraseUser('w1', []), 0);
      assert.equal(await store.count(), 2);
    });

    it('a reopened durable store holds everything it held', async (store, opened, t) => {
      if (!store.capabilities.durable) return t.skip(`${name} is not durable: nothing survives a reopen`);
      assert.ok(opened.reopen, 'a durable backend must give reopen');
      await store.register(registration(1, 'u:ann', t0));
      await store.register(registration(2, 'a:device-1', t0 + 1, { userAgent: null }));
      await store.register(registration(3, 'u:bob', t0 + 2));
      await store.remove('w1', endpoint(3));
      const before = await store.listFor('w1', ['u:ann', 'a:device-1', 'u:bob']);
      const reopened = await opened.reopen();
      assert.deepEqual(await reopened.listFor('w1', ['u:ann', 'a:device-1', 'u:bob']), before);
      assert.equal(await reopened.count(), 2);
      assert.deepEqual(await reopened.register(registration(1, 'u:ann', t0 + 10)), { created: false }, 'a held endpoint is still known');
    });
  });
}
