/**
 * The web push channel: each message goes to every push subscription of the user (each browser
 * that subscribed), encrypted for it (RFC 8291, aes128gcm) and authorised with the application
 * server's VAPID key (RFC 8292), through the browser's push service (RFC 8030). `web-push` builds
 * the request; it is sent here over a keep-alive agent with the address check of address-guard.ts.
 *
 * The payload a service worker receives (`event.data.json()`), UTF-8 JSON of at most 3993 bytes:
 *   { "title": string, "body"?: string, "url"?: string, "icon"?: string, "tag": string }
 * — the push parts the template rendered, and `tag`, the message's idempotency key: shown with
 * `showNotification(title, { body, icon, tag, data: { url } })`, a repeat of a message replaces
 * its notification rather than adding a second. The request's `Topic` header (a hash of the same
 * key) makes the push service replace a repeat it still holds for an offline browser.
 *
 * Outcomes: delivered when at least one push service accepted the message (2xx; `providerId` is
 * its `Location`, the message's URI there). Per subscription, 404 and 410 mean it is gone: it is
 * removed through `removeSubscription`, as is one whose `expirationTime` has passed (not sent to).
 * When nothing was accepted: retry if any subscription had a failure that may pass (408, 429,
 * 5xx, a timeout, a connection error), after the longest `Retry-After` given; else failed
 * `rejected` if any push service refused the request (400, 401/403: a VAPID problem, 413 …,
 * redirects, which are not followed) or its endpoint was refused by the address check; else
 * failed `expired_subscription`. No subscription at all: failed `no_recipient`. Content without
 * a title, or a payload over 3993 bytes: failed `rejected`, before any request.
 *
 * Endpoints are URLs that browsers hand in through a public write key, so they get the address
 * check unless `allowPrivateNetworks`; errors name the push service's origin, never the endpoint
 * (its path identifies the browser).
 */
import { createECDH, createHash } from 'node:crypto';
import https from 'node:https';
import tls from 'node:tls';
import webPush, { type RequestDetails } from 'web-push';
import { ErrorCode, NudgeError, messageOf } from '../core/errors.js';
import type { ChannelProvider, Delivery, DeliveryOutcome } from '../ports/channel.js';
import type { PushSubscriptionRecord } from '../ports/push-subscription-store.js';
import { guardedLookup, literalAddressRefusal, RefusedAddressError, systemResolve, type Resolve } from './address-guard.js';

export type PushUrgency = 'very-low' | 'low' | 'normal' | 'high';

export interface WebPushOptions {
  /**
   * The application server's VAPID key pair, base64url (`web-push generate-vapid-keys`): a
   * 65-byte uncompressed P-256 public key and its 32-byte private key; `subject`, a mailto: or
   * https: URL push services may contact about the traffic.
   */
  vapid: { publicKey: string; privateKey: string; subject: string };
  /** The push subscriptions of a user (of all the identity keys of the profile). */
  subscriptionsOf: (workspaceId: string, profileId: string) => Promise<readonly PushSubscriptionRecord[]>;
  /** Forgets a subscription its push service says is gone. */
  removeSubscription: (workspaceId: string, endpoint: string) => Promise<void>;
  /**
   * How long a push service keeps a message for a browser that is offline, in seconds. Default
   * 86,400 (a day): a nudge about a moment is stale after that (web-push's own default is 4 weeks).
   */
  ttlSeconds?: number;
  /** How urgently the push service should wake the device (RFC 8030 §5.3). Default `normal`. */
  urgency?: PushUrgency;
  /** How long to wait for each push service's answer, from the request's start, in ms. Default 10,000. */
  timeoutMs?: number;
  /**
   * Allow endpoints whose host is or resolves to a loopback, private, link-local or otherwise
   * non-public address. Default false: such subscriptions are refused.
   */
  allowPrivateNetworks?: boolean;
  /** PEM certificates to trust besides Node's bundled root certificates (a private push service, tests). Default none. */
  trustedCertificates?: readonly string[];
  /** The current time in ms since the epoch, for `expirationTime` and `Retry-After` dates. Default `Date.now`. */
  now?: () => number;
  /** Resolves a host name to all its addresses. Default `node:dns` lookup (the system resolver). */
  resolve?: Resolve;
}

/**
 * The most plaintext one aes128gcm record can carry within the 4096-byte body every push service
 * must accept (RFC 8291 §4): 4096 less the 86-byte header, the 16-byte tag and the 1-byte delimiter.
 */
export const maxPayloadBytes = 3993;

/** What became of the message at one subscription. */
type Attempt =
  | { kind: 'accepted'; location: string | undefined }
  | { kind: 'expired'; error: string }
  | { kind: 'retry'; error: string; retryAfterMs: number | undefined }
  | { kind: 'rejected'; error: string };

