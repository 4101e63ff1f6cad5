/**
 * A channel provider delivers one message on one channel (webhook, email, push …). Providers are
 * thin: the dispatcher decides when to call them, retries, and falls back to the next channel.
 *
 * Outcomes are returned, not thrown: `delivered`; `retry` for a failure that may pass (a timeout,
 * a 5xx, a 429), after `retryAfterMs` when the other side said so; `failed` for one that will not
 * (the address is gone, the request is refused): the dispatcher tries the next fallback channel.
 * A provider that throws is treated as `retry`.
 */
import type { OutboundMessage } from '../core/triggers/state.js';

/**
 * A message's content for one channel, rendered from its template: named parts such as `subject`,
 * `html`, `text` (email), `title`, `body`, `url`, `icon` (push, in-app), `text` (SMS).
 */
export type RenderedContent = Readonly<Record<string, string>>;

export interface Delivery {
  workspaceId: string;
  message: OutboundMessage;
  /** The content rendered for `channel`; empty when the message's template defines no parts for it. */
  content: RenderedContent;
  /** The channel being tried: the message's own, or one of its fallbacks. */
  channel: string;
  /** Stable per message across retries and restarts; receivers use it to drop repeats. */
  idempotencyKey: string;
  /** 1 for the first attempt. */
  attempt: number;
}

/**
 * Why a channel failed for good, for the user's timeline and the message log:
 * `bounced` (the mailbox refused it), `invalid_recipient` (no such number or address),
 * `expired_subscription` (the push subscription or device is gone), `no_recipient` (the user has
 * no address, number or subscription for this channel), `no_consent` (the user opted out at the
 * provider, e.g. replied STOP), `rejected` (the provider refused the request or its content).
 */
export type FailureReason = 'bounced' | 'invalid_recipient' | 'expired_subscription' | 'no_recipient' | 'no_consent' | 'rejected';

export type DeliveryOutcome =
  /** Accepted by the provider; `providerId` is its id for the message, when it gives one. */
  | { status: 'delivered'; providerId?: string }
  | { status: 'retry'; error: string; retryAfterMs?: number }
  | { status: 'failed'; error: string; reason?: FailureReason };

export interface ChannelProvider {
  /** What it is, for logs and the API: `webhook`, `smtp` … */
  readonly kind: string;
  send(delivery: Delivery): Promise<DeliveryOutcome>;
  close?(): Promise<void>;
}
