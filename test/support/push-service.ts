/**
 * A web push service for tests, on 127.0.0.1 over TLS (a self-signed certificate made with
 * openssl at start, trusted by whoever is given `certificate`), that checks what a real one checks
 * and decrypts what it receives as the browser would:
 * - the VAPID JWT (RFC 8292) in `Authorization: vapid t=<jwt>, k=<key>`: ES256 signed by `k`,
 *   `aud` the endpoint's origin, `exp` in the future and at most 24 h away, `sub` mailto: or
 *   https:, and `k` the application server key the subscription was made with. No header: 401;
 *   an invalid one: 403.
 * - a `TTL` header (400 without), `Content-Encoding: aes128gcm` (415 otherwise), a body of at
 *   most 4096 bytes (413), that decrypts (RFC 8291, with `http_ece`) with the subscription's
 *   private key and auth secret (400 otherwise).
 * Accepted messages are answered 201 with a `Location`. An endpoint can be told to answer a status
 * of its own (410, 404, 429 with Retry-After, 500 …) or to hang: read the request, never answer.
 * Every request is recorded, with what was decrypted.
 */
import { execFileSync } from 'node:child_process';
import { createECDH, createPublicKey, randomBytes, verify, type ECDH } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const ece = createRequire(import.meta.url)('http_ece') as {
  decrypt(body: Buffer, params: { version: 'aes128gcm'; privateKey: ECDH; authSecret: string }): Buffer;
};

/** What a browser holds: the subscription it hands out, and the private key it decrypts with. */
export interface BrowserSubscription {
  /** As `PushSubscription.toJSON()` gives it. */
  json: { endpoint: string; expirationTime: null; keys: { p256dh: string; auth: string } };
  privateKey: ECDH;
}

/** A fresh browser-like subscription: a P-256 key pair and 16 random bytes of auth secret. */
export function browserSubscription(endpoint: string): BrowserSubscription {
  const privateKey = createECDH('prime256v1');
  const p256dh = privateKey.generateKeys('base64url'); // uncompressed, 65 bytes
  return { json: { endpoint, expirationTime: null, keys: { p256dh, auth: randomBytes(16).toString('base64url') } }, privateKey };
}

export type Answer = { status: number; retryAfter?: string } | 'hang';

export interface PushRequest {
  endpoint: string;
  headers: IncomingHttpHeaders;
  /** The status answered; null while hanging. */
  status: number | null;
  /** Why it was refused, when it was. */
  refusal?: string;
  /** The decrypted payload, when it was accepted. */
  payload?: string;
  /** The verified VAPID claims. */
  vapid?: { aud: string; exp: number; sub: string };
}

export interface PushService {
  origin: string;
  /** The service's self-signed certificate (PEM), for the client to trust. */
  certificate: string;
  requests: PushRequest[];
  /** A new subscription, restricted to the application server key `vapidPublicKey` (base64url). */
  subscribe(vapidPublicKey: string): BrowserSubscription;
  /** How the endpoint answers from now on; `null` returns it to normal. */
  answer(endpoint: string, answer: Answer | null): void;
  /** What arrived for an endpoint, in order. */
  requestsTo(endpoint: string): PushRequest[];
  close(): Promise<void>;
}

interface Subscriber {
  subscription: BrowserSubscription;
  vapidPublicKey: string;
}

const maxBodyBytes = 4096;
const maxJwtLifetimeS = 24 * 60 * 60;

