/**
 * The webhook channel: each message is POSTed as JSON to a URL, with its idempotency key in the
 * `Idempotency-Key` header so the receiver can drop a repeat (a retry after a lost response).
 *
 * 2xx is delivered; 408, 425, 429 and 5xx, timeouts and connection errors are retried (after
 * `Retry-After` when given); any other status is a permanent failure.
 */
import type { ChannelProvider, Delivery, DeliveryOutcome } from '../ports/channel.js';

export interface WebhookOptions {
  url: string;
  /** Extra request headers, e.g. an Authorization the receiver checks. */
  headers?: Record<string, string>;
  /** Default 10,000 ms. */
  timeoutMs?: number;
}

const retryable = new Set([408, 425, 429]);

export class WebhookChannel implements ChannelProvider {
  readonly kind = 'webhook';
  constructor(private readonly options: WebhookOptions) {}

  async send(delivery: Delivery): Promise<DeliveryOutcome> {
    const { message } = delivery;
    const body = JSON.stringify({
      id: delivery.idempotencyKey,
      workspaceId: delivery.workspaceId,
      channel: delivery.channel,
      template: message.template,
      topic: message.topic,
      profileId: message.profileId,
      trigger: { id: message.triggerId, version: message.version, runId: message.runId, stepId: message.stepId },
      variants: message.variants,
      entry: message.entry,
      at: message.at,
      attempt: delivery.attempt,
    });
    let response: Response;
    try {
      response = await fetch(this.options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': delivery.idempotencyKey, ...this.options.headers },
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
      await response.arrayBuffer(); // drain, so the connection is reused
    } catch (error) {
      return { status: 'retry', error: `POST ${this.options.url}: ${(error as Error).message}` };
    }
    if (response.ok) return { status: 'delivered' };
    const error = `POST ${this.options.url}: HTTP ${response.status}`;
    if (response.status >= 500 || retryable.has(response.status)) {
      const seconds = Number(response.headers.get('retry-after'));
      return Number.isFinite(seconds) && seconds > 0 ? { status: 'retry', error, retryAfterMs: seconds * 1000 } : { status: 'retry', error };
    }
    return { status: 'failed', error };
  }
}
