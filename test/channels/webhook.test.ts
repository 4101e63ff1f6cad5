/**
 * The webhook channel against a real HTTP receiver on loopback: Standard Webhooks signatures
 * checked by the `standardwebhooks` package, the address check (loopback and private addresses
 * refused unless allowed), and redirects not followed. Nothing leaves loopback: public addresses
 * appear only in the classifier's table and in answers that are refused before any connection.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { privateAddressRange, type ResolvedAddress } from '../../src/channels/address-guard.js';
import { WebhookChannel, type WebhookOptions } from '../../src/channels/webhook.js';
import type { Delivery } from '../../src/ports/channel.js';

interface RawRequest {
  path: string;
  headers: IncomingHttpHeaders;
  /** The body exactly as received: signatures are over bytes, not over parsed JSON. */
  body: string;
}

interface RawReceiver {
  port: number;
  url: string;
  received: RawRequest[];
  close(): Promise<void>;
}

/** Answers 200, except `/moved` (301 to `/elsewhere`). */
async function startRawReceiver(): Promise<RawReceiver> {
  const received: RawRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (path === '/moved') res.writeHead(301, { location: '/elsewhere' }).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}

const secret = `whsec_${Buffer.alloc(32, 0x5a).toString('base64')}`;
const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);

function delivery(attempt = 1, key = 'msg-1'): Delivery {
  return {
    workspaceId: 'shop',
    channel: 'webhook',
    idempotencyKey: key,
    attempt,
    content: {},
    message: {
      key,
      profileId: 'user-1',
      triggerId: 'abandoned-cart',
      version: 'v1',
      runId: 'run-1',
      stepId: 'remind',
      channel: 'webhook',
      fallback: [],
      template: 'cart-reminder',
      topic: 'marketing',
      priority: 0,
      variants: {},
      // Non-ASCII on purpose: the signature covers UTF-8 bytes, not UTF-16 code units.
      entry: { messageId: 'e-1', type: 'track', name: 'Cart Updated', properties: { total: 42.5, note: 'crème brûlée ✓' }, timestamp: t0 },
      at: t0,
    },
  };
}

/** The headers a receiver hands to `Webhook.verify`. */
function signatureHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const pick = (name: string): string => {
    const value = headers[name];
    assert.equal(typeof value, 'string', `header ${name}`);
    return value as string;
  };
  return { 'webhook-id': pick('webhook-id'), 'webhook-timestamp': pick('webhook-timestamp'), 'webhook-signature': pick('webhook-signature') };
}

let receiver: RawReceiver;
const channels: WebhookChannel[] = [];
before(async () => (receiver = await startRawReceiver()));
after(async () => {
  await Promise.all(channels.map((c) => c.close()));
  await receiver.close();
});

/** A channel closed after the tests; posting to `path` on the receiver unless given a `url`. */
function channel({ path = '/hook', url, ...options }: Omit<WebhookOptions, 'url'> & { url?: string; path?: string }): WebhookChannel {
  const c = new WebhookChannel({ url: url ?? `${receiver.url}${path}`, ...options });
  channels.push(c);
  return c;
}

/** Requests received on `path` while `run` ran. */
async function receivedDuring(path: string, run: () => Promise<void>): Promise<RawRequest[]> {
  const start = receiver.received.length;
  await run();
  return receiver.received.slice(start).filter((r) => r.path === path);
}

