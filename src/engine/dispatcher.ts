/**
 * Delivers the outbox: claims pending messages, hands each to the provider of its channel, and
 * records the outcome. A message is tried on its channel, then on each fallback in turn when a
 * channel fails for good (or keeps failing past `maxAttempts`); a failure that may pass is retried
 * later with exponential backoff. Claims are leases: messages a crashed process had claimed are
 * delivered by the next one once the lease ends (providers get a stable idempotency key, so a
 * receiver can drop the repeat of a delivery whose answer was lost).
 *
 *   pending --claim--> in flight --delivered--> delivered
 *                                --retry-----> pending (notBefore = now + backoff)
 *                                --failed on every channel--> failed
 */
import type { OutboundMessage } from '../core/triggers/state.js';
import type { ChannelProvider, DeliveryOutcome } from '../ports/channel.js';
import type { Clock } from '../ports/clock.js';
import type { DeliveryResult, EngineStore, OutboxEntry } from '../ports/engine-store.js';
import type { Wakeup } from '../ports/wakeup.js';

export interface DispatcherOptions {
  store: EngineStore;
  clock: Clock;
  wakeup: Wakeup;
  /** The provider of a channel name; none means the channel cannot deliver (its fallbacks are tried). */
  providerOf: (channel: string) => ChannelProvider | undefined;
  /** Told what became of each message: `delivered:<channel>` or `failed`. */
  onOutcome?: (workspaceId: string, message: OutboundMessage, outcome: string, at: number) => void;
  onError?: (error: unknown) => void;
  /** Attempts on one channel before its fallbacks are tried. Default 5. */
  maxAttempts?: number;
  /** First retry delay, doubled each attempt up to an hour. Default 1,000 ms. */
  backoffMs?: number;
  /** Messages claimed at once (and sent concurrently). Default 100. */
  batch?: number;
  /** Default 60,000 ms. */
  leaseMs?: number;
}

const maxBackoffMs = 3_600_000;

export class Dispatcher {
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = true;
  private readonly maxAttempts: number;
  private readonly backoffMs: number;

  constructor(private readonly options: DispatcherOptions) {
    this.maxAttempts = options.maxAttempts ?? 5;
    this.backoffMs = options.backoffMs ?? 1000;
  }

  start(): void {
    this.stopped = false;
    this.kick();
  }

  /** Something new is in the outbox. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.drain();
        } catch (error) {
          this.options.onError?.(error);
        }
      } while (this.again && !this.stopped);
      this.running = null;
      await this.arm();
    })();
  }

  /** Resolves when nothing is being delivered. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.options.wakeup.clear();
    await this.idle();
  }

  private async drain(): Promise<void> {
    const { store, clock } = this.options;
    const batch = this.options.batch ?? 100;
    for (;;) {
      if (this.stopped) return;
      const claimed = await store.claimOutbox(clock.now(), batch, this.options.leaseMs ?? 60_000);
      if (claimed.length === 0) return;
      const results = await Promise.all(claimed.map((entry) => this.deliver(entry)));
      const now = clock.now();
      await store.settleOutbox(results, now);
      claimed.forEach((entry, i) => {
        const r = results[i]!;
        if (r.status === 'retry') return;
        this.options.onOutcome?.(entry.workspaceId, entry.message, r.status === 'delivered' ? `delivered:${r.via}` : 'failed', now);
      });
      if (claimed.length < batch) return;
    }
  }

  private async deliver(entry: OutboxEntry): Promise<DeliveryResult> {
    const { message } = entry;
    const attempt = entry.attempts + 1;
    const channels = [message.channel, ...message.fallback];
    let lastError = '';
    for (const channel of channels) {
      const provider = this.options.providerOf(channel);
      if (!provider) {
        lastError = `no provider is configured for channel ${channel}`;
        continue;
      }
      let outcome: DeliveryOutcome;
      try {
        outcome = await provider.send({ workspaceId: entry.workspaceId, message, channel, idempotencyKey: message.key, attempt });
      } catch (error) {
        outcome = { status: 'retry', error: (error as Error).message };
      }
      if (outcome.status === 'delivered') return { key: message.key, status: 'delivered', via: channel };
      lastError = `${channel}: ${outcome.error}`;
      if (outcome.status === 'retry' && attempt < this.maxAttempts) {
        const delay = outcome.retryAfterMs ?? Math.min(maxBackoffMs, this.backoffMs * 2 ** (attempt - 1));
        return { key: message.key, status: 'retry', error: lastError, notBefore: this.options.clock.now() + delay };
      }
      // Failed for good, or retried long enough: the next fallback.
    }
    return { key: message.key, status: 'failed', error: lastError };
  }

  private async arm(): Promise<void> {
    if (this.stopped) return;
    try {
      const next = await this.options.store.nextOutboxAt();
      if (next === null) this.options.wakeup.clear();
      else this.options.wakeup.set(next, () => this.kick());
    } catch (error) {
      this.options.onError?.(error);
    }
  }
}
