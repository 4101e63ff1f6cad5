/**
 * The receiving end of the dispatch benchmark, in a child process: an HTTP server for webhooks and
 * an SMTP server (`smtp-server`, no TLS, no AUTH) for email. Each records, per sink, when every
 * message was accepted and its idempotency key; the parent maps keys to due times.
 *
 * - HTTP: the sink is the request path without its slash; the key is the `Idempotency-Key`
 *   header; accepted when the body has been read (the 200 follows at once).
 * - SMTP: the sink is the local part of the envelope sender (MAIL FROM); the key is the
 *   `X-Nudge-Message` header; accepted at the end of DATA (the 250 follows at once).
 *
 * One file plays both parts: imported, it is the parent's handle (`DispatchReceiver.start()`);
 * forked with NUDGE_BENCH_DISPATCH_RECEIVER=1 in its environment, it is the servers.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { cpuTimeMsOf, stopChild } from './processes.js';

/** What arrived at one sink so far. */
export interface SinkStatus {
  /** Messages accepted, repeats included. */
  received: number;
  /** Distinct idempotency keys. */
  distinct: number;
  /** Date.now() of the last acceptance, 0 before the first. */
  lastArrivalAt: number;
  /** Bytes of the bodies (HTTP) or of the raw messages (SMTP) accepted. */
  bytes: number;
}

export interface SinkReport extends SinkStatus {
  /** The idempotency key of each message, in order of acceptance. */
  keys: string[];
  /** Date.now() when each was accepted, same order. */
  acceptedAt: Float64Array;
  /** Messages without a readable idempotency key. */
  malformed: number;
}

type Request = { id: number; kind: 'status' | 'report'; sink: string };
type Reply = { id: number; status?: SinkStatus; report?: SinkReport };
type Listening = { kind: 'listening'; httpPort: number; smtpPort: number };

export class DispatchReceiver {
  private nextId = 0;
  private readonly pending = new Map<number, (reply: Reply) => void>();

  private constructor(
    private readonly child: ChildProcess,
    /** Base URL of the HTTP server; the path names the sink. */
    readonly url: string,
    readonly smtpPort: number,
  ) {
    child.on('message', (message: Reply | Listening) => {
      if ('id' in message) {
        this.pending.get(message.id)?.(message);
        this.pending.delete(message.id);
      }
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  static async start(): Promise<DispatchReceiver> {
    // 'advanced' serialisation carries the typed array of a report as it is (structured clone).
    const child = fork(import.meta.filename, [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, NUDGE_BENCH_DISPATCH_RECEIVER: '1' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    const exited = once(child, 'exit').then(([code, signal]) => {
      throw new Error(`the receiver exited before listening (${signal ?? code})`);
    });
    const listening = once(child, 'message').then(([m]) => m as Listening);
    try {
      const { httpPort, smtpPort } = await Promise.race([listening, exited]);
      exited.catch(() => undefined);
      return new DispatchReceiver(child, `http://127.0.0.1:${httpPort}`, smtpPort);
    } catch (error) {
      await stopChild(child);
      throw error;
    }
  }

  /** CPU time the receiver process has used so far, ms. */
  cpuTimeMs(): number {
    return cpuTimeMsOf(this.pid);
  }

  status(sink: string): Promise<SinkStatus> {
    return this.request('status', sink).then((r) => r.status!);
  }

  report(sink: string): Promise<SinkReport> {
    return this.request('report', sink).then((r) => r.report!);
  }

  async close(): Promise<void> {
    await stopChild(this.child);
  }

  private request(kind: Request['kind'], sink: string): Promise<Reply> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      if (!this.child.connected) return reject(new Error('the receiver process is gone'));
      this.pending.set(id, resolve);
      this.child.send({ id, kind, sink } satisfies Request);
    });
  }
}

/** One sink's records, the times grown by doubling. */
class SinkRecord {
  received = 0;
  malformed = 0;
  lastArrivalAt = 0;
  bytes = 0;
  readonly keys: string[] = [];
  readonly distinctKeys = new Set<string>();
  acceptedAt = new Float64Array(1 << 15);

  add(at: number, key: string, bytes: number): void {
    this.bytes += bytes;
    if (this.received === this.acceptedAt.length) {
      const grown = new Float64Array(this.acceptedAt.length * 2);
      grown.set(this.acceptedAt);
      this.acceptedAt = grown;
    }
    this.acceptedAt[this.received++] = at;
    this.keys.push(key);
    this.distinctKeys.add(key);
    this.lastArrivalAt = at;
  }

  status(): SinkStatus {
    return { received: this.received, distinct: this.distinctKeys.size, lastArrivalAt: this.lastArrivalAt, bytes: this.bytes };
  }
}

const headerEnd = Buffer.from('\r\n\r\n');
const keyHeader = /^x-nudge-message:[ \t]*(.+)$/im;

/** The `X-Nudge-Message` value from the head of a raw message (folded lines unfolded), or null. */
function nudgeKeyOf(head: Buffer): string | null {
  const end = head.indexOf(headerEnd);
  const text = head.toString('latin1', 0, end < 0 ? head.length : end).replace(/\r\n[ \t]+/g, ' ');
  return keyHeader.exec(text)?.[1]?.trim() ?? null;
}

async function serve(): Promise<void> {
  const sinks = new Map<string, SinkRecord>();
  const sinkOf = (name: string): SinkRecord => {
    let r = sinks.get(name);
    if (!r) sinks.set(name, (r = new SinkRecord()));
    return r;
  };

  const http = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      const at = Date.now();
      const sink = sinkOf((req.url ?? '/').slice(1));
      const key = req.headers['idempotency-key'];
      if (typeof key === 'string') sink.add(at, key, bytes);
      else sink.malformed++;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' }).end('{}');
    });
  });
  // Longer than the senders keep idle connections, so they are never closed under a request.
  http.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));

  const smtp = new SMTPServer({
    logger: false,
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    // A reverse DNS lookup per connection is the server's business, not the sender's cost.
    disableReverseLookup: true,
    onData(stream, session, callback) {
      // Only the head is needed: the key is a header, so the body is read but not kept.
      let head: Buffer | null = null;
      let bytes = 0;
      stream.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (head === null || head.indexOf(headerEnd) < 0) head = head === null ? chunk : Buffer.concat([head, chunk]);
      });
      stream.on('end', () => {
        const at = Date.now();
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        const sink = sinkOf(from.slice(0, from.indexOf('@')));
        const key = head === null ? null : nudgeKeyOf(head);
        if (key !== null) sink.add(at, key, bytes);
        else sink.malformed++;
        callback(null, 'queued');
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));

  process.on('message', (m: Request) => {
    const sink = sinkOf(m.sink);
    if (m.kind === 'status') return process.send!({ id: m.id, status: sink.status() } satisfies Reply);
    const report: SinkReport = { ...sink.status(), keys: sink.keys, acceptedAt: sink.acceptedAt.slice(0, sink.received), malformed: sink.malformed };
    process.send!({ id: m.id, report } satisfies Reply);
  });
  // The parent going away ends this process too.
  process.on('disconnect', () => process.exit(0));
  process.send!({
    kind: 'listening',
    httpPort: (http.address() as AddressInfo).port,
    smtpPort: (smtp.server.address() as AddressInfo).port,
  } satisfies Listening);
}

if (process.env['NUDGE_BENCH_DISPATCH_RECEIVER'] === '1') void serve();
