/**
 * Drives HTTP load from a child process, so the load generator runs on its own core and its work
 * is not counted against the server under test. The child (load-worker.ts) runs autocannon; this
 * side starts it, runs phases (a warm-up, then the measurement) and collects the results.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { stopChild } from './processes.js';

export interface LoadSpec {
  url: string;
  path: string;
  headers: Record<string, string>;
  connections: number;
  eventsPerBatch: number;
  /** Distinct users the events are spread over; the body pool holds users / eventsPerBatch bodies. */
  users: number;
  /** Starts every messageId, so ids never repeat across runs that share a database. */
  runTag: string;
}

export interface PhaseResult {
  /** Wall-clock seconds the phase ran, as autocannon measured it. */
  durationS: number;
  requestsSent: number;
  status2xx: number;
  status4xx: number;
  status5xx: number;
  /** Responses that were not 2xx, of any class. */
  non2xx: number;
  errors: number;
  timeouts: number;
  latencyMeanMs: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  /** CPU the load generator itself used during the phase. */
  loadCpuMs: number;
}

export type WorkerRequest = { kind: 'setup'; spec: LoadSpec } | { kind: 'run'; durationS: number };
export type WorkerReply =
  | { kind: 'ready'; meanBodyBytes: number; poolBodies: number }
  | { kind: 'done'; result: PhaseResult }
  | { kind: 'failed'; message: string };

export class LoadGenerator {
  private constructor(
    private readonly child: ChildProcess,
    readonly meanBodyBytes: number,
    readonly poolBodies: number,
  ) {}

  static async start(spec: LoadSpec): Promise<LoadGenerator> {
    const child = fork(path.join(import.meta.dirname, 'load-worker.ts'), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    try {
      const ready = await request(child, { kind: 'setup', spec });
      if (ready.kind !== 'ready') throw new Error(`load generator: unexpected reply ${ready.kind}`);
      return new LoadGenerator(child, ready.meanBodyBytes, ready.poolBodies);
    } catch (error) {
      await stopChild(child);
      throw error;
    }
  }

  /** Loads the server for `durationS` seconds with every connection busy. */
  async run(durationS: number): Promise<PhaseResult> {
    const reply = await request(this.child, { kind: 'run', durationS });
    if (reply.kind !== 'done') throw new Error(`load generator: unexpected reply ${reply.kind}`);
    return reply.result;
  }

  async close(): Promise<void> {
    await stopChild(this.child);
  }
}

async function request(child: ChildProcess, message: WorkerRequest): Promise<WorkerReply> {
  const exited = once(child, 'exit').then(([code, signal]) => {
    throw new Error(`load generator exited (${signal ?? code})`);
  });
  const replied = once(child, 'message').then(([reply]) => reply as WorkerReply);
  child.send(message);
  const reply = await Promise.race([replied, exited]);
  exited.catch(() => undefined);
  if (reply.kind === 'failed') throw new Error(`load generator: ${reply.message}`);
  return reply;
}
