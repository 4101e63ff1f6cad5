/**
 * A filter the store cannot apply, applied to one of its keyset listings page by page, in bounded
 * work: a request reads at most `scanLimit` items. A page can therefore hold fewer than `limit`
 * items (even none) and still have a `nextCursor`: the listing goes on from there.
 *
 * The cursors handed back are the store's own, so pages stay stable and never overlap: a store
 * page is only ever consumed whole. When the `limit`th match falls inside a store page, that page
 * is read again up to the match, to get the store's cursor right after it.
 */
import type { Page } from '../ports/pagination.js';

/** `true` keeps the item, `false` skips it, `'stop'` ends the listing there (items are in order past it). */
export type Verdict = boolean | 'stop';

export interface FilteredPageOptions<T> {
  /** One page of the store's listing. */
  read: (limit: number, cursor: string | undefined) => Promise<Page<T>>;
  keep: (item: T) => Verdict;
  limit: number;
  cursor: string | undefined;
  /** Most items read from the store for one page of results. */
  scanLimit: number;
}

export async function filteredPage<T>(options: FilteredPageOptions<T>): Promise<Page<T>> {
  const { read, keep, limit, scanLimit } = options;
  const items: T[] = [];
  let cursor = options.cursor;
  for (let scanned = 0; scanned < scanLimit; ) {
    const page = await read(limit, cursor);
    scanned += page.items.length;
    for (let i = 0; i < page.items.length; i++) {
      const item = page.items[i]!;
      const verdict = keep(item);
      if (verdict === 'stop') return { items, nextCursor: null };
      if (!verdict) continue;
      items.push(item);
      if (items.length < limit) continue;
      if (i === page.items.length - 1) return { items, nextCursor: page.nextCursor };
      return { items, nextCursor: (await read(i + 1, cursor)).nextCursor };
    }
    if (page.nextCursor === null) return { items, nextCursor: null };
    cursor = page.nextCursor;
  }
  return { items, nextCursor: cursor ?? null };
}
