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
 * Address check (unless `allowPrivateNetworks`): the URL's host is resolved, every address it
 * resolves to is classified, and the request is refused — a permanent failure — if any of them is
 * not a public unicast address (loopback, RFC 1918, link-local and cloud metadata, CGNAT, unique
 * local IPv6, IPv4 embedded in IPv6 …). The check runs inside the socket's own `lookup`, so the
 * address checked is the address connected to: no second resolution a rebinding DNS server could
 * answer differently. Host header and TLS server name stay the URL's host name.
 */
import { createHmac } from 'node:crypto';
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net, { type LookupFunction } from 'node:net';
import { ErrorCode, NudgeError } from '../core/errors.js';
import type { ChannelProvider, Delivery, DeliveryOutcome } from '../ports/channel.js';

export interface ResolvedAddress {
  address: string;
  /** 4 or 6. */
  family: number;
}

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
  resolve?: (hostname: string) => Promise<ResolvedAddress[]>;
}

const retryable = new Set([408, 425, 429]);
const secretPrefix = 'whsec_';

/** Thrown from the socket's lookup so that `send` can tell a refusal from a network error. */
class RefusedAddressError extends Error {
  override readonly name = 'RefusedAddressError';
}

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
  private readonly resolve: (hostname: string) => Promise<ResolvedAddress[]>;
  /** Set when the URL's host is itself a refused IP address: node connects to it without a lookup. */
  private readonly literalRefusal: string | undefined;

  constructor(private readonly options: WebhookOptions) {
    this.url = new URL(options.url);
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') {
      throw new NudgeError(ErrorCode.invalidConfig, `webhook url: expected http: or https:, got ${this.url.protocol} in ${options.url}`);
    }
    this.key = options.secret === undefined ? undefined : signingKey(options.secret);
    this.now = options.now ?? Date.now;
    this.resolve = options.resolve ?? ((hostname) => dns.promises.lookup(hostname, { all: true }));
    const allowPrivate = options.allowPrivateNetworks ?? false;
    const host = this.url.hostname.replace(/^\[(.*)\]$/, '$1');
    const literalRange = net.isIP(host) ? privateAddressRange(host) : undefined;
    this.literalRefusal = !allowPrivate && literalRange ? refusal(host, host, literalRange) : undefined;
    const agentOptions = { keepAlive: true, maxSockets: 256, lookup: this.checkedLookup(allowPrivate) };
    this.agent = this.url.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  }

  send(delivery: Delivery): Promise<DeliveryOutcome> {
    if (this.literalRefusal) return Promise.resolve({ status: 'failed', error: this.literalRefusal });
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
            // After the configured headers: a signature must describe what is actually sent.
            ...this.signatureHeaders(delivery.idempotencyKey, body),
          },
        },
        (res) => {
          res.resume(); // drain, so the connection is reused
          res.on('end', () => resolve(outcomeOf(where, res.statusCode ?? 0, res.headers)));
          res.on('error', (error) => resolve({ status: 'retry', error: `${where}: ${error.message}` }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.options.timeoutMs ?? 10_000} ms`)));
      req.on('error', (error) =>
        resolve(error instanceof RefusedAddressError ? { status: 'failed', error: error.message } : { status: 'retry', error: `${where}: ${error.message}` }),
      );
      req.end(body);
    });
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

  /**
   * The lookup every new socket of the agent uses: all addresses are resolved and checked, and
   * the socket is handed only those, so it can connect to nothing else.
   */
  private checkedLookup(allowPrivate: boolean): LookupFunction {
    return (hostname, options, callback) => {
      const answer = async (): Promise<ResolvedAddress[]> => {
        const found = await this.resolve(hostname);
        if (!allowPrivate) {
          // Any non-public address refuses the host, even among public ones: which address the
          // socket picks is not ours to predict, and a mixed answer is a rebinding signature.
          for (const { address } of found) {
            const range = privateAddressRange(address);
            if (range) throw new RefusedAddressError(refusal(hostname, address, range));
          }
        }
        const family = options.family === 4 || options.family === 'IPv4' ? 4 : options.family === 6 || options.family === 'IPv6' ? 6 : 0;
        const usable = family ? found.filter((a) => a.family === family) : found;
        if (usable.length === 0) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
        return usable;
      };
      answer().then(
        (addresses) => {
          // node asks for all addresses when it may try several (autoSelectFamily), else for one.
          const first = addresses[0]!;
          if (options.all) callback(null, addresses);
          else callback(null, first.address, first.family);
        },
        (error: NodeJS.ErrnoException) => callback(error, ''),
      );
    };
  }
}

function refusal(host: string, address: string, range: string): string {
  return `refused: ${host} resolves to a private address (${address}: ${range}); allow it with allowPrivateNetworks`;
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

// --- Address classification ---------------------------------------------------------------

interface Range {
  bytes: Uint8Array;
  bits: number;
  name: string;
}

function range(cidr: string, name: string): Range {
  const [address = '', bits = ''] = cidr.split('/');
  const bytes = net.isIPv4(address) ? ipv4Bytes(address) : ipv6Bytes(address);
  if (!bytes) throw new Error(`bad range ${cidr}`);
  return { bytes, bits: Number(bits), name: `${name} ${cidr}` };
}

const ipv4Ranges: readonly Range[] = [
  range('0.0.0.0/8', 'this network'), // 0.0.0.0 reaches the local host on Linux
  range('10.0.0.0/8', 'private'),
  range('100.64.0.0/10', 'carrier-grade NAT'),
  range('127.0.0.0/8', 'loopback'),
  range('169.254.0.0/16', 'link-local, cloud metadata'),
  range('172.16.0.0/12', 'private'),
  range('192.168.0.0/16', 'private'),
  range('198.18.0.0/15', 'benchmarking'), // also handed out as fake addresses by some local DNS proxies
  range('224.0.0.0/4', 'multicast'),
  range('240.0.0.0/4', 'reserved, broadcast'),
];

const ipv6Ranges: readonly Range[] = [
  range('::/128', 'unspecified'), // connecting to it reaches the local host
  range('::1/128', 'loopback'),
  range('fc00::/7', 'unique local'),
  range('fe80::/10', 'link-local'),
  range('fec0::/10', 'site-local'),
  range('ff00::/8', 'multicast'),
];

/** IPv6 forms that carry an IPv4 address, and where: they reach that IPv4 address. */
const embeddingRanges: readonly (Range & { offset: number })[] = [
  { ...range('::ffff:0:0/96', 'IPv4-mapped'), offset: 12 },
  { ...range('::/96', 'IPv4-compatible'), offset: 12 },
  { ...range('64:ff9b::/96', 'NAT64'), offset: 12 },
  { ...range('2002::/16', '6to4'), offset: 2 },
];

/**
 * The non-public range `address` falls in, named with its CIDR (`loopback 127.0.0.0/8`, or
 * `loopback 127.0.0.0/8 via IPv4-mapped ::ffff:0:0/96` for an IPv4 address inside IPv6), or
 * undefined for a public unicast address. What is not an IP address counts as non-public.
 */
export function privateAddressRange(address: string): string | undefined {
  const v4 = ipv4Bytes(address);
  if (v4) return ipv4Ranges.find((r) => inRange(v4, r))?.name;
  const v6 = ipv6Bytes(address);
  if (!v6) return 'not an IP address';
  const own = ipv6Ranges.find((r) => inRange(v6, r));
  if (own) return own.name;
  for (const embedding of embeddingRanges) {
    if (!inRange(v6, embedding)) continue;
    const inner = v6.subarray(embedding.offset, embedding.offset + 4);
    const innerRange = ipv4Ranges.find((r) => inRange(inner, r));
    if (innerRange) return `${innerRange.name} via ${embedding.name}`;
  }
  return undefined;
}

function inRange(bytes: Uint8Array, r: Range): boolean {
  if (bytes.length !== r.bytes.length) return false;
  const whole = r.bits >> 3;
  for (let i = 0; i < whole; i++) if (bytes[i] !== r.bytes[i]) return false;
  const rest = r.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((bytes[whole]! ^ r.bytes[whole]!) & mask) === 0;
}

function ipv4Bytes(address: string): Uint8Array | undefined {
  if (!net.isIPv4(address)) return undefined;
  return Uint8Array.from(address.split('.').map(Number));
}

function ipv6Bytes(text: string): Uint8Array | undefined {
  const address = text.replace(/%.*$/, ''); // a zone id (fe80::1%eth0) does not change the address
  if (!net.isIPv6(address)) return undefined;
  // A trailing dotted IPv4 part (::ffff:127.0.0.1) becomes its two 16-bit groups.
  const expanded = address.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) =>
    `${((Number(a) << 8) | Number(b)).toString(16)}:${((Number(c) << 8) | Number(d)).toString(16)}`,
  );
  const [head = '', tail] = expanded.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    const value = parseInt(group, 16);
    bytes[i * 2] = value >> 8;
    bytes[i * 2 + 1] = value & 0xff;
  });
  return bytes;
}