describe('Standard Webhooks signatures', () => {
  // `Webhook.verify` compares the timestamp with the real clock (5 minutes' tolerance), so the
  // fixed time given to the channel is taken from it once.
  const sentAt = Date.now();

  test('a signed message verifies with the standardwebhooks package; a tampered body does not', async () => {
    const c = channel({ path: '/signed', secret, allowPrivateNetworks: true, now: () => sentAt });
    const [request] = await receivedDuring('/signed', async () => assert.deepEqual(await c.send(delivery()), { status: 'delivered' }));
    assert.ok(request);
    const headers = signatureHeaders(request.headers);
    assert.equal(headers['webhook-id'], 'msg-1');
    assert.equal(headers['webhook-timestamp'], String(Math.floor(sentAt / 1000)));
    assert.match(headers['webhook-signature']!, /^v1,[A-Za-z0-9+/]{43}=$/);
    assert.equal(request.headers['idempotency-key'], 'msg-1');

    const payload = new Webhook(secret).verify(request.body, headers) as { id: string; entry: { properties: { note: string } } };
    assert.equal(payload.id, 'msg-1');
    assert.equal(payload.entry.properties.note, 'crème brûlée ✓');

    const tampered = request.body.replace('"total":42.5', '"total":0.5');
    assert.notEqual(tampered, request.body);
    assert.throws(() => new Webhook(secret).verify(tampered, headers), WebhookVerificationError);
    assert.throws(() => new Webhook(`whsec_${Buffer.alloc(32, 0x33).toString('base64')}`).verify(request.body, headers), WebhookVerificationError);
    assert.throws(() => new Webhook(secret).verify(request.body, { ...headers, 'webhook-id': 'msg-2' }), WebhookVerificationError);
  });

  test('a retried message keeps its webhook-id; each attempt has its own timestamp and signature', async () => {
    let now = sentAt;
    const c = channel({ path: '/retried', secret, allowPrivateNetworks: true, now: () => now });
    const requests = await receivedDuring('/retried', async () => {
      await c.send(delivery(1, 'msg-7'));
      now += 30_000;
      await c.send(delivery(2, 'msg-7'));
    });
    assert.equal(requests.length, 2);
    const [first, second] = requests.map((r) => signatureHeaders(r.headers));
    assert.equal(first!['webhook-id'], 'msg-7');
    assert.equal(second!['webhook-id'], 'msg-7');
    assert.equal(Number(second!['webhook-timestamp']) - Number(first!['webhook-timestamp']), 30);
    for (const r of requests) new Webhook(secret).verify(r.body, signatureHeaders(r.headers)); // throws if not
  });

  test('configured headers cannot replace the signature headers', async () => {
    const c = channel({ path: '/override', secret, allowPrivateNetworks: true, now: () => sentAt, headers: { 'webhook-id': 'forged', authorization: 'Bearer t' } });
    const [request] = await receivedDuring('/override', async () => void (await c.send(delivery())));
    assert.ok(request);
    assert.equal(request.headers['webhook-id'], 'msg-1');
    assert.equal(request.headers.authorization, 'Bearer t');
    new Webhook(secret).verify(request.body, signatureHeaders(request.headers));
  });

  test('without a secret there are no signature headers', async () => {
    const c = channel({ path: '/unsigned', allowPrivateNetworks: true });
    const [request] = await receivedDuring('/unsigned', async () => void (await c.send(delivery())));
    assert.ok(request);
    assert.equal(request.headers['idempotency-key'], 'msg-1');
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) assert.equal(request.headers[name], undefined, name);
  });

  test('a secret that is not whsec_ and base64 of 24 to 64 bytes is refused when the channel is built', () => {
    for (const bad of ['whsec_', 'whsec_not base64!', `whsec_${Buffer.alloc(16).toString('base64')}`, `whsec_${Buffer.alloc(65).toString('base64')}`]) {
      assert.throws(() => new WebhookChannel({ url: 'http://127.0.0.1:1/', secret: bad }), /webhook secret: expected/, bad);
    }
  });
});

