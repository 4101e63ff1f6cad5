/**
 * Timer lateness end to end: an event comes in over HTTP, a trigger waits 60 s, then a message is
 * POSTed to a webhook; lateness is when the webhook receives it − when it was due. Side by side in
 * one run, one system after the other, with the same work:
 *
 * - Nudge: a real server from `createNudge` in this process (SQLite in a temporary directory,
 *   `synchronous: full`, real clock), one trigger (`signed_up` → `wait: 60s` → `send: in_app`), the
 *   in_app channel a webhook to the receiver. N users' `signed_up` events go through
 *   `POST /v1/batch` (write key, 500 events a request, a few concurrent senders) with timestamps in
 *   the past, chosen so that the due times (timestamp + 60 s) are spread evenly over a window that
 *   begins after ingestion (and the trigger engine's commits) have finished, with a margin.
 * - BullMQ 6.7: the same N due times as delayed jobs (`addBulk`, job timestamp = the event's, delay
 *   60 s) on the local Redis (127.0.0.1:6379, a unique key prefix; only keys under it are deleted
 *   afterwards, also on failure), and a Worker in this process whose processor POSTs the same JSON
 *   shape to the receiver with fetch.
 *
 * The receiver (support/lateness-receiver.ts) runs in a child process, so on a 2-core machine the
 * system under test keeps a core for itself and the receiver shares the other with Redis. Besides
 * the receiver's figures (p50/p99/max lateness, arrivals, distinct idempotency keys: N means none
 * lost and none doubled), it reports lateness at each stage on the way and the time this process's
 * event loop spent in each kind of storage call during the window, which says where the time goes.
 *
 * Settings (environment): BENCH_ENGINE_USERS (default 100,000), BENCH_ENGINE_SPREAD_MS (20,000),
 * BENCH_ENGINE_LEAD_MS (from the start of ingestion to the first due time, default 25,000; with
 * the spread at most 60,000, so that every timestamp is in the past when it is sent),
 * BENCH_ENGINE_SENDERS (concurrent ingestion requests, 4), BENCH_ENGINE_BULLMQ_CONCURRENCY (100),
 * BENCH_ENGINE_SYNCHRONOUS (`full`, default, or `normal`: Nudge's SQLite durability);
 * BENCH_CPU_PROF=1 also records a CPU profile of this process during Nudge's window.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { parseConfig } from '../src/config/config.js';
import { createNudge, type Nudge } from '../src/main.js';
import { envInt, formatTable, num, type Benchmark, type BenchmarkReport, type SummaryRow } from './support/benchmark.js';
import { CallStats } from './support/call-stats.js';
import { awaitArrivals, indent, sleepUntil, startWindowMeters } from './support/window.js';
import { formatProfileSummary, startProfiler, summariseCpuProfile } from './support/cpu-profile.js';
import { LatenessReceiver, type PathReport } from './support/lateness-receiver.js';
import { repoRoot } from './support/nudge-server.js';
import { deleteKeysUnder } from './support/redis-keys.js';

const waitMs = 60_000;
const eventsPerRequest = 500;
/** Ready (every timer committed) must come at least this long before the first due time. */
const minMarginMs = 1000;
/**
 * After the window, messages still missing are waited for as long as they keep coming (a system
 * slower than the arrival rate drains its backlog late); after this long without one, or at most
 * `drainCapMs` past the window, the rest count as lost.
 */
const stallMs = 10_000;
const drainCapMs = 180_000;
/** Above this much CPU used by other processes during a window, its figures are flagged as disturbed. */
const busyMachineCores = 0.2;
/** After the last expected arrival, how long to listen for repeats. */
const repeatsMs = 1000;
const targets = { p99Ms: 10, maxMs: 50 };
const connection = { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null };
const workspace = { id: 'bench', writeKey: 'bench-write-key', adminKey: 'bench-admin-key' };

interface Settings {
  /** SQLite durability of Nudge's run: `full` fsyncs every transaction, `normal` survives a crashed process but not a power cut. */
  synchronous: 'full' | 'normal';
  users: number;
  spreadMs: number;
  leadMs: number;
  senders: number;
  bullConcurrency: number;
  cpuProfile: boolean;
}