const retryable = new Set([408, 425, 429]);
const base64url = /^[A-Za-z0-9_-]+$/;
/** Enough of a push service's answer to see why it refused (a JSON reason, usually). */
const maxReasonChars = 200;

export class WebPushChannel implements ChannelProvider {
  readonly kind = 'web-push';
  private readonly agent: https.Agent;
  private readonly vapidDetails: { publicKey: string; privateKey: string; subject: string };
  private readonly ttlSeconds: number;
  private readonly urgency: PushUrgency;
  private readonly timeoutMs: number;
  private readonly allowPrivate: boolean;
  private readonly now: () => number;

  constructor(private readonly options: WebPushOptions) {
    this.vapidDetails = checkedVapid(options.vapid);
    this.ttlSeconds = options.ttlSeconds ?? 86_400;
    if (!Number.isSafeInteger(this.ttlSeconds) || this.ttlSeconds < 0) {
      throw new NudgeError(ErrorCode.invalidConfig, `web push ttlSeconds: expected a whole number of seconds ≥ 0, got ${options.ttlSeconds}`);
    }
    this.urgency = options.urgency ?? 'normal';
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.allowPrivate = options.allowPrivateNetworks ?? false;
    this.now = options.now ?? Date.now;
    this.agent = new https.Agent({
      keepAlive: true,
      maxSockets: 256,
      lookup: guardedLookup(options.resolve ?? systemResolve, this.allowPrivate),
      ...(options.trustedCertificates ? { ca: [...tls.rootCertificates, ...options.trustedCertificates] } : {}),
    });
  }

  async send(delivery: Delivery): Promise<DeliveryOutcome> {
    const { title } = delivery.content;
    if (title === undefined || title.trim() === '') return { status: 'failed', reason: 'rejected', error: 'push content has no title' };
    const payload = JSON.stringify({ ...delivery.content, tag: delivery.idempotencyKey });
    const bytes = Buffer.byteLength(payload);
    if (bytes > maxPayloadBytes) {
      return { status: 'failed', reason: 'rejected', error: `push payload is ${bytes} bytes, more than the ${maxPayloadBytes} a push service must accept` };
    }

    let subscriptions: readonly PushSubscriptionRecord[];
    try {
      subscriptions = await this.options.subscriptionsOf(delivery.workspaceId, delivery.message.profileId);
    } catch (error) {
      return { status: 'retry', error: `looking up push subscriptions: ${messageOf(error)}` };
    }
    if (subscriptions.length === 0) return { status: 'failed', reason: 'no_recipient', error: 'no push subscription' };

    const topic = topicOf(delivery.idempotencyKey);
    const attempts = await Promise.all(subscriptions.map((s) => this.sendTo(delivery.workspaceId, s, payload, topic)));
    return outcomeOf(attempts);
  }

  /** Idle connections close at once; requests in flight fail and are retried. */
  async close(): Promise<void> {
    this.agent.destroy();
  }

  private async sendTo(workspaceId: string, subscription: PushSubscriptionRecord, payload: string, topic: string): Promise<Attempt> {
    let attempt: Attempt;
    if (subscription.expirationTime !== null && subscription.expirationTime <= this.now()) {
      attempt = { kind: 'expired', error: 'push subscription past its expirationTime' };
    } else {
      attempt = await this.post(subscription, payload, topic);
    }
    if (attempt.kind !== 'expired') return attempt;
    try {
      await this.options.removeSubscription(workspaceId, subscription.endpoint);
      return attempt;
    } catch (error) {
      return { kind: 'expired', error: `${attempt.error} (not removed: ${messageOf(error)})` };
    }
  }

