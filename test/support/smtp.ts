/**
 * A real SMTP server for tests (`smtp-server` on loopback) that records what it receives, and a
 * small parser of raw messages (headers, multipart, transfer encodings) to check what arrived.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';

// --- An SMTP server that records what it receives -------------------------------------------

export interface ReceivedMail {
  mailFrom: string;
  rcptTo: string[];
  /** Who logged in, and how; undefined without AUTH. */
  login: { user: string; method: string } | undefined;
  raw: string;
}

export interface SmtpServerOptions {
  /** Credentials AUTH PLAIN must present; default none (authentication optional, not offered). */
  login?: { user: string; pass: string };
  /** An SMTP error code to answer every RCPT TO with, and its text. */
  rejectRcpt?: { code: number; text: string };
  /** The same, for the end of DATA: the message was read, then refused. */
  rejectData?: { code: number; text: string };
}

export interface TestSmtpServer {
  port: number;
  received: ReceivedMail[];
  /** Connections opened so far. */
  connections: number;
  /** Connections open now. */
  open: number;
  close(): Promise<void>;
}

export async function startSmtpServer(options: SmtpServerOptions = {}): Promise<TestSmtpServer> {
  const received: ReceivedMail[] = [];
  const state = { connections: 0, open: 0 };
  const server = new SMTPServer({
    logger: false,
    // STARTTLS would be tried with the built-in certificate, which the client rightly refuses.
    disabledCommands: options.login ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !options.login,
    authMethods: ['PLAIN'],
    allowInsecureAuth: true, // loopback, no TLS: the test is of the login, not of its transport
    onConnect(_session, callback) {
      state.connections++;
      state.open++;
      callback();
    },
    onClose() {
      state.open--;
    },
    onAuth(auth, _session, callback) {
      const expected = options.login;
      if (expected && auth.method === 'PLAIN' && auth.username === expected.user && auth.password === expected.pass) {
        return callback(null, { user: { user: auth.username, method: auth.method } });
      }
      return callback(Object.assign(new Error('5.7.8 Authentication credentials invalid'), { responseCode: 535 }));
    },
    onRcptTo(_address: SMTPServerAddress, _session, callback) {
      const reject = options.rejectRcpt;
      callback(reject ? Object.assign(new Error(reject.text), { responseCode: reject.code }) : undefined);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push({
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          login: session.user as ReceivedMail['login'],
          raw: Buffer.concat(chunks).toString('latin1'),
        });
        const reject = options.rejectData;
        if (reject) return callback(Object.assign(new Error(reject.text), { responseCode: reject.code }));
        callback(null, 'queued');
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    port,
    received,
    get connections() {
      return state.connections;
    },
    get open() {
      return state.open;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// --- A small parser of the raw message: headers, multipart, transfer encodings ---------------

export interface ParsedEntity {
  /** Lower-case name -> unfolded value, each occurrence. */
  headers: Map<string, string[]>;
  body: string;
}

export function parseEntity(raw: string): ParsedEntity {
  const split = raw.indexOf('\r\n\r\n');
  const head = split === -1 ? raw : raw.slice(0, split);
  const body = split === -1 ? '' : raw.slice(split + 4);
  const headers = new Map<string, string[]>();
  for (const line of head.replace(/\r\n(?=[ \t])/g, '').split('\r\n')) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  return { headers, body };
}

/** A whole message: the CRLF that ends its last line belongs to the message, not to its body. */
export function parseMessage(raw: string): ParsedEntity {
  return parseEntity(raw.replace(/\r\n$/, ''));
}

/** The one value of a header; fails when it is absent or repeated. */
export function header(entity: ParsedEntity, name: string): string {
  const values = entity.headers.get(name.toLowerCase()) ?? [];
  assert.equal(values.length, 1, `header ${name}: ${JSON.stringify(values)}`);
  return values[0]!;
}

/** Decodes RFC 2047 encoded words (UTF-8, Q or B); blanks between adjacent words are dropped. */
export function decodeWords(value: string): string {
  return value
    .replace(/(\?=)\s+(=\?)/g, '$1$2')
    .replace(/=\?utf-8\?([QB])\?([^?]*)\?=/gi, (_, encoding: string, text: string) =>
      encoding.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64').toString('utf8')
        : qpBytes(text.replace(/_/g, ' ')).toString('utf8'),
    );
}

export function qpBytes(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const hex = text.slice(i + 1, i + 3);
    if (text[i] === '=' && /^[0-9A-F]{2}$/i.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else bytes.push(text.charCodeAt(i));
  }
  return Buffer.from(bytes);
}

/** The decoded body of a leaf part, as UTF-8 text with LF line ends. */
export function decodedBody(entity: ParsedEntity): string {
  const encoding = (entity.headers.get('content-transfer-encoding')?.[0] ?? '7bit').toLowerCase();
  const bytes =
    encoding === 'base64'
      ? Buffer.from(entity.body.replace(/\s+/g, ''), 'base64')
      : encoding === 'quoted-printable'
        ? qpBytes(entity.body.replace(/=\r\n/g, ''))
        : Buffer.from(entity.body, 'latin1');
  return bytes.toString('utf8').replace(/\r\n/g, '\n');
}

/** The parts of a multipart entity, each parsed. */
export function partsOf(entity: ParsedEntity): ParsedEntity[] {
  const boundary = /boundary="?([^";]+)"?/.exec(header(entity, 'content-type'))?.[1];
  assert.ok(boundary, 'multipart without a boundary');
  const sections = entity.body.split(`--${boundary}`);
  // Before the first delimiter is the preamble; after the closing `--boundary--`, the epilogue.
  return sections.slice(1, -1).map((s) => parseEntity(s.replace(/^\r\n/, '').replace(/\r\n$/, '')));
}