/** The due time of user i: evenly over [windowStart, windowStart + spread). */
const dueOf = (s: Settings, windowStart: number, i: number): number => windowStart + Math.floor((i * s.spreadMs) / s.users);

/** The entry event as the trigger engine keeps it, so both systems carry the same body. */
const entryOf = (tag: string, i: number, timestamp: number) => ({ messageId: `${tag}-${i}`, type: 'track', name: 'signed_up', properties: { plan: 'free' }, timestamp });

interface Lateness {
  p50: number;
  p99: number;
  max: number;
  min: number;
  count: number;
}

function latenessOf(values: ArrayLike<number>): Lateness {
  const sorted = Float64Array.from(values).sort();
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
  return { p50: at(50), p99: at(99), max: sorted[sorted.length - 1] ?? Number.NaN, min: sorted[0] ?? Number.NaN, count: sorted.length };
}

/** Lateness recorded at one stage on the way, per message (ms after its due time). */
class Stage {
  readonly values: number[] = [];
  constructor(readonly name: string) {}
}

interface RunResult {
  system: 'Nudge' | 'BullMQ';
  /** Start of ingestion → every request answered (Nudge: 200 = committed) / every addBulk done. */
  ingestMs: number;
  /** Start of ingestion → every timer committed and known to the scheduler. */
  readyMs: number;
  /** Ready → first due time. */
  marginMs: number;
  arrivals: PathReport;
  lateness: Lateness;
  /** Messages whose `at` is not the due time this run gave their user. */
  wrongDue: number;
  stages: { name: string; lateness: Lateness }[];
  windowMs: number;
  /** CPU time this process used during the window, ms. */
  mainCpuMs: number;
  /** Cores used during the window (first due → last arrival): this process, the receiver, Redis, the rest. */
  cores: { main: number; receiver: number; redis: number | null; other: number };
  loopDelay: { p99: number; max: number };
  calls: CallStats | null;
  /** p99 and max arrival lateness per tenth of the window (by due time). */
  slices: { p99: number; max: number; count: number }[];
  profileReport: string | null;
  failures: string[];
  notes: string[];
}

export const engineBenchmark: Benchmark = {
  name: 'engine',
  title: 'timer lateness end to end: event over HTTP → wait 60s → webhook, Nudge vs BullMQ 6.7',
  async run(): Promise<BenchmarkReport> {
    const settings: Settings = {
      synchronous: process.env['BENCH_ENGINE_SYNCHRONOUS'] === 'normal' ? 'normal' : 'full',
      users: envInt('BENCH_ENGINE_USERS', 100_000),
      spreadMs: envInt('BENCH_ENGINE_SPREAD_MS', 20_000),
      leadMs: envInt('BENCH_ENGINE_LEAD_MS', 25_000),
      senders: envInt('BENCH_ENGINE_SENDERS', 4),
      bullConcurrency: envInt('BENCH_ENGINE_BULLMQ_CONCURRENCY', 100),
      cpuProfile: process.env['BENCH_CPU_PROF'] === '1',
    };
    // A timestamp after "now" counts as now (an event never happened in the future), which would
    // move its due time: every timestamp (due − 60 s) must already be past when it is sent.
    if (settings.leadMs + settings.spreadMs > waitMs) {
      throw new Error(`BENCH_ENGINE_LEAD_MS + BENCH_ENGINE_SPREAD_MS must be at most ${waitMs} (timestamps in the past), got ${settings.leadMs} + ${settings.spreadMs}`);
    }
    const workDir = mkdtempSync(path.join(tmpdir(), 'nudge-bench-engine-'));
    const receiver = await LatenessReceiver.start();
    try {
      const redis = await redisFacts();
      const redisPid = redis.pid;
      console.log(
        `  ${num(settings.users)} users; due times evenly over ${num(settings.spreadMs / 1000, 1)} s starting ${num(settings.leadMs / 1000, 1)} s after ingestion starts; wait 60 s
  where things run:
    this process (pid ${process.pid}): Nudge (HTTP, ingest pipeline, trigger engine, timer scheduler, dispatcher, SQLite), then the BullMQ Queue and Worker;
                  the ingestion senders (${settings.senders} concurrent fetch) run here too, but only before the window
    receiver: child process pid ${receiver.pid} (node:http), records arrival − due for both
    Redis ${redis.version}: its own process${redisPid === null ? '' : ` (pid ${redisPid})`}, shared with the machine, idle during Nudge's run; ${redis.persistence}
  durability: Nudge commits every step with SQLite synchronous=${settings.synchronous}${settings.synchronous === 'full' ? ' (an fsync per transaction)' : ' (fsync at WAL checkpoints only: survives a crashed process, not a power cut)'}; BullMQ's is Redis's, above`,
      );
      const nudge = await runNudge(settings, receiver, path.join(workDir, 'nudge'), redisPid);
      printRun(settings, nudge);
      const bull = await runBullmq(settings, receiver, redisPid);
      printRun(settings, bull);
      return report(settings, nudge, bull);
    } finally {
      await receiver.close();
      rmSync(workDir, { recursive: true, force: true });
    }
  },
};

