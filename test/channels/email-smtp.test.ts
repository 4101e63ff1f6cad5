/**
 * The email channel against a real SMTP server in this process (`smtp-server` on loopback): the
 * message that arrives is parsed from its raw bytes (headers, both parts), server replies map to
 * delivered / retry / failed, and nothing is left open once channels and servers are closed.
 */
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { EmailSmtpChannel, messageIdOf, type EmailSmtpOptions } from '../../src/channels/email-smtp.js';
import type { Delivery, RenderedContent } from '../../src/ports/channel.js';
import { eventually } from '../support/timeline.js';
import { decodedBody, decodeWords, header, parseMessage, partsOf, startSmtpServer, type SmtpServerOptions, type TestSmtpServer } from '../support/smtp.js';

// --- Fixtures ------------------------------------------------------------------------------

const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const from = 'Shop <news@shop.example>';

function delivery(key = 'shop/user-1/run-1/remind', content: RenderedContent = defaultContent): Delivery {
  return {
    workspaceId: 'shop',
    channel: 'email',
    idempotencyKey: key,
    attempt: 1,
    content,
    message: {
      key,
      profileId: 'user-1',
      triggerId: 'abandoned-cart',
      version: 'v1',
      runId: 'run-1',
      stepId: 'remind',
      channel: 'email',
      fallback: [],
      template: 'cart-reminder',
      topic: 'marketing',
      priority: 0,
      variants: {},
      entry: { messageId: 'e-1', type: 'track', name: 'Cart Updated', properties: {}, timestamp: t0 },
      at: t0,
    },
  };
}

// Non-ASCII on purpose: the subject must come back from encoded words, the bodies from their
// transfer encoding.
const defaultContent: RenderedContent = {
  subject: 'Your cart misses you — crème brûlée ✓',
  html: '<p>Still thinking about <b>crème brûlée</b>? <a href="https://shop.example/cart">Back to your cart</a></p>',
  text: 'Still thinking about crème brûlée?\nBack to your cart: https://shop.example/cart',
};

const servers: TestSmtpServer[] = [];
const channels: EmailSmtpChannel[] = [];
const silentSockets = new Set<net.Socket>();
const silentServers: net.Server[] = [];

async function server(options: SmtpServerOptions = {}): Promise<TestSmtpServer> {
  const s = await startSmtpServer(options);
  servers.push(s);
  return s;
}

/** A channel closed after the tests, addressed to `to` unless `recipientOf` is given. */
function channel(port: number, options: Partial<EmailSmtpOptions> & { to?: string | null } = {}): EmailSmtpChannel {
  const { to = 'ada@example.org', ...rest } = options;
  const c = new EmailSmtpChannel({ host: '127.0.0.1', port, from, recipientOf: async () => to, ...rest });
  channels.push(c);
  return c;
}

after(async () => {
  await Promise.all(channels.map((c) => c.close()));
  await Promise.all(servers.map((s) => s.close()));
  for (const socket of silentSockets) socket.destroy();
  await Promise.all(silentServers.map((s) => new Promise((resolve) => s.close(resolve))));
  // Once both ends are closed, nothing of the channels (pooled sockets, timers) may remain.
  await eventually(async () => {
    const leftovers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'TCPSocketWrap' || r === 'TCPServerWrap');
    assert.deepEqual(leftovers, [], 'timers, sockets or servers left open after every channel and server was closed');
  }, 5000);
});

// --- Tests -----------------------------------------------------------------------------------

