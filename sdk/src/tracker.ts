/**
 * The tracking half of the snippet, without the DOM: who the visitor is (an anonymous id kept in
 * storage, the user id once identified), the session, and the Segment-compatible events sent to
 * `POST /v1/batch` as `{batch, writeKey, sentAt}`: JSON labelled text/plain with the write key in
 * the body, so that a browser sends it without a CORS preflight and `sendBeacon` can carry it.
 *
 * Every event gets its `messageId` and `timestamp` when it is made; each request its own `sentAt`,
 * from which the server corrects the clock skew of the browser (so a retried batch keeps its
 * times right). `context` carries the page, locale, time zone and `sessionId`.
 *
 * Sending: see queue.ts. `run` sends what is due, one batch at a time; runs are chained, never
 * concurrent. `hide` (the page is hidden or goes away) gives every pending event to the beacon at
 * once. What is not acknowledged stays in storage for the next page.
 */
import { beaconChunks, defaultQueueOptions, EventQueue, mergeStored, type QueueOptions, type SendOutcome } from './queue.js';
import { defaultSessionTimeoutMs, touchSession, type SessionRecord } from './session.js';
import { readJson, storageKeys, writeJson, type KeyValueStore } from './storage.js';

export type Properties = Record<string, unknown>;

export interface WireEvent {
  type: 'track' | 'identify' | 'page';
  messageId: string;
  /** ISO-8601, when it happened by the browser's clock. */
  timestamp: string;
  anonymousId: string;
  userId?: string;
  event?: string;
  name?: string;
  properties?: Properties;
  traits?: Properties;
  context: Properties;
}

export interface TrackerEnv {
  /** ms since the epoch. */
  now(): number;
  /** A new random id (UUID). */
  newId(): string;
  /** In [0, 1), for retry jitter. */
  random(): number;
  storage: KeyValueStore;
  /** POSTs a body to /v1/batch; a network error is `retry`. */
  send(body: string): Promise<SendOutcome>;
  /** Hands a body to navigator.sendBeacon; false when the browser did not take it. */
  beacon(body: string): boolean;
  /** The context of an event made now: `page`, `locale`, `timezone`, `userAgent` … */
  context(): Properties;
}

export interface TrackerOptions {
  writeKey: string;
  /** Quiet time that ends a session, in ms. Default 30 minutes. */
  sessionTimeoutMs?: number;
  /** Batching and retries; see queue.ts for the defaults. */
  queue?: Partial<QueueOptions>;
}

export const library = { name: 'nudge.js', version: '0.1.0' };

export class Tracker {
  anonymousId: string;
  userId: string | null;
  private readonly queue: EventQueue<WireEvent>;
  private readonly queueOptions: QueueOptions;
  private sending: Promise<void> = Promise.resolve();

  constructor(
    private readonly env: TrackerEnv,
    private readonly options: TrackerOptions,
  ) {
    const { storage } = env;
    this.anonymousId = storage.get(storageKeys.anonymousId) ?? this.newAnonymousId();
    this.userId = storage.get(storageKeys.userId);
    this.queueOptions = { ...defaultQueueOptions, ...definedOf(options.queue ?? {}) };
    const restored = readJson<WireEvent[]>(storage, storageKeys.queue);
    this.queue = new EventQueue(this.queueOptions, Array.isArray(restored) ? restored.filter((e) => typeof e?.messageId === 'string') : []);
  }

  track(event: string, properties: Properties = {}): void {
    this.enqueue({ type: 'track', event, properties });
  }

  page(name: string | null, properties: Properties = {}): void {
    this.enqueue({ type: 'page', ...(name ? { name } : {}), properties });
  }

  /** Names the user (kept for later pages) and sends their traits; null keeps the visitor anonymous. */
  identify(userId: string | null, traits: Properties = {}): void {
    if (userId !== null) {
      this.userId = userId;
      this.env.storage.set(storageKeys.userId, userId);
    }
    this.enqueue({ type: 'identify', traits });
  }

  /** Signing out: a new anonymous id, no user id, a new session. Events already made keep theirs. */
  reset(): void {
    this.userId = null;
    this.env.storage.remove(storageKeys.userId);
    this.env.storage.remove(storageKeys.session);
    this.anonymousId = this.newAnonymousId();
  }

  /** The current session's id, or null before the first event. */
  sessionId(): string | null {
    return readJson<SessionRecord>(this.env.storage, storageKeys.session)?.id ?? null;
  }

  /** Sends what is due (all that is pending when `force`), after any run under way. */
  run(force = false): Promise<void> {
    this.sending = this.sending.then(() => this.sendDue(force));
    return this.sending;
  }

  /** The page is hidden or leaving: every pending event goes by beacon; what the browser refuses stays. */
  hide(): void {
    const events = this.queue.drain();
    const sentAt = this.env.now();
    for (const chunk of beaconChunks(events, this.queueOptions.flushAt)) {
      if (this.env.beacon(this.body(chunk, sentAt))) this.queue.acknowledge(chunk);
      else this.queue.putBack(chunk);
    }
    this.persist();
  }

  /** The network is back: retry at once. */
  online(): Promise<void> {
    this.queue.online();
    return this.run();
  }

  /** When `run` next has something to send; null when nothing waits for a time. */
  wakeAt(): number | null {
    return this.queue.wakeAt();
  }

  private async sendDue(force: boolean): Promise<void> {
    for (;;) {
      const batch = this.queue.take(this.env.now(), force);
      if (!batch) return;
      const outcome = await this.env.send(this.body(batch, this.env.now())).catch((): SendOutcome => 'retry');
      this.queue.settle(outcome, this.env.now(), this.env.random());
      this.persist();
      if (outcome === 'retry') return;
    }
  }

  private enqueue(fields: Pick<WireEvent, 'type' | 'event' | 'name' | 'properties' | 'traits'>): void {
    const { env } = this;
    const at = env.now();
    const previous = readJson<SessionRecord>(env.storage, storageKeys.session);
    const session = touchSession(previous, at, this.options.sessionTimeoutMs ?? defaultSessionTimeoutMs, () => env.newId());
    writeJson(env.storage, storageKeys.session, session);
    const event: WireEvent = {
      ...fields,
      messageId: env.newId(),
      timestamp: new Date(at).toISOString(),
      anonymousId: this.anonymousId,
      ...(this.userId === null ? {} : { userId: this.userId }),
      context: { ...env.context(), library, sessionId: session.id },
    };
    this.queue.add(event, at);
    this.persist();
  }

  private body(batch: readonly WireEvent[], sentAt: number): string {
    return JSON.stringify({ batch, writeKey: this.options.writeKey, sentAt: new Date(sentAt).toISOString() });
  }

  private persist(): void {
    const { storage } = this.env;
    const stored = readJson<WireEvent[]>(storage, storageKeys.queue);
    const merged = mergeStored(Array.isArray(stored) ? stored : [], this.queue.unacknowledged(), this.queue.takeSettled(), this.queueOptions.maxQueued);
    if (merged.length === 0) storage.remove(storageKeys.queue);
    else writeJson(storage, storageKeys.queue, merged);
  }

  private newAnonymousId(): string {
    const id = this.env.newId();
    this.env.storage.set(storageKeys.anonymousId, id);
    return id;
  }
}

/** The options that are set, so that an `undefined` never overrides a default. */
function definedOf<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}
