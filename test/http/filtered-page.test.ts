/**
 * A filter applied over a keyset listing: paging through with the cursors it hands back yields
 * exactly the matching items, in order, each once, whatever the page size and the scan limit; a
 * `'stop'` ends the listing; no request reads more than the scan limit (plus one page).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { filteredPage, type Verdict } from '../../src/http/filtered-page.js';
import type { Page } from '../../src/ports/pagination.js';

/** A keyset listing over `items`: the cursor is the index after the last item handed out. */
function listing(items: readonly number[]) {
  const stats = { reads: 0, itemsRead: 0 };
  const read = async (limit: number, cursor: string | undefined): Promise<Page<number>> => {
    const from = cursor === undefined ? 0 : Number(cursor);
    const page = items.slice(from, from + limit);
    stats.reads++;
    stats.itemsRead += page.length;
    return { items: page, nextCursor: from + limit < items.length ? String(from + limit) : null };
  };
  return { read, stats };
}

async function all(items: readonly number[], keep: (n: number) => Verdict, limit: number, scanLimit: number) {
  const { read, stats } = listing(items);
  const seen: number[] = [];
  const pages: number[][] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 10_000; i++) {
    const before = stats.itemsRead;
    const page = await filteredPage({ read, keep, limit, cursor, scanLimit });
    assert.ok(page.items.length <= limit);
    assert.ok(stats.itemsRead - before <= scanLimit + 2 * limit, 'a request reads at most the scan limit, plus a page read again');
    seen.push(...page.items);
    pages.push(page.items);
    if (page.nextCursor === null) return { seen, pages };
    cursor = page.nextCursor;
  }
  assert.fail('the listing did not end');
}

test('every match once, in order, for any page size, scan limit and filter', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 120 }),
      fc.integer({ min: 0, max: 9 }),
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 40 }),
      async (items, modulo, limit, scanLimit) => {
        const keep = (n: number) => n % (modulo + 1) === 0;
        const { seen } = await all(items, keep, limit, scanLimit);
        assert.deepEqual(seen, items.filter(keep));
      },
    ),
    { numRuns: 300, ...(process.env['FC_SEED'] ? { seed: Number(process.env['FC_SEED']) } : {}) },
  );
});

test('a full page ends right after its last match: the next page starts with the next match', async () => {
  const { pages } = await all([1, 2, 3, 4, 5, 6, 7, 8], (n) => n % 2 === 0, 2, 100);
  assert.deepEqual(pages, [
    [2, 4],
    [6, 8],
  ]);
});

test("'stop' ends the listing at once", async () => {
  const { seen, pages } = await all([9, 8, 7, 6, 5, 4], (n) => (n < 6 ? 'stop' : n % 2 === 1), 10, 100);
  assert.deepEqual(seen, [9, 7]);
  assert.equal(pages.length, 1);
});

test('past the scan limit a page comes back short, with a cursor to go on', async () => {
  const items = Array.from({ length: 100 }, (_, i) => (i === 95 ? 1 : 0));
  const { read } = listing(items);
  const first = await filteredPage({ read, keep: (n) => n === 1, limit: 10, cursor: undefined, scanLimit: 30 });
  assert.deepEqual(first, { items: [], nextCursor: '30' });
});
