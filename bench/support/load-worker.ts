/**
 * The load generator's process (see load.ts): builds a pool of Segment batches once, then runs
 * autocannon phases on request and reports their results over IPC.
 */
import autocannon from 'autocannon';
import type { LoadSpec, PhaseResult, WorkerReply, WorkerRequest } from './load.js';
import { buildBatchPool, type BatchPool } from './segment-batches.js';

let spec: LoadSpec | null = null;
let pool: BatchPool | null = null;
let sent = 0;

const reply = (message: WorkerReply) => process.send!(message);

process.on('message', (message: WorkerRequest) => {
  handle(message).then(reply, (error: unknown) => reply({ kind: 'failed', message: error instanceof Error ? error.stack ?? error.message : String(error) }));
});
// The parent going away ends this process too.
process.on('disconnect', () => process.exit(0));

async function handle(message: WorkerRequest): Promise<WorkerReply> {
  switch (message.kind) {
    case 'setup': {
      spec = message.spec;
      const bodies = Math.max(1, Math.ceil(spec.users / spec.eventsPerBatch));
      pool = buildBatchPool({ bodies, eventsPerBatch: spec.eventsPerBatch, users: spec.users });
      return { kind: 'ready', meanBodyBytes: pool.meanBodyBytes, poolBodies: bodies };
    }
    case 'run':
      return { kind: 'done', result: await runPhase(message.durationS) };
  }
}

async function runPhase(durationS: number): Promise<PhaseResult> {
  if (!spec || !pool) throw new Error('run before setup');
  const { runTag } = spec;
  const bodies = pool;
  const cpuBefore = process.cpuUsage();
  const result = await autocannon({
    url: spec.url,
    connections: spec.connections,
    pipelining: 1,
    duration: durationS,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        path: spec.path,
        headers: spec.headers,
        setupRequest: (request) => {
          const n = sent++;
          return { ...request, body: bodies.body(n, `${runTag}.${n.toString(36)}.`) };
        },
      },
    ],
  });
  const cpu = process.cpuUsage(cpuBefore);
  return {
    durationS: result.duration,
    requestsSent: result.requests.sent,
    status2xx: result['2xx'],
    status4xx: result['4xx'],
    status5xx: result['5xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    latencyMeanMs: result.latency.average,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    latencyMaxMs: result.latency.max,
    loadCpuMs: (cpu.user + cpu.system) / 1000,
  };
}