/** Redis's pid (for its CPU) and how it persists: what BullMQ's durability rests on here. */
async function redisFacts(): Promise<{ pid: number | null; version: string; persistence: string }> {
  const redis = new Redis(connection);
  try {
    const info = await redis.info('server');
    const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
    const [, aof] = (await redis.config('GET', 'appendonly')) as string[];
    const [, fsync] = (await redis.config('GET', 'appendfsync')) as string[];
    const [, save] = (await redis.config('GET', 'save')) as string[];
    const persistence = aof === 'yes' ? `AOF, appendfsync ${fsync}` : save ? `no AOF, RDB snapshots "${save}"` : 'no AOF, no RDB snapshots: jobs live only in memory';
    return { pid: Number.isInteger(pid) && pid > 0 ? pid : null, version: /redis_version:(\S+)/.exec(info)?.[1] ?? '?', persistence };
  } finally {
    await redis.quit();
  }
}

/** Waits until every user's message arrived (see `awaitArrivals`), then listens a little longer for repeats. */
async function arrivalsOf(receiver: LatenessReceiver, pathName: string, expected: number, windowEnd: number): Promise<PathReport> {
  await awaitArrivals(async () => (await receiver.status(pathName)).distinct, { expected, lastDue: windowEnd, stallMs, drainCapMs, pollMs: 200 });
  await sleep(repeatsMs);
  return receiver.report(pathName);
}

/** What every run reports from the receiver's records. */
function arrivalFigures(s: Settings, windowStart: number, arrivals: PathReport, expectedDue: (i: number) => number) {
  const lateness = latenessOf(arrivals.lateness);
  const sliceMs = s.spreadMs / 10;
  const perSlice: number[][] = Array.from({ length: 10 }, () => []);
  for (let i = 0; i < arrivals.received; i++) {
    const slice = Math.min(9, Math.max(0, Math.floor((arrivals.dueAt[i]! - windowStart) / sliceMs)));
    perSlice[slice]!.push(arrivals.lateness[i]!);
  }
  const slices = perSlice.map((v) => ({ ...latenessOf(v), count: v.length }));
  // Every `at` must be one of this run's due times: the first due time plus a multiple of the
  // spacing is not checkable for uneven spacing, so the set of due times is checked instead.
  const due = new Set<number>();
  for (let i = 0; i < s.users; i++) due.add(expectedDue(i));
  let wrongDue = 0;
  for (let i = 0; i < arrivals.received; i++) if (!due.has(arrivals.dueAt[i]!)) wrongDue++;
  return { lateness, slices, wrongDue };
}

