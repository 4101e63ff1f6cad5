/**
 * The events waiting to be sent: batched, sent one batch at a time in order, retried with
 * exponential backoff, and kept until the server has acknowledged them, so that a page offline, a
 * failed request or a closed tab loses nothing (the owner persists `unacknowledged()` and hands it
 * to the next page's queue). Pure: times and the jitter are parameters.
 *
 * Glossary
 * - pending: events not yet handed to a request, oldest first, each with the time it was queued.
 * - in flight: the one batch being sent. `settle` ends it: `ok` (stored) and `drop` (refused for
 *   good, e.g. a bad write key: sending it again cannot help) acknowledge it; `retry` (network
 *   error, 408, 429, 5xx) puts it back in front, due, and waits `retryDelayMs` of the failures in
 *   a row (or until `online`).
 * - due: nothing in flight, the retry time reached, and `flushAt` events pending, or the oldest
 *   pending for `flushIntervalMs`, or a forced flush.
 * - settled: ids acknowledged (or dropped for room) since the owner last asked, so that it can
 *   remove them from storage.
 *
 * Repeats are harmless: every event carries its `messageId`, which the server stores once. A
 * batch sent by beacon as the page hides and again by the next page, or adopted from storage by
 * two tabs, counts once.
 */

export interface QueueOptions {
  /** Events per batch; this many pending send at once. Default 20. */
  flushAt: number;
  /** Longest wait of an event before its batch is sent, in ms. Default 1,000. */
  flushIntervalMs: number;
  /** Most events kept; beyond it the oldest are dropped. Default 1,000. */
  maxQueued: number;
  /** First retry delay, in ms, doubled per failure in a row. Default 1,000. */
  baseRetryMs: number;
  /** Longest retry delay, in ms. Default 60,000. */
  maxRetryMs: number;
}

export const defaultQueueOptions: QueueOptions = { flushAt: 20, flushIntervalMs: 1_000, maxQueued: 1_000, baseRetryMs: 1_000, maxRetryMs: 60_000 };

export type SendOutcome = 'ok' | 'retry' | 'drop';

interface Queued<E> {
  event: E;
  at: number;
}

/** What an HTTP status means for a batch: 2xx stored; 408, 429 and 5xx may pass; any other refusal will not. */
export function outcomeOfStatus(status: number): SendOutcome {
  if (status >= 200 && status < 300) return 'ok';
  return status === 408 || status === 429 || status >= 500 || status === 0 ? 'retry' : 'drop';
}

/** Exponential backoff with jitter: half the delay fixed, half random (`random` in [0, 1)). */
export function retryDelayMs(failures: number, random: number, options: Pick<QueueOptions, 'baseRetryMs' | 'maxRetryMs'>): number {
  const full = Math.min(options.maxRetryMs, options.baseRetryMs * 2 ** Math.max(0, failures - 1));
  return Math.round(full / 2 + (full / 2) * random);
}

export class EventQueue<E extends { messageId: string }> {
  private pending: Queued<E>[];
  private inFlight: Queued<E>[] | null = null;
  private failures = 0;
  private retryAt = 0;
  private settled: string[] = [];

  /** `restored`: events a previous page left unsent; they are due at once. */
  constructor(
    private readonly options: QueueOptions,
    restored: readonly E[] = [],
  ) {
    this.pending = restored.map((event) => ({ event, at: -Infinity }));
  }

  add(event: E, at: number): void {
    this.pending.push({ event, at });
    const over = this.pending.length + (this.inFlight?.length ?? 0) - this.options.maxQueued;
    if (over > 0) this.settled.push(...this.pending.splice(0, over).map((q) => q.event.messageId));
  }

  /** The next batch when one is due (it is then in flight until `settle`); null otherwise. */
  take(at: number, force = false): E[] | null {
    if (this.inFlight || this.pending.length === 0 || at < this.retryAt) return null;
    const due = force || this.pending.length >= this.options.flushAt || at - this.pending[0]!.at >= this.options.flushIntervalMs;
    if (!due) return null;
    this.inFlight = this.pending.splice(0, this.options.flushAt);
    return this.inFlight.map((q) => q.event);
  }

  /** Ends the batch in flight; `random` in [0, 1) spreads the retries of many pages. */
  settle(outcome: SendOutcome, at: number, random: number): void {
    const batch = this.inFlight;
    if (!batch) return;
    this.inFlight = null;
    if (outcome === 'retry') {
      this.putBack(batch.map((q) => q.event));
      this.failures += 1;
      this.retryAt = at + retryDelayMs(this.failures, random, this.options);
      return;
    }
    this.failures = 0;
    this.retryAt = 0;
    this.settled.push(...batch.map((q) => q.event.messageId));
  }

  /** Every pending event, out of the queue, for a beacon; `acknowledge` or `putBack` each. */
  drain(): E[] {
    return this.pending.splice(0).map((q) => q.event);
  }

  /** Events sent another way (a beacon the browser accepted). */
  acknowledge(events: readonly E[]): void {
    this.settled.push(...events.map((e) => e.messageId));
  }

  /** Drained events that could not go: in front again, due at once. */
  putBack(events: readonly E[]): void {
    this.pending.unshift(...events.map((event) => ({ event, at: -Infinity })));
  }

  /** The network is back: retry now. */
  online(): void {
    this.retryAt = 0;
  }

  /** When `take` will next give a batch; null while one is in flight or nothing waits. */
  wakeAt(): number | null {
    if (this.inFlight || this.pending.length === 0) return null;
    const dueAt = this.pending.length >= this.options.flushAt ? -Infinity : this.pending[0]!.at + this.options.flushIntervalMs;
    return Math.max(this.retryAt, dueAt);
  }

  /** In flight and pending: what storage must keep. */
  unacknowledged(): E[] {
    return [...(this.inFlight ?? []), ...this.pending].map((q) => q.event);
  }

  /** Ids settled since the last call. */
  takeSettled(): string[] {
    return this.settled.splice(0);
  }
}

/**
 * What storage holds after a write by one tab: what it held, less what this tab settled and less
 * its own events, then this tab's unacknowledged events; the newest `max`. Another tab's events
 * survive the write.
 */
export function mergeStored<E extends { messageId: string }>(stored: readonly E[], mine: readonly E[], settled: readonly string[], max: number): E[] {
  const drop = new Set([...settled, ...mine.map((e) => e.messageId)]);
  return [...stored.filter((e) => !drop.has(e.messageId)), ...mine].slice(-max);
}

/**
 * Splits events into bodies a beacon can carry (browsers queue at most 64 KiB): at most `flushAt`
 * events and `maxChars` characters of JSON each (UTF-8 takes at most 3 bytes per character).
 */
export function beaconChunks<E>(events: readonly E[], flushAt: number, maxChars = 20_000): E[][] {
  const chunks: E[][] = [];
  let chunk: E[] = [];
  let chars = 0;
  for (const event of events) {
    const size = JSON.stringify(event).length;
    if (chunk.length > 0 && (chunk.length >= flushAt || chars + size > maxChars)) {
      chunks.push(chunk);
      chunk = [];
      chars = 0;
    }
    chunk.push(event);
    chars += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}
