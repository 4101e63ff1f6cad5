/**
 * The demo's mail catcher and reader: the real email channel (nodemailer) delivers to it and what
 * the viewer reads back is what the template rendered (non-ASCII subject and bodies, both parts,
 * List-Unsubscribe); over a raw socket it keeps to SMTP strictly (order of commands, syntax,
 * line and message sizes, recipients, dot-stuffing, pipelining) and keeps only the newest
 * messages; the reader copes with the MIME it may meet.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { EmailSmtpChannel } from '../../src/channels/email-smtp.js';
import { readMail } from '../../src/http/demo-mail-reader.js';
import { MailCatcher } from '../../src/http/demo-mail.js';
import type { Delivery } from '../../src/ports/channel.js';

const t0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const catchers: MailCatcher[] = [];

async function catcher(options: { maxMessageBytes?: number; keep?: number } = {}): Promise<{ catcher: MailCatcher; port: number }> {
  const c = new MailCatcher({ now: () => t0, ...options });
  catchers.push(c);
  return { catcher: c, port: await c.listen('127.0.0.1', 0) };
}
after(async () => {
  for (const c of catchers) await c.close();
});

function delivery(key: string): Delivery {
  return {
    workspaceId: 'shop',
    channel: 'email',
    idempotencyKey: key,
    attempt: 1,
    content: {
      subject: 'Your cart misses you — crème brûlée ✓',
      html: `<p>Still thinking about <b>crème brûlée</b>? <a href="https://shop.example/cart">Back to your cart</a></p><p>${'long line '.repeat(30)}</p>`,
      text: 'Still thinking about crème brûlée?\nBack to your cart: https://shop.example/cart',
    },
    message: {
      key,
      profileId: 'a:visitor-1',
      triggerId: 'abandoned-cart',
      version: 'v1',
      runId: 'run-1',
      stepId: 'personal-code',
      channel: 'email',
      fallback: [],
      template: 'cart-push-with-code',
      topic: 'marketing',
      priority: 0,
      variants: {},
      entry: { messageId: 'e-1', type: 'track', name: 'cart_updated', properties: {}, timestamp: t0 },
      at: t0,
    },
  };
}

/** A client on a raw socket: `send` writes lines and resolves with the next `replies` reply lines. */
async function client(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  let buffer = '';
  const waiting: { count: number; resolve: (lines: string[]) => void }[] = [];
  let closed = false;
  const settle = () => {
    for (;;) {
      const next = waiting[0];
      if (!next) return;
      const lines = buffer.split('\r\n');
      // Whole replies only: a multi-line reply (250-…) ends at its line without a dash.
      const ends = lines.slice(0, -1).reduce<number[]>((acc, line, i) => (/^\d{3} /.test(line) ? [...acc, i] : acc), []);
      if (ends.length < next.count) return;
      const cut = ends[next.count - 1]! + 1;
      waiting.shift();
      next.resolve(lines.slice(0, cut));
      buffer = lines.slice(cut).join('\r\n');
    }
  };
  socket.on('data', (d: Buffer) => {
    buffer += d.toString('latin1');
    settle();
  });
  const ended = new Promise<void>((resolve) => socket.on('close', () => ((closed = true), resolve())));
  const expect = (count = 1) => new Promise<string[]>((resolve) => (waiting.push({ count, resolve }), settle()));
  const greeting = await expect();
  return {
    greeting,
    /** Writes `text` as it is and waits for `count` replies. */
    raw: (text: string, count = 1) => (socket.write(text), expect(count)),
    send: (line: string, count = 1) => (socket.write(`${line}\r\n`), expect(count)),
    ended,
    get closed() {
      return closed;
    },
    close: () => socket.destroy(),
  };
}

const codes = (lines: string[]) => lines.filter((l) => /^\d{3} /.test(l)).map((l) => Number(l.slice(0, 3)));

