/**
 * The in-app channel against a real SQLite inbox: where an item is stored (the user key before
 * anonymous ones), what it holds, one item per message across retries, and the outcomes of content
 * it cannot show, users it cannot reach and stores that fail.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import { SqliteInboxStore } from '../../src/backends/sqlite/sqlite-inbox-store.js';
import { defaultInAppTtlMs, InAppChannel, recipientKey, type InAppOptions } from '../../src/channels/in-app.js';
import type { Delivery, RenderedContent } from '../../src/ports/channel.js';
import type { InboxItem } from '../../src/ports/inbox-store.js';

const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const dir = mkdtempSync(path.join(tmpdir(), 'nudge-in-app-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const identities: Record<string, string[]> = {
  'profile-ada': ['a:anon-ada', 'a:anon-ada-phone', 'u:ada'],
  'profile-visitor': ['a:anon-v2', 'a:anon-v1'],
  'profile-gone': [],
};

function delivery(profileId: string, key: string, content: RenderedContent = { title: 'Your cart misses you', body: 'Crème brûlée ✓ is still there', cta_label: 'Back to cart', cta_url: 'https://shop.example/cart', style: 'toast' }, attempt = 1): Delivery {
  return {
    workspaceId: 'shop',
    channel: 'in_app',
    idempotencyKey: key,
    attempt,
    content,
    message: {
      key,
      profileId,
      triggerId: 'abandoned-cart',
      version: 'v1',
      runId: 'run-1',
      stepId: 'remind',
      channel: 'in_app',
      fallback: ['email'],
      template: 'cart-reminder',
      topic: 'marketing',
      priority: 0,
      variants: {},
      entry: { messageId: 'e-1', type: 'track', name: 'cart_updated', properties: {}, timestamp: t0 },
      at: t0,
    },
  };
}

let store: SqliteInboxStore;
let published: InboxItem[];
let n = 0;

beforeEach(() => {
  store = new SqliteInboxStore({ path: path.join(dir, `inbox-${++n}.db`), synchronous: 'normal' });
  published = [];
});
afterEach(() => store.close());

function channel(options: Partial<InAppOptions> = {}): InAppChannel {
  return new InAppChannel({
    inbox: store,
    published: (item) => published.push(item),
    identitiesOf: async (_workspaceId, profileId) => identities[profileId] ?? [],
    now: () => t0,
    ...options,
  });
}

describe('a delivered message', () => {
  test("is stored under the user's user key with its content and expiry, and published", async () => {
    const outcome = await channel().send(delivery('profile-ada', 'shop/profile-ada/run-1/remind'));
    const [item] = await store.exportUser('shop', identities['profile-ada']!);
    assert.deepEqual(outcome, { status: 'delivered', providerId: String(item!.id) });
    assert.deepEqual({ ...item, id: 0 }, {
      id: 0,
      workspaceId: 'shop',
      identityKey: 'u:ada',
      messageKey: 'shop/profile-ada/run-1/remind',
      triggerId: 'abandoned-cart',
      content: delivery('profile-ada', '').content,
      createdAt: t0,
      expiresAt: t0 + defaultInAppTtlMs,
      readAt: null,
      shownAt: null,
      clickedAt: null,
      dismissedAt: null,
      feedback: null,
    });
    assert.deepEqual(published, [item]);
    assert.equal(defaultInAppTtlMs, 30 * 24 * 3600_000);
  });

  test('an anonymous visitor gets it under the first anonymous key; ttlMs sets the expiry', async () => {
    await channel({ ttlMs: 60_000 }).send(delivery('profile-visitor', 'k-1'));
    const [item] = await store.exportUser('shop', identities['profile-visitor']!);
    assert.deepEqual([item?.identityKey, item?.expiresAt], ['a:anon-v1', t0 + 60_000]);
    assert.equal(recipientKey(['a:b', 'u:z', 'u:a']), 'u:a');
    assert.equal(recipientKey([]), undefined);
  });

  test('a message with only a body or only a title is shown', async () => {
    const c = channel();
    assert.equal((await c.send(delivery('profile-ada', 'k-body', { body: 'Only a body' }))).status, 'delivered');
    assert.equal((await c.send(delivery('profile-ada', 'k-title', { title: 'Only a title' }))).status, 'delivered');
  });
});

describe('retries', () => {
  test('the same message sent again stays one item with the same id, and is published again for streams to drop', async () => {
    const c = channel();
    const first = await c.send(delivery('profile-ada', 'k-1'));
    const again = await c.send(delivery('profile-ada', 'k-1', { title: 'changed' }, 2));
    assert.deepEqual(again, first);
    const items = await store.exportUser('shop', identities['profile-ada']!);
    assert.equal(items.length, 1);
    assert.equal(items[0]!.content['title'], 'Your cart misses you');
    assert.deepEqual(published.map((i) => i.id), [items[0]!.id, items[0]!.id]);
  });
});

describe('outcomes', () => {
  test('content with neither title nor body is rejected for good, and nothing is stored', async () => {
    const outcome = await channel().send(delivery('profile-ada', 'k-1', { title: ' ', cta_label: 'Go' }));
    assert.deepEqual(outcome, { status: 'failed', reason: 'rejected', error: 'in-app content has neither a title nor a body' });
    assert.deepEqual(await store.exportUser('shop', identities['profile-ada']!), []);
    assert.deepEqual(published, []);
  });

  test('a user without identity keys is no recipient', async () => {
    const outcome = await channel().send(delivery('profile-gone', 'k-1'));
    assert.deepEqual([outcome.status, outcome.status === 'failed' && outcome.reason], ['failed', 'no_recipient']);
  });

  test('a failing identity lookup or store is retried', async () => {
    const lookup = await channel({ identitiesOf: async () => Promise.reject(new Error('cache unavailable')) }).send(delivery('profile-ada', 'k-1'));
    assert.deepEqual(lookup, { status: 'retry', error: "looking up the user's identities: cache unavailable" });
    await store.close();
    const stored = await channel().send(delivery('profile-ada', 'k-1'));
    assert.equal(stored.status, 'retry');
    assert.match(stored.status === 'retry' ? stored.error : '', /^storing the inbox item: .*not open/);
    assert.deepEqual(published, []);
  });
});
