/**
 * The demo's mail catcher: a small SMTP server on loopback that stands in for the email
 * channel's mail server (`demo.mail` in nudge.yaml) and keeps what it receives in memory for the
 * mail viewer at /shop/mail (demo-routes.ts). Never part of a real project.
 *
 * Strict and small: RFC 5321 with SIZE, 8BITMIME and PIPELINING; no AUTH, no STARTTLS (it listens
 * on loopback only). EHLO/HELO, MAIL FROM, RCPT TO, DATA, RSET, NOOP, QUIT; any other command is
 * 502, one out of order 503, one malformed 501. A command line is at most 512 octets (500, and
 * the connection is closed), a message at most 1 MB (552), at most 100 recipients (452); a
 * session quiet for 60 s is closed (421). The newest 200 messages are kept.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** A message as received: the envelope and the raw message (RFC 5322, CRLF line ends). */
export interface CaughtMail {
  /** 1, 2, … in the order received. */
  id: number;
  receivedAt: number;
  from: string;
  to: string[];
  raw: Buffer;
}

export interface MailCatcherOptions {
  /** The time a message is received at, in ms since the epoch. */
  now: () => number;
  /** Default 1 MB. */
  maxMessageBytes?: number;
  /** Default 200. */
  keep?: number;
}

const maxCommandBytes = 512;
const maxRecipients = 100;
const idleMs = 60_000;

export class MailCatcher {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly mail: CaughtMail[] = [];
  private readonly maxMessageBytes: number;
  private readonly keep: number;
  private lastId = 0;

  constructor(private readonly options: MailCatcherOptions) {
    this.maxMessageBytes = options.maxMessageBytes ?? 1_048_576;
    this.keep = options.keep ?? 200;
    this.server = createServer((socket) => this.session(socket));
  }

  /** Starts listening; `host` must be a loopback address. Resolves with the port. */
  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return (this.server.address() as AddressInfo).port;
  }

  /** What arrived, newest first. */
  list(): readonly CaughtMail[] {
    return [...this.mail].reverse();
  }

  get(id: number): CaughtMail | undefined {
    return this.mail.find((m) => m.id === id);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    if (this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private session(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setTimeout(idleMs, () => socket.end('421 4.4.2 idle for too long, closing\r\n'));
    const reply = (line: string): void => void socket.write(`${line}\r\n`);

    let greeted = false;
    let envelope: { from: string; to: string[] } | null = null;
    /** Inside DATA: the lines so far (dot-unstuffed), and whether the message grew too big. */
    let data: { lines: Buffer[]; bytes: number; tooBig: boolean } | null = null;
    let pending: Buffer = Buffer.alloc(0);

    const command = (line: string): void => {
      const verb = /^[A-Za-z]+/.exec(line)?.[0]?.toUpperCase() ?? '';
      const arg = line.slice(verb.length);
      switch (verb) {
        case 'EHLO':
        case 'HELO':
          if (!/^ \S+$/.test(arg)) return reply(`501 5.5.4 ${verb} needs a domain`);
          greeted = true;
          envelope = null;
          return reply(verb === 'HELO' ? '250 127.0.0.1' : `250-127.0.0.1 Nudge demo mail catcher\r\n250-SIZE ${this.maxMessageBytes}\r\n250-8BITMIME\r\n250 PIPELINING`);
        case 'MAIL': {
          if (!greeted) return reply('503 5.5.1 say EHLO first');
          if (envelope) return reply('503 5.5.1 a message is already under way');
          const m = /^ FROM:\s?<([^<>\s]*)>((?: [A-Za-z0-9-]+(?:=\S+)?)*)$/i.exec(arg);
          if (!m) return reply('501 5.5.4 expected MAIL FROM:<address>');
          const size = /\bSIZE=(\d+)/i.exec(m[2]!)?.[1];
          if (size !== undefined && Number(size) > this.maxMessageBytes) return reply(`552 5.3.4 message larger than ${this.maxMessageBytes} bytes`);
          envelope = { from: m[1]!, to: [] };
          return reply('250 2.1.0 OK');
        }
        case 'RCPT': {
          if (!envelope) return reply('503 5.5.1 MAIL FROM first');
          const m = /^ TO:\s?<([^<>\s]+)>((?: [A-Za-z0-9-]+(?:=\S+)?)*)$/i.exec(arg);
          if (!m) return reply('501 5.5.4 expected RCPT TO:<address>');
          if (envelope.to.length >= maxRecipients) return reply(`452 4.5.3 more than ${maxRecipients} recipients`);
          envelope.to.push(m[1]!);
          return reply('250 2.1.5 OK');
        }
        case 'DATA':
          if (arg !== '') return reply('501 5.5.4 DATA takes no argument');
          if (!envelope || envelope.to.length === 0) return reply('503 5.5.1 RCPT TO first');
          data = { lines: [], bytes: 0, tooBig: false };
          return reply('354 end the message with <CRLF>.<CRLF>');
        case 'RSET':
          envelope = null;
          return reply('250 2.0.0 OK');
        case 'NOOP':
          return reply('250 2.0.0 OK');
        case 'QUIT':
          socket.end('221 2.0.0 bye\r\n');
          return;
        default:
          return reply('502 5.5.2 command not implemented');
      }
    };

    const dataLine = (line: Buffer): void => {
      if (!data || !envelope) return;
      if (line.length === 1 && line[0] === 0x2e) {
        const { lines, tooBig } = data;
        const { from, to } = envelope;
        data = null;
        envelope = null;
        if (tooBig) return reply(`552 5.3.4 message larger than ${this.maxMessageBytes} bytes`);
        const id = ++this.lastId;
        this.mail.push({ id, receivedAt: this.options.now(), from, to, raw: Buffer.concat(lines.flatMap((l) => [l, crlf])) });
        if (this.mail.length > this.keep) this.mail.shift();
        return reply(`250 2.0.0 OK: queued as ${id}`);
      }
      const unstuffed = line[0] === 0x2e ? line.subarray(1) : line;
      data.bytes += unstuffed.length + 2;
      if (data.bytes > this.maxMessageBytes) data = { lines: [], bytes: data.bytes, tooBig: true };
      else data.lines.push(Buffer.from(unstuffed));
    };

    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (let end = pending.indexOf(crlf); end !== -1; end = pending.indexOf(crlf)) {
        const line = pending.subarray(0, end);
        pending = pending.subarray(end + 2);
        if (data) dataLine(line);
        else if (line.length > maxCommandBytes) return void socket.end('500 5.5.2 line too long\r\n');
        else command(line.toString('latin1'));
        if (socket.writableEnded) return;
      }
      if (pending.length > (data ? this.maxMessageBytes : maxCommandBytes)) socket.end(data ? '552 5.3.4 line too long\r\n' : '500 5.5.2 line too long\r\n');
    });
    reply('220 127.0.0.1 ESMTP Nudge demo mail catcher');
  }
}

const crlf = Buffer.from('\r\n');