describe('a message that arrives', () => {
  test('carries both parts and the headers, through a pooled connection logged in with AUTH PLAIN', async () => {
    const smtp = await server({ login: { user: 'nudge', pass: 's3cret' } });
    const c = channel(smtp.port, {
      user: 'nudge',
      pass: 's3cret',
      replyTo: 'help@shop.example',
      unsubscribeUrl: (d) => `https://nudge.shop.example/u/${encodeURIComponent(d.message.profileId)}?t=abc`,
    });
    assert.deepEqual(await c.send(delivery()), { status: 'delivered' });

    assert.equal(smtp.received.length, 1);
    const mail = smtp.received[0]!;
    assert.deepEqual(mail.login, { user: 'nudge', method: 'PLAIN' });
    assert.equal(mail.mailFrom, 'news@shop.example');
    assert.deepEqual(mail.rcptTo, ['ada@example.org']);

    const message = parseMessage(mail.raw);
    assert.equal(header(message, 'From'), 'Shop <news@shop.example>');
    assert.equal(header(message, 'To'), 'ada@example.org');
    assert.equal(header(message, 'Reply-To'), 'help@shop.example');
    assert.equal(decodeWords(header(message, 'Subject')), defaultContent.subject);
    assert.equal(header(message, 'Message-ID'), messageIdOf('shop/user-1/run-1/remind', 'shop.example'));
    assert.match(header(message, 'Message-ID'), /^<nudge\.[0-9a-f]{32}@shop\.example>$/);
    assert.equal(header(message, 'X-Nudge-Message'), 'shop/user-1/run-1/remind');
    assert.equal(header(message, 'List-Unsubscribe'), '<https://nudge.shop.example/u/user-1?t=abc>');
    assert.equal(header(message, 'List-Unsubscribe-Post'), 'List-Unsubscribe=One-Click');
    assert.match(header(message, 'Content-Type'), /^multipart\/alternative;/);

    const parts = partsOf(message);
    assert.equal(parts.length, 2);
    const byType = new Map(parts.map((p) => [header(p, 'Content-Type').split(';')[0], p]));
    assert.match(header(byType.get('text/plain')!, 'Content-Type'), /charset=utf-8/i);
    assert.equal(decodedBody(byType.get('text/plain')!), defaultContent.text);
    assert.equal(decodedBody(byType.get('text/html')!), defaultContent.html);
  });

  test('one idempotency key gives one Message-ID on every attempt; another key, another id', async () => {
    const smtp = await server();
    const c = channel(smtp.port);
    for (const key of ['shop/user-1/run-9/remind', 'shop/user-1/run-9/remind', 'shop/user-1/run-9/follow-up']) {
      assert.deepEqual(await c.send(delivery(key)), { status: 'delivered' });
    }
    const ids = smtp.received.map((m) => header(parseMessage(m.raw), 'Message-ID'));
    assert.equal(ids[0], ids[1]);
    assert.notEqual(ids[1], ids[2]);
    assert.equal(ids[0], messageIdOf('shop/user-1/run-9/remind', 'shop.example'));
  });

  test('pooled sends reuse the connection', async () => {
    const smtp = await server();
    const c = channel(smtp.port);
    const outcomes = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => c.send(delivery(`k-${i}`))));
    assert.ok(outcomes.every((o) => o.status === 'delivered'), JSON.stringify(outcomes));
    assert.equal(smtp.received.length, 6);
    assert.ok(smtp.connections <= 5, `${smtp.connections} connections for 6 messages`);
  });

  test('close() ends the pooled connections', async () => {
    const smtp = await server();
    const c = channel(smtp.port);
    assert.deepEqual(await c.send(delivery()), { status: 'delivered' });
    assert.equal(smtp.open, 1);
    await c.close();
    await eventually(async () => assert.equal(smtp.open, 0), 2000);
  });

  test('text only, without unsubscribe URL and without a pool: one part, no List-* headers', async () => {
    const smtp = await server();
    const c = channel(smtp.port, { pool: false });
    const content = { subject: 'Plain', text: 'Just text.' };
    assert.deepEqual(await c.send(delivery('k-text', content)), { status: 'delivered' });
    const message = parseMessage(smtp.received[0]!.raw);
    assert.match(header(message, 'Content-Type'), /^text\/plain/);
    assert.equal(decodedBody(message), 'Just text.');
    assert.equal(message.headers.get('list-unsubscribe'), undefined);
    assert.equal(message.headers.get('list-unsubscribe-post'), undefined);
  });
});

