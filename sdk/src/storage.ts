/**
 * What the snippet keeps between pages (the anonymous id, the user id, the session, unsent events,
 * the inbox position): a small key-value store of strings. The browser's is localStorage; tests,
 * and pages where localStorage is unavailable (blocked storage, some private modes), use memory.
 * Pure.
 */

export interface KeyValueStore {
  get(key: string): string | null;
  /** May fail silently when the store is full. */
  set(key: string, value: string): void;
  remove(key: string): void;
}

/** Every key the snippet writes. */
export const storageKeys = {
  anonymousId: 'nudge.aid',
  userId: 'nudge.uid',
  session: 'nudge.session',
  queue: 'nudge.queue',
  inboxToken: 'nudge.inbox.token',
  inboxLastId: 'nudge.inbox.last',
} as const;

export function memoryStore(): KeyValueStore {
  const values = new Map<string, string>();
  return {
    get: (key) => values.get(key) ?? null,
    set: (key, value) => void values.set(key, value),
    remove: (key) => void values.delete(key),
  };
}

/** The JSON value under `key`; null when there is none or it is not JSON. */
export function readJson<T>(store: KeyValueStore, key: string): T | null {
  try {
    return JSON.parse(store.get(key) ?? 'null') as T | null;
  } catch {
    return null;
  }
}

export function writeJson(store: KeyValueStore, key: string, value: unknown): void {
  store.set(key, JSON.stringify(value));
}
