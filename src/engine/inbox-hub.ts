/**
 * Live fan-out of new inbox items to the open streams of their users, in this process.
 *
 * A subscriber is one stream: a workspace, the identity keys of its user, and a listener. `publish`
 * hands an item to every subscriber holding its identity key and returns at once: it never waits
 * for a listener, so one slow or dead stream cannot hold up the others or the channel.
 *
 * Backpressure: a listener that cannot take more yet (its socket is full) returns a promise that
 * settles once it can. Until then the items for it wait in its queue, in publish order; a queue
 * that grows past `maxQueued` means the stream is not keeping up, and the subscriber is dropped
 * (`onDropped`) rather than buffered without bound. A listener that throws or rejects is dropped
 * too. A dropped stream's client reconnects and replays what it missed from the store.
 */
import type { InboxItem } from '../ports/inbox-store.js';
import { messageOf } from '../core/errors.js';

/** Takes one item; a promise means "busy until it settles". */
export type InboxListener = (item: InboxItem) => void | Promise<void>;

export interface InboxHubOptions {
  /** Items that may wait for one busy subscriber before it is dropped. Default 256. */
  maxQueued?: number;
}

export interface SubscribeOptions {
  /** Called once, when the hub drops the subscriber (it is then unsubscribed). */
  onDropped?: (reason: string) => void;
}

interface Subscriber {
  readonly keys: readonly string[];
  readonly listener: InboxListener;
  readonly onDropped: ((reason: string) => void) | undefined;
  readonly queue: InboxItem[];
  busy: boolean;
  active: boolean;
}

const routeOf = (workspaceId: string, identityKey: string): string => `${workspaceId}\u0000${identityKey}`;

export class InboxHub {
  private readonly byKey = new Map<string, Set<Subscriber>>();
  private readonly maxQueued: number;
  private count = 0;

  constructor(options: InboxHubOptions = {}) {
    this.maxQueued = options.maxQueued ?? 256;
  }

  /** Streams the items published for any of `identityKeys` to `listener`; returns the unsubscribe. */
  subscribe(workspaceId: string, identityKeys: readonly string[], listener: InboxListener, options: SubscribeOptions = {}): () => void {
    const keys = [...new Set(identityKeys)].map((k) => routeOf(workspaceId, k));
    const subscriber: Subscriber = { keys, listener, onDropped: options.onDropped, queue: [], busy: false, active: true };
    for (const key of subscriber.keys) {
      const set = this.byKey.get(key) ?? new Set<Subscriber>();
      set.add(subscriber);
      this.byKey.set(key, set);
    }
    this.count++;
    return () => this.remove(subscriber);
  }

  publish(item: InboxItem): void {
    const subscribers = this.byKey.get(routeOf(item.workspaceId, item.identityKey));
    if (!subscribers) return;
    for (const subscriber of [...subscribers]) {
      if (!subscriber.active) continue;
      if (!subscriber.busy) this.deliver(subscriber, item);
      else if (subscriber.queue.push(item) > this.maxQueued) this.drop(subscriber, `more than ${this.maxQueued} items waiting`);
    }
  }

  /** Open subscriptions. */
  get subscribers(): number {
    return this.count;
  }

  private deliver(subscriber: Subscriber, item: InboxItem): void {
    let pending: void | Promise<void>;
    try {
      pending = subscriber.listener(item);
    } catch (error) {
      return this.drop(subscriber, `listener failed: ${messageOf(error)}`);
    }
    if (!(pending instanceof Promise)) return;
    subscriber.busy = true;
    pending.then(
      () => {
        subscriber.busy = false;
        this.drain(subscriber);
      },
      (error: unknown) => this.drop(subscriber, `listener failed: ${messageOf(error)}`),
    );
  }

  /** Hands a subscriber that is free again what waited for it, until it is busy again. */
  private drain(subscriber: Subscriber): void {
    while (subscriber.active && !subscriber.busy && subscriber.queue.length > 0) this.deliver(subscriber, subscriber.queue.shift()!);
  }

  private drop(subscriber: Subscriber, reason: string): void {
    if (!subscriber.active) return;
    this.remove(subscriber);
    subscriber.onDropped?.(reason);
  }

  private remove(subscriber: Subscriber): void {
    if (!subscriber.active) return;
    subscriber.active = false;
    subscriber.queue.length = 0;
    this.count--;
    for (const key of subscriber.keys) {
      const set = this.byKey.get(key);
      set?.delete(subscriber);
      if (set?.size === 0) this.byKey.delete(key);
    }
  }
}
