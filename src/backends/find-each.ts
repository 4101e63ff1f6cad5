/**
 * The batch lookups every store answers ("these ids: the ones you hold"), once: what `find`
 * finds for each item, by key (the item itself, or `keyOf(item)`); items it finds nothing for
 * are absent from the map.
 */
export function findEach<K, V>(keys: Iterable<K>, find: (key: K) => V | undefined): Map<K, V>;
export function findEach<T, K, V>(items: Iterable<T>, find: (item: T) => V | undefined, keyOf: (item: T) => K): Map<K, V>;
export function findEach<T, V>(items: Iterable<T>, find: (item: T) => V | undefined, keyOf: (item: T) => unknown = (item) => item): Map<unknown, V> {
  const found = new Map<unknown, V>();
  for (const item of items) {
    const value = find(item);
    if (value !== undefined) found.set(keyOf(item), value);
  }
  return found;
}
