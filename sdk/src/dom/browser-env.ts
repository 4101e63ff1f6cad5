/**
 * The browser under the tracker (tracker.ts `TrackerEnv`): localStorage (memory when it is
 * unavailable), random UUIDs from `crypto.getRandomValues`, `fetch` and `sendBeacon` to the
 * Nudge host, and the context of each event: the page, the browser's locale and time zone, which
 * profiles keep.
 */
import { outcomeOfStatus } from '../queue.js';
import { memoryStore, type KeyValueStore } from '../storage.js';
import type { TrackerEnv } from '../tracker.js';

export function browserStorage(win: Window): KeyValueStore {
  try {
    const storage = win.localStorage;
    const probe = 'nudge.probe';
    storage.setItem(probe, probe);
    storage.removeItem(probe);
    return {
      get: (key) => storage.getItem(key),
      set: (key, value) => {
        try {
          storage.setItem(key, value);
        } catch {
          // Full: the value lives on in memory only, for this page.
        }
      },
      remove: (key) => storage.removeItem(key),
    };
  } catch {
    return memoryStore();
  }
}

/** A version 4 UUID (crypto.randomUUID exists only on secure origins). */
export function uuid(crypto: Crypto): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function browserEnv(win: Window, host: string, storage: KeyValueStore): TrackerEnv {
  const url = `${host}/v1/batch`;
  const nav = win.navigator;
  return {
    now: () => Date.now(),
    newId: () => uuid(win.crypto),
    random: () => Math.random(),
    storage,
    // A string body goes as text/plain: no CORS preflight. keepalive lets it finish if the page goes.
    send: async (body) => {
      const res = await win.fetch(url, { method: 'POST', body, keepalive: body.length < 60_000, credentials: 'omit' });
      const outcome = outcomeOfStatus(res.status);
      if (outcome === 'drop') console.warn(`nudge: events refused (${res.status}): ${await res.text()}`);
      return outcome;
    },
    beacon: (body) => {
      try {
        return nav.sendBeacon(url, body);
      } catch {
        return false;
      }
    },
    context: () => {
      const { location, document } = win;
      return {
        page: { path: location.pathname, url: location.href.replace(/#.*$/, ''), search: location.search, title: document.title, referrer: document.referrer },
        locale: nav.language,
        timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
        userAgent: nav.userAgent,
      };
    },
  };
}
