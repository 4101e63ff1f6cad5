/**
 * The webhook channel: each message is POSTed as JSON to a URL, with its idempotency key in the
 * `Idempotency-Key` header so the receiver can drop a repeat (a retry after a lost response).
 *
 * 2xx is delivered; 408, 425, 429 and 5xx, timeouts and connection errors are retried (after
 * `Retry-After` when given); any other status is a permanent failure.
 */
import http from 'node:http';
import https from 'node:https';
import type { ChannelProvider, Delivery, DeliveryOutcome } from '../ports/channel.js';

export interface WebhookOptions {
  url: string;
  /** Extra request headers, e.g. an Authorization the receiver checks. */
  headers?: Record<string, string>;
  /** Default 10,000 ms. */
  timeoutMs?: number;
}

const retryable = new Set([408, 425, 429]);

/**
 * Requests go through `node:http` with a keep-alive agent rather than `fetch`: at thousands of
 * messages a second, fetch's request, response and stream objects cost about twice the CPU.
 */
export class WebhookChannel implements ChannelProvider {
  readonly kind = 'webhook';
  private readonly url: URL;
  private readonly agent: http.Agent;

  constructor(private readonly options: WebhookOptions) {
    this.url = new URL(options.url);
    this.agent = this.url.protocol === 'https:' ? new https.Agent({ keepAlive: true, maxSockets: 256 }) : new http.Agent({ keepAlive: true, maxSockets: 256 });
  }

  send(delivery: Delivery): Promise<DeliveryOutcome> {
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
    const where = `POST ${this.options.url}`;
    const request = this.url.protocol === 'https:' ? https.request : http.request;
    return new Promise((resolve) => {
      const req = request(
        this.url,
        {
          method: 'POST',
          agent: this.agent,
          timeout: this.options.timeoutMs ?? 10_000,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'idempotency-key': delivery.idempotencyKey,
            ...this.options.headers,
          },
        },
        (res) => {
          res.resume(); // drain, so the connection is reused
          res.on('end', () => resolve(outcomeOf(where, res.statusCode ?? 0, res.headers['retry-after'])));
          res.on('error', (error) => resolve({ status: 'retry', error: `${where}: ${error.message}` }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.options.timeoutMs ?? 10_000} ms`)));
      req.on('error', (error) => resolve({ status: 'retry', error: `${where}: ${error.message}` }));
      req.end(body);
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}

function outcomeOf(where: string, status: number, retryAfter: string | undefined): DeliveryOutcome {
  if (status >= 200 && status < 300) return { status: 'delivered' };
  const error = `${where}: HTTP ${status}`;
  if (status >= 500 || retryable.has(status)) {
    const seconds = Number(retryAfter);
    return Number.isFinite(seconds) && seconds > 0 ? { status: 'retry', error, retryAfterMs: seconds * 1000 } : { status: 'retry', error };
  }
  return { status: 'failed', error };
}