describe('the real email channel delivers to the catcher, and the viewer reads what the template rendered', () => {
  test('subject, sender, recipient, both bodies and the unsubscribe header come back as they were', async () => {
    const { catcher: c, port } = await catcher();
    const channel = new EmailSmtpChannel({
      host: '127.0.0.1',
      port,
      from: 'Nudge demo shop <shop@shop.example>',
      recipientOf: async () => 'ada@example.com',
      unsubscribeUrl: () => 'https://nudge.example/t/u/abc',
    });
    try {
      assert.equal((await channel.send(delivery('shop/a:visitor-1/run-1/personal-code'))).status, 'delivered');
    } finally {
      await channel.close();
    }
    const [mail] = c.list();
    assert.ok(mail);
    assert.deepEqual({ id: mail.id, receivedAt: mail.receivedAt, from: mail.from, to: mail.to }, { id: 1, receivedAt: t0, from: 'shop@shop.example', to: ['ada@example.com'] });
    const read = readMail(mail.raw);
    assert.equal(read.subject, 'Your cart misses you — crème brûlée ✓');
    assert.equal(read.from, 'Nudge demo shop <shop@shop.example>');
    assert.equal(read.to, 'ada@example.com');
    assert.equal(read.text, 'Still thinking about crème brûlée?\nBack to your cart: https://shop.example/cart');
    assert.equal(read.html, delivery('x').content['html']);
    const header = (name: string) => read.headers.find(([n]) => n.toLowerCase() === name)?.[1];
    assert.equal(header('list-unsubscribe'), '<https://nudge.example/t/u/abc>');
    assert.equal(header('x-nudge-message'), 'shop/a:visitor-1/run-1/personal-code');
  });
});

describe('SMTP, strictly', () => {
  test('commands in order, with their syntax; EHLO offers SIZE, 8BITMIME and PIPELINING, no AUTH or STARTTLS', async () => {
    const { catcher: c, port } = await catcher();
    const s = await client(port);
    assert.match(s.greeting[0]!, /^220 /);
    assert.deepEqual(codes(await s.send('MAIL FROM:<a@b.example>')), [503], 'no MAIL before EHLO');
    assert.deepEqual(codes(await s.send('EHLO')), [501], 'EHLO needs a domain');
    const ehlo = await s.send('EHLO client.example');
    assert.deepEqual(ehlo.map((l) => l.slice(4)), ['127.0.0.1 Nudge demo mail catcher', 'SIZE 1048576', '8BITMIME', 'PIPELINING']);
    assert.deepEqual(codes(await s.send('RCPT TO:<x@y.example>')), [503], 'no RCPT before MAIL');
    assert.deepEqual(codes(await s.send('DATA')), [503], 'no DATA before RCPT');
    assert.deepEqual(codes(await s.send('MAIL FROM: a@b.example')), [501], 'the address in angle brackets');
    assert.deepEqual(codes(await s.send('MAIL FROM:<a@b.example> SIZE=2000000')), [552], 'announced too big');
    assert.deepEqual(codes(await s.send('AUTH PLAIN AGFkYQBzZWNyZXQ=')), [502]);
    assert.deepEqual(codes(await s.send('STARTTLS')), [502]);
    assert.deepEqual(codes(await s.send('MAIL FROM:<a@b.example> BODY=8BITMIME SIZE=100')), [250]);
    assert.deepEqual(codes(await s.send('MAIL FROM:<a@b.example>')), [503], 'one message at a time');
    assert.deepEqual(codes(await s.send('RCPT TO:<>')), [501], 'a recipient has an address');
    assert.deepEqual(codes(await s.send('RSET')), [250]);
    assert.deepEqual(codes(await s.send('RCPT TO:<x@y.example>')), [503], 'RSET ended the message');
    assert.deepEqual(codes(await s.send('NOOP')), [250]);
    assert.deepEqual(codes(await s.send('QUIT')), [221]);
    await s.ended;
    assert.deepEqual(c.list(), []);
  });

  test('pipelined commands are answered in order; DATA is dot-unstuffed and ends at a lone dot', async () => {
    const { catcher: c, port } = await catcher();
    const s = await client(port);
    await s.send('EHLO client.example');
    const replies = await s.raw('MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nRCPT TO:<z@y.example>\r\nDATA\r\n', 4);
    assert.deepEqual(codes(replies), [250, 250, 250, 354]);
    const done = await s.raw('Subject: dots\r\n\r\n..starts with a dot\r\n.\r\n', 1);
    assert.match(done[0]!, /^250 2\.0\.0 OK: queued as 1$/);
    assert.deepEqual(c.list().map((m) => ({ from: m.from, to: m.to, raw: m.raw.toString() })), [
      { from: 'a@b.example', to: ['x@y.example', 'z@y.example'], raw: 'Subject: dots\r\n\r\n.starts with a dot\r\n' },
    ]);
    s.close();
  });

  test('a message over the size limit is refused after its end and not kept; the session goes on', async () => {
    const { catcher: c, port } = await catcher({ maxMessageBytes: 100 });
    const s = await client(port);
    await s.send('EHLO client.example');
    await s.raw('MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n', 3);
    assert.deepEqual(codes(await s.raw(`Subject: big\r\n\r\n${'x'.repeat(60)}\r\n${'y'.repeat(60)}\r\n.\r\n`)), [552]);
    assert.deepEqual(c.list(), []);
    await s.raw('MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n', 3);
    assert.deepEqual(codes(await s.raw('Subject: small\r\n\r\nok\r\n.\r\n')), [250]);
    assert.equal(c.list().length, 1);
    s.close();
  });

  test('a command line over 512 octets closes the session; so does an endless line', async () => {
    const { port } = await catcher();
    const long = await client(port);
    assert.deepEqual(codes(await long.send(`EHLO ${'x'.repeat(600)}`)), [500]);
    await long.ended;
    const endless = await client(port);
    assert.deepEqual(codes(await endless.raw('NOOP'.repeat(200))), [500]);
    await endless.ended;
  });

  test('at most 100 recipients', async () => {
    const { port } = await catcher();
    const s = await client(port);
    await s.send('EHLO client.example');
    await s.send('MAIL FROM:<a@b.example>');
    const rcpts = Array.from({ length: 101 }, (_, i) => `RCPT TO:<r${i}@y.example>\r\n`).join('');
    const replies = codes(await s.raw(rcpts, 101));
    assert.deepEqual([replies.filter((r) => r === 250).length, replies.at(-1)], [100, 452]);
    s.close();
  });

  test('keeps the newest messages, listed newest first', async () => {
    const { catcher: c, port } = await catcher({ keep: 2 });
    const s = await client(port);
    await s.send('EHLO client.example');
    for (const n of [1, 2, 3]) {
      await s.raw(`MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\nSubject: ${n}\r\n\r\nbody\r\n.\r\n`, 4);
    }
    assert.deepEqual(c.list().map((m) => m.id), [3, 2]);
    assert.equal(c.get(1), undefined);
    assert.equal(c.get(3)?.raw.toString(), 'Subject: 3\r\n\r\nbody\r\n');
    s.close();
  });
});