describe('address check', () => {
  test('loopback is refused by default, as a permanent failure, before any request', async () => {
    const c = channel({ path: '/loopback' });
    const requests = await receivedDuring('/loopback', async () => {
      assert.deepEqual(await c.send(delivery()), {
        status: 'failed',
        error: 'refused: 127.0.0.1 resolves to a private address (127.0.0.1: loopback 127.0.0.0/8); allow it with allowPrivateNetworks',
      });
    });
    assert.equal(requests.length, 0);
  });

  test('loopback is allowed with allowPrivateNetworks', async () => {
    const c = channel({ path: '/allowed', allowPrivateNetworks: true });
    const requests = await receivedDuring('/allowed', async () => assert.deepEqual(await c.send(delivery()), { status: 'delivered' }));
    assert.equal(requests.length, 1);
  });

  test('an IPv6 literal host is checked too', async () => {
    const c = channel({ url: `http://[::1]:${receiver.port}/v6` });
    const outcome = await c.send(delivery());
    assert.equal(outcome.status, 'failed');
    assert.match((outcome as { error: string }).error, /^refused: ::1 resolves to a private address \(::1: loopback ::1\/128\)/);
  });

  test('a host name resolving to loopback (localhost) is refused', async () => {
    const c = channel({ url: `http://localhost:${receiver.port}/localhost` });
    const requests = await receivedDuring('/localhost', async () => {
      const outcome = await c.send(delivery());
      assert.equal(outcome.status, 'failed');
      assert.match((outcome as { error: string }).error, /^refused: localhost resolves to a private address \((127\.0\.0\.1|::1): loopback .*\); allow it with allowPrivateNetworks$/);
    });
    assert.equal(requests.length, 0);
  });

  test('a name is refused when any of its addresses is private, even beside a public one', async () => {
    const answers: Record<string, ResolvedAddress[]> = {
      'internal.nudge.test': [{ address: '10.0.0.7', family: 4 }],
      'metadata.nudge.test': [{ address: '8.8.8.8', family: 4 }, { address: '169.254.169.254', family: 4 }],
      'mapped.nudge.test': [{ address: '::ffff:192.168.1.1', family: 6 }],
    };
    const asked: string[] = [];
    const resolve = async (hostname: string): Promise<ResolvedAddress[]> => (asked.push(hostname), answers[hostname] ?? []);
    const expected: Record<string, RegExp> = {
      'internal.nudge.test': /\(10\.0\.0\.7: private 10\.0\.0\.0\/8\)/,
      'metadata.nudge.test': /\(169\.254\.169\.254: link-local, cloud metadata 169\.254\.0\.0\/16\)/,
      'mapped.nudge.test': /\(::ffff:192\.168\.1\.1: private 192\.168\.0\.0\/16 via IPv4-mapped ::ffff:0:0\/96\)/,
    };
    for (const [host, pattern] of Object.entries(expected)) {
      const outcome = await channel({ url: `http://${host}/hook`, resolve }).send(delivery());
      assert.equal(outcome.status, 'failed', host);
      const error = (outcome as { error: string }).error;
      assert.ok(error.startsWith(`refused: ${host} resolves to a private address (`), error);
      assert.match(error, pattern);
    }
    assert.deepEqual(asked, Object.keys(expected));
  });

  test('the connection goes to the checked address, with the Host header naming the host', async () => {
    const asked: string[] = [];
    const resolve = async (hostname: string): Promise<ResolvedAddress[]> => (asked.push(hostname), [{ address: '127.0.0.1', family: 4 }]);
    const c = channel({ url: `http://hooks.nudge.test:${receiver.port}/named`, resolve, allowPrivateNetworks: true });
    const [request] = await receivedDuring('/named', async () => assert.deepEqual(await c.send(delivery()), { status: 'delivered' }));
    assert.ok(request);
    assert.equal(request.headers.host, `hooks.nudge.test:${receiver.port}`);
    assert.deepEqual(asked, ['hooks.nudge.test']);
  });

  test('a name that does not resolve is a failure that may pass (retry)', async () => {
    const resolve = async (): Promise<ResolvedAddress[]> => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND gone.nudge.test'), { code: 'ENOTFOUND' });
    };
    const outcome = await channel({ url: 'http://gone.nudge.test/hook', resolve }).send(delivery());
    assert.equal(outcome.status, 'retry');
  });

  describe('privateAddressRange', () => {
    const refused: [string, string][] = [
      ['10.1.2.3', 'private 10.0.0.0/8'],
      ['172.16.0.1', 'private 172.16.0.0/12'],
      ['172.31.255.254', 'private 172.16.0.0/12'],
      ['192.168.0.10', 'private 192.168.0.0/16'],
      ['127.0.0.1', 'loopback 127.0.0.0/8'],
      ['127.255.0.9', 'loopback 127.0.0.0/8'],
      ['169.254.169.254', 'link-local, cloud metadata 169.254.0.0/16'],
      ['100.64.0.1', 'carrier-grade NAT 100.64.0.0/10'],
      ['100.127.255.255', 'carrier-grade NAT 100.64.0.0/10'],
      ['0.0.0.0', 'this network 0.0.0.0/8'],
      ['224.0.0.1', 'multicast 224.0.0.0/4'],
      ['255.255.255.255', 'reserved, broadcast 240.0.0.0/4'],
      ['::1', 'loopback ::1/128'],
      ['::', 'unspecified ::/128'],
      ['fc00::1', 'unique local fc00::/7'],
      ['fd12:3456:789a::1', 'unique local fc00::/7'],
      ['fe80::1', 'link-local fe80::/10'],
      ['fe80::1%eth0', 'link-local fe80::/10'],
      ['ff02::1', 'multicast ff00::/8'],
      ['::ffff:127.0.0.1', 'loopback 127.0.0.0/8 via IPv4-mapped ::ffff:0:0/96'],
      ['::ffff:7f00:1', 'loopback 127.0.0.0/8 via IPv4-mapped ::ffff:0:0/96'],
      ['::ffff:a9fe:a9fe', 'link-local, cloud metadata 169.254.0.0/16 via IPv4-mapped ::ffff:0:0/96'],
      ['::ffff:10.0.0.1', 'private 10.0.0.0/8 via IPv4-mapped ::ffff:0:0/96'],
      ['::127.0.0.1', 'loopback 127.0.0.0/8 via IPv4-compatible ::/96'],
      ['64:ff9b::a9fe:a9fe', 'link-local, cloud metadata 169.254.0.0/16 via NAT64 64:ff9b::/96'],
      ['2002:c0a8:0101::1', 'private 192.168.0.0/16 via 6to4 2002::/16'],
      ['localhost', 'not an IP address'],
    ];
    for (const [address, range] of refused) test(`${address} is refused (${range})`, () => assert.equal(privateAddressRange(address), range));

    const allowed = ['8.8.8.8', '1.1.1.1', '172.15.255.255', '172.32.0.1', '100.63.255.255', '100.128.0.1', '169.253.0.1', '192.169.0.1', '11.0.0.1', '2001:4860::8888', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', 'fbff::1', '2a00::1'];
    for (const address of allowed) test(`${address} is allowed`, () => assert.equal(privateAddressRange(address), undefined));
  });
});

describe('redirects', () => {
  test('a 301 is a permanent failure naming the status, and is not followed', async () => {
    const c = channel({ path: '/moved', allowPrivateNetworks: true });
    const start = receiver.received.length;
    const outcome = await c.send(delivery());
    assert.deepEqual(outcome, {
      status: 'failed',
      error: `POST ${receiver.url}/moved: HTTP 301, a redirect to /elsewhere, not followed; configure the final URL`,
    });
    assert.deepEqual(
      receiver.received.slice(start).map((r) => r.path),
      ['/moved'],
    );
  });
});