export async function startPushService(): Promise<PushService> {
  const { key, cert } = selfSignedCertificate();
  const subscribers = new Map<string, Subscriber>();
  const answers = new Map<string, Answer>();
  const requests: PushRequest[] = [];
  let origin = '';
  let messages = 0;

  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    const endpoint = `${origin}${req.url ?? '/'}`;
    const request: PushRequest = { endpoint, headers: req.headers, status: null };
    requests.push(request);
    const answer = answers.get(endpoint);
    if (answer === 'hang') return;
    const reply = (status: number, refusal?: string, headers: Record<string, string> = {}): void => {
      request.status = status;
      if (refusal) request.refusal = refusal;
      res.writeHead(status, headers).end(refusal ?? '');
    };
    if (answer) return reply(answer.status, undefined, answer.retryAfter === undefined ? {} : { 'retry-after': answer.retryAfter });

    const subscriber = subscribers.get(endpoint);
    if (!subscriber || req.method !== 'POST') return reply(404, 'no such subscription');
    const authorization = req.headers.authorization;
    if (!authorization) return reply(401, 'no VAPID authorization');
    const vapid = checkVapid(authorization, origin, subscriber.vapidPublicKey);
    if (typeof vapid === 'string') return reply(403, vapid);
    request.vapid = vapid;
    if (!/^\d+$/.test(String(req.headers.ttl ?? ''))) return reply(400, 'TTL: missing or not a number of seconds');
    if (req.headers['content-encoding'] !== 'aes128gcm') return reply(415, `Content-Encoding: expected aes128gcm, got ${req.headers['content-encoding']}`);
    if (body.length > maxBodyBytes) return reply(413, `body: ${body.length} bytes, more than ${maxBodyBytes}`);
    try {
      const { privateKey, json } = subscriber.subscription;
      request.payload = ece.decrypt(body, { version: 'aes128gcm', privateKey, authSecret: json.keys.auth }).toString('utf8');
    } catch (error) {
      return reply(400, `body: does not decrypt: ${(error as Error).message}`);
    }
    reply(201, undefined, { location: `${origin}/message/${++messages}` });
  };

  const server: Server = createServer({ key, cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let subscriptions = 0;

  return {
    origin,
    certificate: cert,
    requests,
    subscribe(vapidPublicKey) {
      const subscription = browserSubscription(`${origin}/push/${++subscriptions}-${randomBytes(8).toString('hex')}`);
      subscribers.set(subscription.json.endpoint, { subscription, vapidPublicKey });
      return subscription;
    },
    answer(endpoint, answer) {
      if (answer === null) answers.delete(endpoint);
      else answers.set(endpoint, answer);
    },
    requestsTo: (endpoint) => requests.filter((r) => r.endpoint === endpoint),
    close: () =>
      new Promise((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}

/** The claims of a valid VAPID authorization for `origin` and `applicationServerKey`, or why it is not. */
function checkVapid(authorization: string, origin: string, applicationServerKey: string): { aud: string; exp: number; sub: string } | string {
  const params = /^vapid\s+(.*)$/i.exec(authorization)?.[1];
  if (!params) return 'Authorization: expected the vapid scheme';
  const fields = Object.fromEntries(params.split(',').map((p) => p.trim().split('=', 2) as [string, string]));
  const token = fields['t'];
  const k = fields['k'];
  if (!token || !k) return 'Authorization: expected t= and k=';
  if (k !== applicationServerKey) return 'k: not the application server key of this subscription';
  const [header, claims, signature] = token.split('.');
  if (!header || !claims || !signature) return 't: not a JWT';
  const { alg } = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { alg?: string };
  if (alg !== 'ES256') return `t: alg ${alg}, expected ES256`;
  const point = Buffer.from(k, 'base64url');
  if (point.length !== 65 || point[0] !== 4) return 'k: not an uncompressed P-256 point';
  const publicKey = createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') },
    format: 'jwk',
  });
  const signed = Buffer.from(`${header}.${claims}`);
  if (!verify('sha256', signed, { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'))) return 't: bad signature';
  const { aud, exp, sub } = JSON.parse(Buffer.from(claims, 'base64url').toString('utf8')) as { aud?: string; exp?: number; sub?: string };
  if (aud !== origin) return `aud: ${aud}, expected ${origin}`;
  const nowS = Date.now() / 1000;
  if (typeof exp !== 'number' || exp <= nowS || exp > nowS + maxJwtLifetimeS) return `exp: ${exp}, expected within 24 h from now`;
  if (typeof sub !== 'string' || !/^(mailto:|https:)/.test(sub)) return `sub: ${sub}, expected a mailto: or https: URL`;
  return { aud, exp, sub };
}

/** A P-256 key and a certificate for 127.0.0.1, made for this run and not kept on disk. */
function selfSignedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'nudge-push-service-'));
  try {
    const keyFile = path.join(dir, 'key.pem');
    const certFile = path.join(dir, 'cert.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout', keyFile, '-out', certFile,
    ], { stdio: 'ignore' });
    return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