describe('reading a message', () => {
  const crlf = (text: string) => Buffer.from(text.replace(/\n/g, '\r\n'), 'latin1');

  test('nested multiparts, base64 and quoted-printable, a charset, encoded words; attachments skipped', () => {
    const raw = crlf(`From: =?UTF-8?Q?Caf=C3=A9?= <cafe@shop.example>
To: ada@example.com
Subject: =?UTF-8?B?w4l0w6k=?=
 =?ISO-8859-1?Q?_=E0_Paris?=
Content-Type: multipart/mixed; boundary="outer"

preamble
--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Cr=E8me br=FBl=E9e, a soft=
 break
--inner
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64

PHA+Q3LDqG1lPC9wPg==
--inner--
--outer
Content-Type: text/plain
Content-Disposition: attachment; filename="notes.txt"

not the body
--outer--
epilogue
`);
    const read = readMail(raw);
    assert.equal(read.subject, 'Été à Paris');
    assert.equal(read.from, 'Café <cafe@shop.example>');
    assert.equal(read.to, 'ada@example.com');
    assert.equal(read.text, 'Crème brûlée, a soft break');
    assert.equal(read.html, '<p>Crème</p>');
  });

  test('a message without MIME headers is plain text; a cut-off multipart is read as far as it goes; nothing throws', () => {
    assert.deepEqual(readMail(crlf('Subject: hi\n\nline one\nline two\n')), { headers: [['Subject', 'hi']], subject: 'hi', from: '', to: '', text: 'line one\nline two\n', html: null });
    const cut = readMail(crlf('Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/html\n\n<p>half'));
    assert.equal(cut.html, '<p>half');
    assert.equal(readMail(crlf('Content-Type: multipart/mixed\n\nno boundary')).text, null);
    assert.equal(readMail(Buffer.from('garbage without headers')).subject, '');
  });
});