function arrivalFailures(system: string, s: Settings, r: PathReport, lateness: Lateness, wrongDue: number): string[] {
  const failures: string[] = [];
  if (r.distinct !== s.users) {
    failures.push(`${system}: ${num(r.distinct)} distinct messages arrived, expected ${num(s.users)} (${num(s.users - r.distinct)} lost: none came for ${stallMs / 1000} s, or the drain passed ${drainCapMs / 1000} s)`);
  }
  if (r.received !== r.distinct) failures.push(`${system}: ${num(r.received - r.distinct)} messages arrived twice (same idempotency key)`);
  if (r.malformed > 0) failures.push(`${system}: ${num(r.malformed)} requests without \`at\` or an idempotency key`);
  if (wrongDue > 0) failures.push(`${system}: ${num(wrongDue)} messages carry an \`at\` that is not a due time of this run`);
  if (lateness.min < 0) failures.push(`${system}: a message arrived ${-lateness.min} ms before it was due`);
  return failures;
}

async function runNudge(s: Settings, receiver: LatenessReceiver, workDir: string, redisPid: number | null): Promise<RunResult> {
  const triggersDir = path.join(workDir, 'triggers');
  const dataDir = path.join(workDir, 'data');
  mkdirSync(triggersDir, { recursive: true });
  writeFileSync(
    path.join(triggersDir, 'welcome.yaml'),
    `id: welcome
entry:
  event: signed_up
steps:
  - wait: 60s
  - id: welcome-in-app
    send: in_app
    template: welcome
`,
  );
  const config = parseConfig(
    `workspaces:
  - id: ${workspace.id}
    writeKeys: [${workspace.writeKey}]
admin:
  keys: [${workspace.adminKey}]
storage:
  driver: sqlite
  file: nudge.db
  synchronous: ${s.synchronous}
triggers:
  dir: ${triggersDir}
  watch: false
channels:
  in_app:
    webhook:
      url: ${receiver.url}/nudge
      allowPrivateNetworks: true
`,
    path.join(workDir, 'nudge.yaml'),
  );
  const nudge = await createNudge({ config, dataDir, logger: false });
  const calls = new CallStats();
  const stages = instrumentNudge(nudge, calls);
  const failures: string[] = [];
  const notes: string[] = [];
  try {
    const url = await nudge.listen(0);
    const tag = `e${Date.now().toString(36)}`;
    const started = Date.now();
    const windowStart = started + s.leadMs;
    const due = (i: number) => dueOf(s, windowStart, i);

    // Ingestion: N signed_up events, 500 to a request, `senders` requests in flight.
    const authorization = `Basic ${Buffer.from(`${workspace.writeKey}:`).toString('base64')}`;
    const requests = Math.ceil(s.users / eventsPerRequest);
    let next = 0;
    const sender = async () => {
      for (let r = next++; r < requests; r = next++) {
        const batch = [];
        for (let i = r * eventsPerRequest; i < Math.min(s.users, (r + 1) * eventsPerRequest); i++) {
          const timestamp = due(i) - waitMs;
          batch.push({ type: 'track', event: 'signed_up', userId: `u${i}`, messageId: `${tag}-${i}`, timestamp: new Date(timestamp).toISOString(), properties: { plan: 'free' } });
        }
        const res = await fetch(`${url}/v1/batch`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
        const text = await res.text();
        if (res.status !== 200) throw new Error(`Nudge: POST /v1/batch answered ${res.status}: ${text.slice(0, 300)}`);
      }
    };
    await Promise.all(Array.from({ length: s.senders }, sender));
    const ingestMs = Date.now() - started;
    // A 200 means the events are committed; the engine then turns each into a run and a timer.
    await nudge.engine.idle();
    const readyMs = Date.now() - started;

    const total = async (c: { get(): Promise<{ values: { value: number }[] }> }) => (await c.get()).values.reduce((sum, v) => sum + v.value, 0);
    const accepted = await total(nudge.metrics.eventsAccepted);
    const refused = await total(nudge.metrics.eventsRefused);
    const duplicates = await total(nudge.metrics.eventsDuplicate);
    const pendingTimers = await nudge.engineStore.timers.count();
    notes.push(`ingested ${num(accepted)} events (${num(refused)} refused, ${num(duplicates)} duplicates); ${num(pendingTimers)} timers pending when ready; engine: ${num(nudge.engine.stats().commits)} commits so far`);
    if (accepted !== s.users) failures.push(`Nudge accepted ${num(accepted)} events, expected ${num(s.users)}`);
    if (pendingTimers !== s.users) failures.push(`Nudge holds ${num(pendingTimers)} pending timers after ingestion, expected ${num(s.users)}`);
    const marginMs = windowStart - (started + readyMs);
    if (marginMs < minMarginMs) {
      const message = `Nudge was ready ${num(readyMs / 1000, 1)} s after ingestion began, ${marginMs < 0 ? `${num(-marginMs)} ms after the first due time` : `only ${num(marginMs)} ms before it`}: the lateness below is not valid; raise BENCH_ENGINE_LEAD_MS (now ${s.leadMs}) or lower BENCH_ENGINE_USERS`;
      console.log(`\n  !!! ${message}\n`);
      failures.push(message);
    }

    // The window: from the first due time to the last arrival. Storage calls and the stages are
    // recorded from a little before it, to catch what runs just ahead of the first timer.
    await sleepUntil(windowStart - 500);
    calls.windowStart = windowStart;
    calls.recording = true;
    for (const stage of stages) stage.values.length = 0;
    const profiler = s.cpuProfile ? await startProfiler() : null;
    await sleepUntil(windowStart);
    const stopMeters = startWindowMeters(receiver, redisPid);
    const arrivals = await arrivalsOf(receiver, '/nudge', s.users, windowStart + s.spreadMs);
    const meters = stopMeters();
    calls.recording = false;
    const windowMs = Math.max(1, arrivals.lastArrivalAt - windowStart);
    let profileReport: string | null = null;
    if (profiler) {
      const file = path.join(workDir, 'window.cpuprofile');
      await profiler.stop(file);
      const summary = summariseCpuProfile(file, repoRoot);
      const sections = formatProfileSummary(summary).split('\n').slice(1).join('\n');
      profileReport = `CPU profile of this process during Nudge's window: ${num(summary.busyMs / 1000, 1)} s busy of ${num(summary.totalMs / 1000, 1)} s sampled (the profiler slows it, by about a fifth here); shares of busy time\n${sections}`;
    }

    const figures = arrivalFigures(s, windowStart, arrivals, due);
    failures.push(...arrivalFailures('Nudge', s, arrivals, figures.lateness, figures.wrongDue));
    const scheduler = nudge.scheduler.stats();
    notes.push(`scheduler: ${num(scheduler.fired)} fired, max lateness ${num(scheduler.maxLatenessMs)} ms; engine: ${num(nudge.engine.stats().commits)} commits, ${num(nudge.engine.stats().sends)} sends in all`);
    return {
      system: 'Nudge',
      ingestMs,
      readyMs,
      marginMs,
      arrivals,
      ...figures,
      stages: stages.map((st) => ({ name: st.name, lateness: latenessOf(st.values) })),
      windowMs,
      ...meters,
      calls,
      profileReport,
      failures,
      notes,
    };
  } finally {
    await nudge.close();
  }
}

/**
 * Wraps the storage calls of a running Nudge with timers (they are synchronous SQLite under an
 * async face, so their wall time is time the event loop was held), and records per message when it
 * passed each stage: fired by the scheduler, its effect committed by the engine (run state and
 * outbox entry in one transaction), claimed by the dispatcher. The receiver adds the last stage.
 */
function instrumentNudge(nudge: Nudge, calls: CallStats): Stage[] {
  const fired = new Stage('timer fired (scheduler)');
  const committed = new Stage('fire committed (engine: state + outbox)');
  const claimed = new Stage('claimed from the outbox (dispatcher)');
  const { engineStore, engine, store } = nudge;
  calls.wrap(store, 'commit', 'ingest store.commit (events, checkpoints)');
  calls.wrap(store.profiles, 'getProfiles', 'profile reads (engine, for timer inputs)');
  calls.wrap(engineStore, 'loadStates', 'engine loadStates');
  calls.wrap(engineStore, 'commit', 'engine commit (state, outbox, timers)');
  calls.wrap(engineStore, 'claimOutbox', 'outbox claim');
  calls.wrap(engineStore, 'settleOutbox', 'outbox settle');
  calls.wrap(engineStore, 'nextOutboxAt', 'outbox nextOutboxAt');
  calls.wrap(engineStore.timers, 'claimDue', 'timers claimDue (refill)');
  calls.wrap(engineStore.timers, 'complete', 'timers complete');
  calls.wrap(engineStore.timers, 'nextDueAt', 'timers nextDueAt');

  // The scheduler's onFire calls engine.fire; the dispatcher calls engineStore.claimOutbox.
  const fire = engine.fire.bind(engine);
  engine.fire = (firing) => {
    if (!calls.recording) return fire(firing);
    fired.values.push(firing.latenessMs);
    const dueAt = firing.timer.dueAt;
    return fire(firing).then(() => void committed.values.push(Date.now() - dueAt));
  };
  const claimOutbox = engineStore.claimOutbox.bind(engineStore);
  engineStore.claimOutbox = async (now, limit, leaseMs) => {
    const entries = await claimOutbox(now, limit, leaseMs);
    if (calls.recording) {
      const at = Date.now();
      for (const e of entries) claimed.values.push(at - e.message.at);
    }
    return entries;
  };
  return [fired, committed, claimed];
}

interface JobData {
  key: string;
  profileId: string;
  at: number;
  entry: ReturnType<typeof entryOf>;
}

async function runBullmq(s: Settings, receiver: LatenessReceiver, redisPid: number | null): Promise<RunResult> {
  const prefix = `nudge-bench-engine-${process.pid}-${Date.now()}`;
  const redis = new Redis(connection);
  try {
    return await bullmqMeasure(s, receiver, redisPid, prefix);
  } finally {
    // Everything under our prefix goes, also after a failure; nothing else is touched.
    await deleteKeysUnder(redis, prefix);
    await redis.quit();
  }
}

async function bullmqMeasure(s: Settings, receiver: LatenessReceiver, redisPid: number | null, prefix: string): Promise<RunResult> {
  const url = `${receiver.url}/bullmq`;
  const pickedUp = new Stage('picked up by a worker');
  let recording = false;
  const queue = new Queue<JobData>('engine', { connection, prefix });
  await queue.waitUntilReady();
  // The processor does what Nudge's webhook channel does: the same JSON shape, POSTed with fetch,
  // the idempotency key in a header, the response drained so the connection is reused.
  const worker = new Worker<JobData>(
    'engine',
    async (job: Job<JobData>) => {
      const d = job.data;
      if (recording) pickedUp.values.push(Date.now() - d.at);
      const body = JSON.stringify({
        id: d.key,
        workspaceId: workspace.id,
        channel: 'in_app',
        template: 'welcome',
        topic: null,
        profileId: d.profileId,
        trigger: { id: 'welcome', version: 'v1', runId: 'welcome:1', stepId: 'welcome-in-app' },
        variants: {},
        entry: d.entry,
        at: d.at,
        attempt: job.attemptsMade + 1,
      });
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': d.key }, body, signal: AbortSignal.timeout(10_000) });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`POST ${url}: HTTP ${res.status}`);
    },
    { connection, prefix, concurrency: s.bullConcurrency },
  );
  try {
    await worker.waitUntilReady();
    const tag = `b${Date.now().toString(36)}`;
    const started = Date.now();
    const windowStart = started + s.leadMs;
    const due = (i: number) => dueOf(s, windowStart, i);
    const requests = Math.ceil(s.users / eventsPerRequest);
    let next = 0;
    // The same batches and concurrency as Nudge's ingestion; the job's timestamp is the event's,
    // so BullMQ computes the same due time (timestamp + delay).
    const sender = async () => {
      for (let r = next++; r < requests; r = next++) {
        const jobs = [];
        for (let i = r * eventsPerRequest; i < Math.min(s.users, (r + 1) * eventsPerRequest); i++) {
          const timestamp = due(i) - waitMs;
          const data: JobData = { key: `${tag}-u${i}-welcome`, profileId: `u${i}`, at: due(i), entry: entryOf(tag, i, timestamp) };
          jobs.push({ name: 'welcome', data, opts: { jobId: data.key, timestamp, delay: waitMs, removeOnComplete: true } });
        }
        await queue.addBulk(jobs);
      }
    };
    await Promise.all(Array.from({ length: s.senders }, sender));
    const ingestMs = Date.now() - started;
    const readyMs = ingestMs;
    const failures: string[] = [];
    const delayed = await queue.getDelayedCount();
    const notes = [`${num(delayed)} delayed jobs when ready; worker concurrency ${s.bullConcurrency}`];
    if (delayed !== s.users) failures.push(`BullMQ holds ${num(delayed)} delayed jobs after adding, expected ${num(s.users)}`);
    const marginMs = windowStart - (started + readyMs);
    if (marginMs < minMarginMs) {
      const message = `BullMQ was ready only ${num(marginMs)} ms before the first due time: the lateness below is not valid; raise BENCH_ENGINE_LEAD_MS`;
      console.log(`\n  !!! ${message}\n`);
      failures.push(message);
    }

    await sleepUntil(windowStart - 500);
    recording = true;
    await sleepUntil(windowStart);
    const stopMeters = startWindowMeters(receiver, redisPid);
    const arrivals = await arrivalsOf(receiver, '/bullmq', s.users, windowStart + s.spreadMs);
    const meters = stopMeters();
    recording = false;
    const failed = await queue.getFailedCount();
    if (failed > 0) failures.push(`BullMQ: ${num(failed)} jobs failed`);
    const figures = arrivalFigures(s, windowStart, arrivals, due);
    failures.push(...arrivalFailures('BullMQ', s, arrivals, figures.lateness, figures.wrongDue));
    return {
      system: 'BullMQ',
      ingestMs,
      readyMs,
      marginMs,
      arrivals,
      ...figures,
      stages: [{ name: pickedUp.name, lateness: latenessOf(pickedUp.values) }],
      windowMs: Math.max(1, arrivals.lastArrivalAt - windowStart),
      ...meters,
      calls: null,
      profileReport: null,
      failures,
      notes,
    };
  } finally {
    await worker.close();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  }
}

const ms = (n: number) => (Number.isNaN(n) ? '–' : `${num(n)} ms`);

function printRun(s: Settings, r: RunResult): void {
  const perS = (s.users / r.ingestMs) * 1000;
  const ingestWhat = r.system === 'Nudge' ? 'POST /v1/batch, 200 = committed' : 'addBulk';
  console.log(`
  ${r.system}: ingestion ${num(r.ingestMs / 1000, 1)} s (${num(perS)}/s, ${ingestWhat}), ready ${num(r.readyMs / 1000, 1)} s after it began, ${num(r.marginMs / 1000, 1)} s before the first due time
    ${r.notes.join('\n    ')}
    arrived: ${num(r.arrivals.received)} requests, ${num(r.arrivals.distinct)} distinct idempotency keys (expected ${num(s.users)}); last arrival ${num(r.windowMs / 1000, 2)} s after the first due time
    CPU during the window (cores): this process ${num(r.cores.main, 2)}, receiver ${num(r.cores.receiver, 2)}, Redis ${r.cores.redis === null ? 'n/a' : num(r.cores.redis, 2)}, everything else ${num(r.cores.other, 2)}
    this process's event-loop delay during the window: p99 ${num(r.loopDelay.p99, 1)} ms, max ${num(r.loopDelay.max, 1)} ms
    this process's CPU per message: ${num((r.mainCpuMs * 1000) / Math.max(1, r.arrivals.received))} µs, a ceiling of about ${num((r.arrivals.received / r.mainCpuMs) * 1000)} messages/s on one core; the window asks for ${num((s.users / s.spreadMs) * 1000)}/s`);
  if (r.cores.other > busyMachineCores) {
    console.log(`    WARNING: other processes used ${num(r.cores.other, 2)} cores during this window (more than ${busyMachineCores}): the figures above understate ${r.system}.`);
  }
  const stageRows = [...r.stages.map((st) => [st.name, st.lateness]), ['arrived at the receiver (end to end)', r.lateness] as const].map(([name, l]) => {
    const lat = l as Lateness;
    return [name as string, num(lat.count), ms(lat.p50), ms(lat.p99), ms(lat.max)];
  });
  console.log(`\n  ${r.system}: lateness at each stage, ms after the due time\n${indent(formatTable(['stage', 'messages', 'p50', 'p99', 'max'], stageRows))}`);
  console.log(
    `\n  ${r.system}: end-to-end lateness by tenth of the window (by due time, ${num(s.spreadMs / 10000, 1)} s each): p99 / max ms\n${indent(
      formatTable(
        r.slices.map((_, i) => `${i + 1}`),
        [r.slices.map((sl) => `${Number.isNaN(sl.p99) ? '–' : sl.p99} / ${Number.isNaN(sl.max) ? '–' : sl.max}`)],
      ),
    )}`,
  );
  if (r.calls) {
    console.log(
      `\n  ${r.system}: storage calls from 0.5 s before the window to the last arrival (${num(r.windowMs / 1000 + 0.5, 1)} s), time they held the event loop (synchronous SQLite)\n${indent(
        formatTable(['call', 'calls', 'total ms', 'of window', 'mean ms', 'max ms'], r.calls.rows(r.windowMs + 500)),
      )}`,
    );
    const long = [...r.calls.long].sort((a, b) => b.ms - a.ms).slice(0, 8);
    if (long.length > 0) console.log(`    longest: ${long.map((c) => `${c.name.split(' (')[0]} ${num(c.ms)} ms at ${num(c.startMs / 1000, 2)} s`).join('; ')}`);
  }
  if (r.profileReport) console.log(`\n${r.profileReport}`);
}

function report(s: Settings, nudge: RunResult, bull: RunResult): BenchmarkReport {
  const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? `${num(a / b, 2)}×` : '');
  const arrived = (r: RunResult) => `${num(r.arrivals.distinct)} / ${num(r.arrivals.received)}`;
  const delivered = (r: RunResult) => r.arrivals.distinct === s.users && r.arrivals.received === s.users;
  const rows: SummaryRow[] = [
    { what: 'e2e lateness p50', nudge: ms(nudge.lateness.p50), floor: `BullMQ ${ms(bull.lateness.p50)}`, ratio: ratio(nudge.lateness.p50, bull.lateness.p50), target: '', met: null },
    { what: 'e2e lateness p99', nudge: ms(nudge.lateness.p99), floor: `BullMQ ${ms(bull.lateness.p99)}`, ratio: ratio(nudge.lateness.p99, bull.lateness.p99), target: `≤ ${targets.p99Ms} ms`, met: nudge.lateness.p99 <= targets.p99Ms },
    { what: 'e2e lateness max', nudge: ms(nudge.lateness.max), floor: `BullMQ ${ms(bull.lateness.max)}`, ratio: ratio(nudge.lateness.max, bull.lateness.max), target: `≤ ${targets.maxMs} ms`, met: nudge.lateness.max <= targets.maxMs },
    { what: 'distinct / received msgs', nudge: arrived(nudge), floor: `BullMQ ${arrived(bull)}`, ratio: '', target: `${num(s.users)} / ${num(s.users)}`, met: delivered(nudge) },
    { what: 'ingestion (500 per call)', nudge: `${num(nudge.ingestMs / 1000, 1)} s`, floor: `BullMQ ${num(bull.ingestMs / 1000, 1)} s`, ratio: ratio(nudge.ingestMs, bull.ingestMs), target: '', met: null },
  ];
  console.log(
    `\n${formatTable(
      ['', 'Nudge', 'BullMQ', 'Nudge/BullMQ', 'target'],
      rows.map((r) => [r.what, r.nudge, r.floor.replace(/^BullMQ /, ''), r.ratio, r.met === null ? r.target : `${r.target} ${r.met ? 'met' : 'NOT met'}`]),
    )}`,
  );
  return { rows, failures: [...nudge.failures, ...bull.failures] };
}