  private post(subscription: PushSubscriptionRecord, payload: string, topic: string): Promise<Attempt> {
    let url: URL;
    try {
      url = new URL(subscription.endpoint);
    } catch {
      return Promise.resolve({ kind: 'rejected', error: 'push endpoint is not a URL' });
    }
    const where = `push ${url.origin}`;
    if (url.protocol !== 'https:') return Promise.resolve({ kind: 'rejected', error: `${where}: endpoint is not https` });
    const refusal = this.allowPrivate ? undefined : literalAddressRefusal(url);
    if (refusal) return Promise.resolve({ kind: 'rejected', error: refusal });

    let details: RequestDetails;
    try {
      details = webPush.generateRequestDetails(subscription, payload, {
        vapidDetails: this.vapidDetails,
        TTL: this.ttlSeconds,
        urgency: this.urgency,
        topic,
        contentEncoding: 'aes128gcm',
      });
    } catch (error) {
      return Promise.resolve({ kind: 'rejected', error: `${where}: ${messageOf(error)}` });
    }

    return new Promise((resolve) => {
      let settled = false;
      const settle = (attempt: Attempt): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        resolve(attempt);
      };
      const req = https.request(url, { method: 'POST', agent: this.agent, headers: details.headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (text.length < maxReasonChars) text += chunk;
        });
        res.on('end', () => settle(this.attemptOf(where, res.statusCode ?? 0, res.headers, text)));
        res.on('error', (error) => settle({ kind: 'retry', error: `${where}: ${error.message}`, retryAfterMs: undefined }));
      });
      // From the request's start, not per socket read: a service that trickles bytes is no answer.
      const deadline = setTimeout(() => {
        settle({ kind: 'retry', error: `${where}: no answer within ${this.timeoutMs} ms`, retryAfterMs: undefined });
        req.destroy();
      }, this.timeoutMs);
      req.on('error', (error) =>
        settle(error instanceof RefusedAddressError ? { kind: 'rejected', error: error.message } : { kind: 'retry', error: `${where}: ${error.message}`, retryAfterMs: undefined }),
      );
      req.end(details.body);
    });
  }

  private attemptOf(where: string, status: number, headers: NodeJS.Dict<string | string[]>, body: string): Attempt {
    if (status >= 200 && status < 300) {
      const location = headers['location'];
      return { kind: 'accepted', location: typeof location === 'string' ? location : undefined };
    }
    const reason = body.trim() === '' ? '' : `: ${body.trim().slice(0, maxReasonChars)}`;
    const error = `${where}: HTTP ${status}${reason}`;
    if (status === 404 || status === 410) return { kind: 'expired', error };
    if (status >= 500 || retryable.has(status)) return { kind: 'retry', error, retryAfterMs: retryAfterMs(headers['retry-after'], this.now()) };
    return { kind: 'rejected', error };
  }
}

/** One outcome of the attempts at every subscription: see the header. */
function outcomeOf(attempts: readonly Attempt[]): DeliveryOutcome {
  const accepted = attempts.find((a) => a.kind === 'accepted');
  if (accepted) return accepted.location === undefined ? { status: 'delivered' } : { status: 'delivered', providerId: accepted.location };
  const retries = attempts.filter((a) => a.kind === 'retry');
  if (retries.length > 0) {
    const waits = retries.map((a) => a.retryAfterMs).filter((ms): ms is number => ms !== undefined);
    const error = errorsOf(retries);
    return waits.length > 0 ? { status: 'retry', error, retryAfterMs: Math.max(...waits) } : { status: 'retry', error };
  }
  const rejected = attempts.filter((a) => a.kind === 'rejected');
  if (rejected.length > 0) return { status: 'failed', reason: 'rejected', error: errorsOf(rejected) };
  return { status: 'failed', reason: 'expired_subscription', error: errorsOf(attempts.filter((a) => a.kind === 'expired')) };
}

/** The distinct errors of several attempts, in one line. */
function errorsOf(attempts: readonly { error: string }[]): string {
  return [...new Set(attempts.map((a) => a.error))].join('; ');
}

/** `Retry-After` as seconds or an HTTP date, in ms from `now`; undefined when absent or unreadable. */
function retryAfterMs(header: string | string[] | undefined, now: number): number | undefined {
  if (typeof header !== 'string') return undefined;
  const ms = /^\d+$/.test(header.trim()) ? Number(header) * 1000 : Date.parse(header) - now;
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

/** RFC 8030 Topic: at most 32 characters of base64url, the same for every attempt at a message. */
function topicOf(idempotencyKey: string): string {
  return createHash('sha256').update(idempotencyKey).digest('base64url').slice(0, 32);
}

/** The VAPID options, checked once; throws naming the option. */
function checkedVapid(vapid: WebPushOptions['vapid']): { publicKey: string; privateKey: string; subject: string } {
  const invalid = (message: string): NudgeError => new NudgeError(ErrorCode.invalidConfig, `web push vapid ${message}`);
  const bytesOf = (name: string, value: string, length: number): Buffer => {
    const bytes = base64url.test(value) ? Buffer.from(value, 'base64url') : Buffer.alloc(0);
    if (bytes.length !== length) throw invalid(`${name}: expected base64url of ${length} bytes`);
    return bytes;
  };
  const publicKey = bytesOf('publicKey', vapid.publicKey, 65);
  const privateKey = bytesOf('privateKey', vapid.privateKey, 32);
  let derived: Buffer;
  try {
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(privateKey);
    derived = ecdh.getPublicKey();
  } catch {
    throw invalid('privateKey: not a P-256 private key');
  }
  if (!derived.equals(publicKey)) throw invalid('publicKey: not the public key of privateKey');
  let protocol: string | undefined;
  try {
    protocol = new URL(vapid.subject).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol !== 'mailto:' && protocol !== 'https:') throw invalid(`subject: expected a mailto: or https: URL, got ${JSON.stringify(vapid.subject)}`);
  return { publicKey: vapid.publicKey, privateKey: vapid.privateKey, subject: vapid.subject };
}
