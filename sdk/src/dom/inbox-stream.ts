/**
 * The in-app channel on the page: follows the user's inbox stream (`GET /v1/inbox/stream`, an
 * EventSource, which reconnects by itself and names the last id it saw) and hands each new item
 * over once; reports what the user did with it to `POST /v1/inbox/{id}/shown|clicked|dismiss|
 * feedback`, by beacon (the token in the query, feedback as text/plain JSON), so that a report
 * survives the page unloading as a link is followed.
 *
 * The token: the signed-in user's, minted by the site's backend, or else a visitor's, asked for
 * with the write key and the anonymous id (`POST /v1/inbox/token`) and kept until a day before it
 * expires. A stream the server closes for good (a refused token, an error status) is opened again
 * after a backoff, a visitor's with a fresh token; an expired user token must be replaced by the
 * site (identify with a new one).
 */
import { parseMessage, reportUrl, streamStart, streamUrl, type InboxMessage, type InboxReport } from '../inbox.js';
import { retryDelayMs } from '../queue.js';
import { readJson, storageKeys, writeJson, type KeyValueStore } from '../storage.js';

export interface InboxStreamOptions {
  host: string;
  writeKey: string;
  storage: KeyValueStore;
  /** Each item, once per page. */
  received(item: InboxMessage): void;
}

interface VisitorToken {
  token: string;
  anonymousId: string;
  expiresAt: string;
}

const dayMs = 86_400_000;

export class InboxStream {
  private source: EventSource | null = null;
  private token: string | null = null;
  private readonly seen = new Set<number>();
  private failures = 0;
  private retry: ReturnType<typeof setTimeout> | undefined;
  /** Counts `open` and `close` calls: an `open` that waited for a token and is no longer the last one gives up. */
  private generation = 0;

  constructor(
    private readonly win: Window,
    private readonly options: InboxStreamOptions,
  ) {}

  /** Follows the inbox of a signed-in user (`userToken`), else of the visitor `anonymousId`. */
  async open(anonymousId: string, userToken: string | null): Promise<void> {
    this.close();
    const generation = this.generation;
    const token = userToken ?? (await this.visitorToken(anonymousId));
    if (generation !== this.generation) return;
    if (token === null) return this.later(anonymousId, userToken);
    const { storage } = this.options;
    const es = new EventSource(streamUrl(this.options.host, token, streamStart(readJson<number>(storage, storageKeys.inboxLastId), userToken === null)));
    this.source = es;
    this.token = token;
    const remember = (e: MessageEvent) => e.lastEventId && writeJson(storage, storageKeys.inboxLastId, Number(e.lastEventId));
    es.addEventListener('ready', (e) => {
      this.failures = 0;
      remember(e as MessageEvent);
    });
    es.addEventListener('message', (e) => {
      remember(e);
      const item = parseMessage(e.data as string);
      if (!item || this.seen.has(item.id)) return;
      this.seen.add(item.id);
      this.options.received(item);
    });
    es.onerror = () => {
      if (es.readyState !== es.CLOSED || this.source !== es) return;
      if (userToken === null) storage.remove(storageKeys.inboxToken);
      this.later(anonymousId, userToken);
    };
  }

  close(): void {
    this.generation += 1;
    clearTimeout(this.retry);
    this.source?.close();
    this.source = null;
    this.token = null;
  }

  /** Tells Nudge what the user did with an item. */
  report(id: number, report: InboxReport, value?: string): void {
    if (this.token === null) return;
    const url = reportUrl(this.options.host, this.token, id, report);
    const body = value === undefined ? null : JSON.stringify({ value });
    let queued = false;
    try {
      queued = this.win.navigator.sendBeacon(url, body);
    } catch {
      // No beacon here: fetch below.
    }
    if (!queued) void this.win.fetch(url, { method: 'POST', body, keepalive: true, credentials: 'omit' }).catch(() => {});
  }

  private later(anonymousId: string, userToken: string | null): void {
    this.retry = setTimeout(() => void this.open(anonymousId, userToken), retryDelayMs(++this.failures, Math.random(), { baseRetryMs: 5_000, maxRetryMs: 300_000 }));
  }

  private async visitorToken(anonymousId: string): Promise<string | null> {
    const { host, writeKey, storage } = this.options;
    const kept = readJson<VisitorToken>(storage, storageKeys.inboxToken);
    if (kept?.anonymousId === anonymousId && Date.parse(kept.expiresAt) - Date.now() > dayMs) return kept.token;
    try {
      const res = await this.win.fetch(`${host}/v1/inbox/token`, { method: 'POST', body: JSON.stringify({ anonymousId, writeKey }), credentials: 'omit' });
      if (!res.ok) return null;
      const { token, expiresAt } = (await res.json()) as VisitorToken;
      writeJson(storage, storageKeys.inboxToken, { token, anonymousId, expiresAt });
      return token;
    } catch {
      return null;
    }
  }
}
