/**
 * The webhook channel: each message is POSTed as JSON to a URL, with its idempotency key in the
 * `Idempotency-Key` header so the receiver can drop a repeat (a retry after a lost response).
 *
 * 2xx is delivered; 408, 425, 429 and 5xx, timeouts and connection errors are retried (after
 * `Retry-After` when given); any other status is a permanent failure, 3xx included: redirects are
 * not followed, since one could lead past the address check below to an internal service.
 *
 * Signing (with `secret`) follows Standard Webhooks (https://www.standardwebhooks.com/):
 * `webhook-id` is the idempotency key, the same on every attempt; `webhook-timestamp` is the
 * attempt's time in unix seconds; `webhook-signature` is `v1,` and the base64 HMAC-SHA256 of
 * `${id}.${timestamp}.${body}` keyed by the secret's bytes (`whsec_` + base64).
 *
 * Address check (unless `allowPrivateNetworks`, see address-guard.ts): a URL whose host is or
 * resolves to anything but a public unicast address is refused, a permanent failure, checked on
 * the address each connection actually goes to.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { ErrorCode, NudgeError } from '../core/errors.js';
import type { ChannelProvider, Delivery, DeliveryOutcome } from '../ports/channel.js';
import { guardedLookup, literalAddressRefusal, RefusedAddressError, systemResolve, type Resolve } from './address-guard.js';
import { post } from './http-post.js';

export interface WebhookOptions {
  url: string;
  /** Extra request headers, e.g. an Authorization the receiver checks. */
  headers?: Record<string, string>;
  /** Default 10,000 ms. */
  timeoutMs?: number;
  /**
   * Standard Webhooks signing secret, `whsec_` followed by base64 of 24 to 64 random bytes.
   * Default none: no `webhook-id`, `webhook-timestamp` or `webhook-signature` headers.
   */
  secret?: string;
  /**
   * Allow URLs whose host is or resolves to a loopback, private, link-local or otherwise
   * non-public address. Default false: such deliveries fail with `refused: …`.
   */
  allowPrivateNetworks?: boolean;
  /** The time of an attempt, for `webhook-timestamp`, in ms since the epoch. Default `Date.now`. */
  now?: () => number;
  /** Resolves a host name to all its addresses. Default `node:dns` lookup (the system resolver). */
  resolve?: Resolve;
}

const retryable = new Set([408, 425, 429]);
const secretPrefix = 'whsec_';

/**
 * Requests go through `node:http` with a keep-alive agent rather than `fetch`: at thousands of
 * messages a second, fetch's request, response and stream objects cost about twice the CPU. The
 * host is resolved and checked once per new connection, not per message, for the same reason.
 */
export class WebhookChannel implements ChannelProvider {
  readonly kind = 'webhook';
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly key: Buffer | undefined;
  private readonly now: () => number;
  /** Set when the URL's host is itself a refused IP address: node connects to it without a lookup. */
  private readonly literalRefusal: string | undefined;

  constructor(private readonly options: WebhookOptions) {
    this.url = new URL(options.url);
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') {
      throw new NudgeError(ErrorCode.invalidConfig, `webhook url: expected http: or https:, got ${this.url.protocol} in ${options.url}`);
    }
    this.key = options.secret === undefined ? undefined : signingKey(options.secret);
    this.now = options.now ?? Date.now;
    const allowPrivate = options.allowPrivateNetworks ?? false;
    this.literalRefusal = allowPrivate ? undefined : literalAddressRefusal(this.url);
    const agentOptions = { keepAlive: true, maxSockets: 256, lookup: guardedLookup(options.resolve ?? systemResolve, allowPrivate) };
    this.agent = this.url.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  }

  async send(delivery: Delivery): Promise<DeliveryOutcome> {
    if (this.literalRefusal) return { status: 'failed', error: this.literalRefusal };
    const { message } = delivery;
    const body = JSON.stringify({
      id: delivery.idempotencyKey,
      workspaceId: delivery.workspaceId,
      channel: delivery.channel,
      template: message.template,
      content: delivery.content,
      topic: message.topic,
      profileId: message.profileId,
      trigger: { id: message.triggerId, version: message.version, runId: message.runId, stepId: message.stepId },
      variants: message.variants,
      entry: message.entry,
      at: message.at,
      attempt: delivery.attempt,
    });
    const where = `POST ${this.options.url}`;
    const result = await post(this.url, {
      agent: this.agent,
      timeoutMs: this.options.timeoutMs ?? 10_000,
      body,
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'idempotency-key': delivery.idempotencyKey,
        ...this.options.headers,
        // After the configured headers: a signature must describe what is actually sent.
        ...this.signatureHeaders(delivery.idempotencyKey, body),
      },
    });
    if ('answer' in result) return outcomeOf(where, result.answer.status, result.answer.headers);
    const { error } = result;
    return error instanceof RefusedAddressError ? { status: 'failed', error: error.message } : { status: 'retry', error: `${where}: ${error.message}` };
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }

  private signatureHeaders(id: string, body: string): Record<string, string> {
    if (!this.key) return {};
    // Each attempt is signed anew: receivers reject timestamps more than a few minutes old.
    const timestamp = Math.floor(this.now() / 1000);
    const signature = createHmac('sha256', this.key).update(`${id}.${timestamp}.${body}`).digest('base64');
    return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${signature}` };
  }
}

/** The key bytes of a `whsec_<base64>` secret; throws naming the option when it is not one. */
function signingKey(secret: string): Buffer {
  const encoded = secret.startsWith(secretPrefix) ? secret.slice(secretPrefix.length) : secret;
  const key = Buffer.from(encoded, 'base64');
  // Round-tripping rejects what Buffer would silently skip (stray characters, bad padding), which
  // receivers' strict base64 decoders would not accept.
  if (key.length === 0 || key.toString('base64') !== encoded) {
    throw new NudgeError(ErrorCode.invalidConfig, 'webhook secret: expected whsec_ followed by standard base64 (with padding)');
  }
  if (key.length < 24 || key.length > 64) {
    throw new NudgeError(ErrorCode.invalidConfig, `webhook secret: expected 24 to 64 bytes (Standard Webhooks), got ${key.length}`);
  }
  return key;
}

function outcomeOf(where: string, status: number, headers: http.IncomingHttpHeaders): DeliveryOutcome {
  if (status >= 200 && status < 300) return { status: 'delivered' };
  if (status >= 300 && status < 400) {
    const location = headers.location ? ` to ${headers.location}` : '';
    return { status: 'failed', error: `${where}: HTTP ${status}, a redirect${location}, not followed; configure the final URL` };
  }
  const error = `${where}: HTTP ${status}`;
  if (status >= 500 || retryable.has(status)) {
    const seconds = Number(headers['retry-after']);
    return Number.isFinite(seconds) && seconds > 0 ? { status: 'retry', error, retryAfterMs: seconds * 1000 } : { status: 'retry', error };
  }
  return { status: 'failed', error };
}
