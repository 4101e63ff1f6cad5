/**
 * The receiving end of the end-to-end lateness benchmark (bench/engine.ts): a node:http server in a
 * child process of its own, so that recording arrivals never takes time from the event loop of the
 * system under test. For every POST it notes arrival time − the body's `at` (the due time, ms) and
 * the `Idempotency-Key` header, per request path, and answers 200 at once.
 *
 * One file plays both parts: imported, it is the parent's handle (`LatenessReceiver.start()`);
 * forked with NUDGE_BENCH_RECEIVER=1 in its environment, it is the server.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpuTimeMsOf, stopChild } from './processes.js';

/** What arrived on one path so far. */
export interface PathStatus {
  /** Requests, repeats included. */
  received: number;
  /** Distinct idempotency keys. */
  distinct: number;
  /** Date.now() of the last arrival, 0 before the first. */
  lastArrivalAt: number;
}

export interface PathReport extends PathStatus {
  /** Arrival time − `at`, ms, in arrival order (one entry per request). */
  lateness: Int32Array;
  /** The `at` of each request, same order. */
  dueAt: Float64Array;
  /** Requests without a readable `at` or idempotency key. */
  malformed: number;
}

type Request = { id: number; kind: 'status' | 'report'; path: string };
type Reply = { id: number; status?: PathStatus; report?: PathReport };

export class LatenessReceiver {
  private nextId = 0;
  private readonly pending = new Map<number, (reply: Reply) => void>();

  private constructor(
    private readonly child: ChildProcess,
    /** Base URL; append a path per system under test. */
    readonly url: string,
  ) {
    child.on('message', (message: Reply | { kind: 'listening'; port: number }) => {
      if ('id' in message) {
        this.pending.get(message.id)?.(message);
        this.pending.delete(message.id);
      }
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  static async start(): Promise<LatenessReceiver> {
    // 'advanced' serialisation carries the typed arrays of a report as they are (structured clone).
    const child = fork(import.meta.filename, [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, NUDGE_BENCH_RECEIVER: '1' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    const exited = once(child, 'exit').then(([code, signal]) => {
      throw new Error(`the receiver exited before listening (${signal ?? code})`);
    });
    const listening = once(child, 'message').then(([m]) => m as { kind: 'listening'; port: number });
    try {
      const { port } = await Promise.race([listening, exited]);
      exited.catch(() => undefined);
      return new LatenessReceiver(child, `http://127.0.0.1:${port}`);
    } catch (error) {
      await stopChild(child);
      throw error;
    }
  }

  /** CPU time the receiver process has used so far, ms. */
  cpuTimeMs(): number {
    return cpuTimeMsOf(this.pid);
  }

  status(path: string): Promise<PathStatus> {
    return this.request('status', path).then((r) => r.status!);
  }

  report(path: string): Promise<PathReport> {
    return this.request('report', path).then((r) => r.report!);
  }

  async close(): Promise<void> {
    await stopChild(this.child);
  }

  private request(kind: Request['kind'], path: string): Promise<Reply> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      if (!this.child.connected) return reject(new Error('the receiver process is gone'));
      this.pending.set(id, resolve);
      this.child.send({ id, kind, path } satisfies Request);
    });
  }
}

/** Per-path records, grown by doubling: 100,000 arrivals must not cost 100,000 small allocations. */
class PathRecord {
  received = 0;
  malformed = 0;
  lastArrivalAt = 0;
  readonly keys = new Set<string>();
  lateness = new Int32Array(1 << 16);
  dueAt = new Float64Array(1 << 16);

  add(arrivedAt: number, at: number, key: string): void {
    if (this.received === this.lateness.length) {
      const lateness = new Int32Array(this.lateness.length * 2);
      lateness.set(this.lateness);
      this.lateness = lateness;
      const dueAt = new Float64Array(this.dueAt.length * 2);
      dueAt.set(this.dueAt);
      this.dueAt = dueAt;
    }
    this.lateness[this.received] = arrivedAt - at;
    this.dueAt[this.received] = at;
    this.received++;
    this.lastArrivalAt = arrivedAt;
    this.keys.add(key);
  }

  status(): PathStatus {
    return { received: this.received, distinct: this.keys.size, lastArrivalAt: this.lastArrivalAt };
  }
}

const atMarker = Buffer.from('"at":');

function serve(): void {
  const paths = new Map<string, PathRecord>();
  const recordOf = (path: string): PathRecord => {
    let r = paths.get(path);
    if (!r) paths.set(path, (r = new PathRecord()));
    return r;
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const arrivedAt = Date.now();
      const record = recordOf(req.url ?? '/');
      // Only `at` is needed: the body's last `"at":` (the webhook body ends with it and `attempt`;
      // the entry event before it carries no such key), so no JSON.parse of the whole body.
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      const i = body.lastIndexOf(atMarker);
      const at = i < 0 ? Number.NaN : Number.parseInt(body.toString('latin1', i + atMarker.length, i + atMarker.length + 20), 10);
      const key = req.headers['idempotency-key'];
      if (Number.isFinite(at) && typeof key === 'string') record.add(arrivedAt, at, key);
      else record.malformed++;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' }).end('{}');
    });
  });
  // Longer than the senders keep idle connections, so they are never closed under a request.
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send!({ kind: 'listening', port: (server.address() as AddressInfo).port }));

  process.on('message', (m: Request) => {
    const record = recordOf(m.path);
    if (m.kind === 'status') return process.send!({ id: m.id, status: record.status() } satisfies Reply);
    const report: PathReport = {
      ...record.status(),
      lateness: record.lateness.slice(0, record.received),
      dueAt: record.dueAt.slice(0, record.received),
      malformed: record.malformed,
    };
    process.send!({ id: m.id, report } satisfies Reply);
  });
  // The parent going away ends this process too.
  process.on('disconnect', () => process.exit(0));
}

if (process.env['NUDGE_BENCH_RECEIVER'] === '1') serve();