describe('outcomes', () => {
  for (const { code, text, status } of [
    { code: 550, text: '5.1.1 Mailbox unavailable', status: 'failed' },
    { code: 553, text: '5.1.3 Bad recipient address syntax', status: 'failed' },
    { code: 451, text: '4.7.1 Greylisted, try again later', status: 'retry' },
    { code: 452, text: '4.2.2 Mailbox full', status: 'retry' },
  ] as const) {
    test(`RCPT TO answered ${code} is ${status}, with the server's reply in the error`, async () => {
      const smtp = await server({ rejectRcpt: { code, text } });
      const outcome = await channel(smtp.port).send(delivery());
      assert.equal(outcome.status, status);
      assert.ok('error' in outcome);
      assert.match(outcome.error, new RegExp(`^smtp 127\\.0\\.0\\.1:${smtp.port}: RCPT TO answered ${code} ${text.replace(/\./g, '\\.')}`));
      assert.equal(smtp.received.length, 0);
    });
  }

  test('a message refused at the end of DATA (554) is failed, with the reply', async () => {
    const smtp = await server({ rejectData: { code: 554, text: '5.7.1 Message rejected as spam' } });
    const outcome = await channel(smtp.port).send(delivery());
    assert.deepEqual(outcome, { status: 'failed', error: `smtp 127.0.0.1:${smtp.port}: DATA answered 554 5.7.1 Message rejected as spam` });
  });

  test('a refused login is retried, not taken for a bounce', async () => {
    const smtp = await server({ login: { user: 'nudge', pass: 's3cret' } });
    const outcome = await channel(smtp.port, { user: 'nudge', pass: 'wrong' }).send(delivery());
    assert.equal(outcome.status, 'retry');
    assert.ok('error' in outcome);
    assert.match(outcome.error, /AUTH PLAIN answered 535/);
  });

  test('a refused connection is retried', async () => {
    const port = await freePort();
    const outcome = await channel(port).send(delivery());
    assert.equal(outcome.status, 'retry');
    assert.ok('error' in outcome);
    assert.match(outcome.error, new RegExp(`^smtp 127\\.0\\.0\\.1:${port}: connect ECONNREFUSED`));
  });

  test('a server that never greets is retried after timeoutMs', async () => {
    const port = await silentServer();
    const started = Date.now();
    const outcome = await channel(port, { timeoutMs: 200 }).send(delivery());
    assert.equal(outcome.status, 'retry');
    assert.ok('error' in outcome);
    assert.match(outcome.error, /ETIMEDOUT/);
    assert.ok(Date.now() - started < 5000);
  });

  test('no email address is a permanent failure, before any connection', async () => {
    const smtp = await server();
    for (const to of [null, '']) {
      assert.deepEqual(await channel(smtp.port, { to }).send(delivery()), { status: 'failed', error: 'no email address' });
    }
    assert.equal(smtp.connections, 0);
  });

  test('an address that is a list or has a display name is refused, not split into recipients', async () => {
    const smtp = await server();
    for (const to of ['ada@example.org, eve@example.net', 'Ada <ada@example.org>', 'not-an-address']) {
      assert.deepEqual(await channel(smtp.port, { to }).send(delivery()), { status: 'failed', error: 'malformed email address' }, to);
    }
    assert.equal(smtp.connections, 0);
  });

  test('a failing address lookup is retried', async () => {
    const smtp = await server();
    const c = channel(smtp.port, { recipientOf: () => Promise.reject(new Error('profile store unavailable')) });
    assert.deepEqual(await c.send(delivery()), { status: 'retry', error: 'looking up the email address: profile store unavailable' });
  });

  test('content without a subject, or without any body, is a permanent failure naming the part', async () => {
    const smtp = await server();
    const c = channel(smtp.port);
    assert.deepEqual(await c.send(delivery('k', { html: '<p>hi</p>', text: 'hi' })), { status: 'failed', error: 'email content has no subject' });
    assert.deepEqual(await c.send(delivery('k', { subject: ' ', text: 'hi' })), { status: 'failed', error: 'email content has no subject' });
    assert.deepEqual(await c.send(delivery('k', { subject: 'Hi' })), { status: 'failed', error: 'email content has neither an html nor a text part' });
    assert.deepEqual(await c.send(delivery('k', {})), { status: 'failed', error: 'email content has no subject' });
    assert.equal(smtp.connections, 0);
  });

  test('an unsubscribe URL that is not an http(s) URL is a permanent failure', async () => {
    const smtp = await server();
    const c = channel(smtp.port, { unsubscribeUrl: () => '/u/relative' });
    assert.deepEqual(await c.send(delivery()), { status: 'failed', error: 'unsubscribe URL is not an absolute http(s) URL: /u/relative' });
  });
});

describe('configuration', () => {
  test('a sender without an address is refused when the channel is built', () => {
    for (const bad of ['Shop', 'a@x.example, b@y.example', '']) {
      assert.throws(() => new EmailSmtpChannel({ host: '127.0.0.1', port: 1, from: bad, recipientOf: async () => null }), /email from: /, bad);
    }
  });
});

// --- Helpers ---------------------------------------------------------------------------------

/** A port nothing listens on: bound once, then released. */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** A server that accepts connections and never says a word. */
async function silentServer(): Promise<number> {
  const s = net.createServer((socket) => {
    silentSockets.add(socket);
    socket.on('close', () => silentSockets.delete(socket));
  });
  silentServers.push(s);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return (s.address() as AddressInfo).port;
}
