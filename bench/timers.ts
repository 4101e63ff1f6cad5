/**
 * Durable timers: Nudge's SQLite timer store + scheduler side by side with BullMQ 6.7 delayed jobs
 * on the local Redis (127.0.0.1:6379, a unique key prefix, only its own keys removed afterwards).
 *
 * The timers are shaped as the engine makes them: the id is the engine's (`timerIdOf`: the run's
 * start, then workspace, user, run and step; users in random order), due a step's delay after it
 * is scheduled (3 min, 10 min or 24 h, a third each), and the cancels hit random pending timers
 * (users who bought).
 *
 * - schedule and cancel rate at the same number of pending timers (BENCH_TIMERS_BULLMQ_PENDING):
 *   batches of 1000 (one SQLite transaction; one BullMQ addBulk, and 1000 concurrent
 *   `queue.remove`, BullMQ's way to cancel a delayed job); Nudge again at BENCH_TIMERS_PENDING to
 *   show how it scales;
 * - memory per pending timer: Nudge's process RSS delta (SQLite keeps timers on disk; the file size
 *   is shown too) vs Redis `used_memory` delta for BullMQ;
 * - firing lateness p50/p99/max of timers due over a spread, fired into a webhook receiver (a
 *   child process recording arrival − due time): by the scheduler on the real clock vs a BullMQ
 *   worker, both POSTing with the same keep-alive client, warmed up before the window.
 *
 * Settings (environment): BENCH_TIMERS_PENDING (Nudge pending timers at scale, default 1,000,000),
 * BENCH_TIMERS_BULLMQ_PENDING (pending timers of the side-by-side rates, default 100,000: at ~15k
 * adds/s and ~450 B each, a million BullMQ jobs would take over a minute and half a GB of the
 * shared Redis), BENCH_TIMERS_FIRE (timers in the lateness run, default 100,000),
 * BENCH_TIMERS_SPREAD_MS (default 20,000).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { SqliteTimerStore } from '../src/backends/sqlite/sqlite-timer-store.js';
import { post } from '../src/channels/http-post.js';
import { TimerScheduler } from '../src/engine/timer-scheduler.js';
import { systemClock } from '../src/ports/clock.js';
import type { Timer } from '../src/ports/timer-store.js';
import { runIdOf, stepKeyOf, timerIdOf } from '../src/core/triggers/transition.js';
import { RealTimeWakeup } from '../src/ports/wakeup.js';
import { envInt, formatTable, num, type Benchmark, type BenchmarkReport, type SummaryRow } from './support/benchmark.js';
import { LatenessReceiver } from './support/lateness-receiver.js';
import { deleteKeysUnder } from './support/redis-keys.js';
import { awaitArrivals } from './support/window.js';

const batch = 1000;
const connection = { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null };
const payload = '{"run":17,"step":3,"input":"wait_elapsed"}';

/** The i-th timer's user: a permutation of the integers, so users come in random order. */
const userOf = (i: number): number => Math.imul(i + 1, 2654435761) >>> 0;
const workspace = { workspaceId: 'shop' };
/** The i-th timer's run started when it was scheduled (about i/100 ms into the run). */
const startOf = (start: number, i: number): number => start + Math.floor(i / 100);
/** The id the engine gives the i-th timer: its run's first wait (`timerIdOf`, `stepKeyOf`, `runIdOf`). */
const idOf = (start: number, i: number): string => timerIdOf(startOf(start, i), stepKeyOf(workspace, `u${userOf(i)}`, runIdOf('abandoned-cart', `m${i}`), 'wait-1'));
/** The same id for BullMQ, whose custom job ids may not contain ':' (the same length). */
const jobIdOf = (start: number, i: number): string => idOf(start, i).replaceAll(':', '.');
const timerAt = (start: number, i: number, dueAt: number): Timer => ({ id: idOf(start, i), partitionKey: `shop/u${userOf(i)}`, dueAt, payload });
const stepDelaysMs = [180_000, 600_000, 86_400_000];
/** When the i-th timer of a rate run is due: its step's delay after it was scheduled. */
const dueOf = (start: number, i: number): number => startOf(start, i) + stepDelaysMs[i % 3]!;
/** The i-th cancel of `pending` timers: distinct random pending timers (7919 is prime, so i·7919 mod n is a permutation). */
const cancelledOf = (i: number, pending: number): number => (i * 7919) % pending;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function latenessSummary(values: number[]): { p50: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? Number.NaN };
}

async function rss(): Promise<number> {
  globalThis.gc?.();
  await new Promise((r) => setTimeout(r, 50));
  return process.memoryUsage().rss;
}

/**
 * Seconds spent in `call` over batches of `total` items: each batch is built by `make` first,
 * outside the clock, so that making the engine's ids (a hash each) is not charged to either side.
 */
async function timedBatches<T>(total: number, make: (i: number) => T, call: (items: T[]) => Promise<unknown>): Promise<number> {
  let ms = 0;
  for (let i = 0; i < total; i += batch) {
    const items = Array.from({ length: Math.min(batch, total - i) }, (_, k) => make(i + k));
    const started = performance.now();
    await call(items);
    ms += performance.now() - started;
  }
  return ms / 1000;
}

async function nudgeRates(dir: string, pending: number) {
  const file = path.join(dir, `rates-${pending}.db`);
  const store = new SqliteTimerStore({ path: file });
  const before = await rss();
  const start = Date.now();
  const scheduleS = await timedBatches(pending, (i) => timerAt(start, i, dueOf(start, i)), (timers) => store.schedule(timers));
  const rssPerTimer = Math.max(0, (await rss()) - before) / pending;
  const diskPerTimer = (statSync(file).size + (statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0)) / pending;
  const cancelled = Math.min(pending, 100_000);
  let found = 0;
  const cancelS = await timedBatches(cancelled, (i) => idOf(start, cancelledOf(i, pending)), async (ids) => (found += await store.cancel(ids)));
  await store.close();
  if (found !== cancelled) throw new Error(`Nudge cancelled ${found} of ${cancelled} timers`);
  return { schedulePerS: pending / scheduleS, cancelPerS: cancelled / cancelS, rssPerTimer, diskPerTimer };
}

/** Where a fired timer goes: a POST of `{"at": due time}` to the receiver, as a webhook would be sent. */
class Webhook {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  constructor(private readonly url: URL) {}

  async fire(key: string, dueAt: number): Promise<void> {
    const result = await post(this.url, { agent: this.agent, headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: `{"at":${dueAt}}`, timeoutMs: 10_000 });
    if ('error' in result) throw result.error;
    if (result.answer.status !== 200) throw new Error(`POST ${this.url.href}: HTTP ${result.answer.status}`);
  }

  /**
   * Opens the agent's connections and warms up the request path before the window, on a path of
   * its own (not counted): both sides start as a running service would, not with a cold client.
   */
  async warmUp(): Promise<void> {
    const url = new URL(`${this.url.href}-warm-up`);
    const send = (i: number) => post(url, { agent: this.agent, headers: { 'content-type': 'application/json', 'idempotency-key': `w${i}` }, body: '{"at":0}', timeoutMs: 10_000 });
    for (let round = 0; round < 20; round++) await Promise.all(Array.from({ length: 64 }, (_, k) => send(round * 64 + k)));
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Waits until the receiver has `count` distinct keys on `pathName` (or stops getting them), then returns their lateness. */
async function arrivals(receiver: LatenessReceiver, pathName: string, count: number, lastDue: number): Promise<{ lateness: number[]; distinct: number }> {
  await awaitArrivals(async () => (await receiver.status(pathName)).distinct, { expected: count, lastDue, stallMs: 10_000, drainCapMs: 120_000, pollMs: 200 });
  const report = await receiver.report(pathName);
  return { lateness: Array.from(report.lateness), distinct: report.distinct };
}

async function nudgeLateness(dir: string, count: number, spreadMs: number, receiver: LatenessReceiver) {
  const store = new SqliteTimerStore({ path: path.join(dir, 'fire.db') });
  const start = Date.now() + 3000;
  for (let i = 0; i < count; i += batch)
    await store.schedule(Array.from({ length: Math.min(batch, count - i) }, (_, k) => timerAt(start, i + k, start + Math.floor(((i + k) * spreadMs) / count))));
  const webhook = new Webhook(new URL(`${receiver.url}/nudge`));
  await webhook.warmUp();
  const scheduler = new TimerScheduler({
    store,
    clock: systemClock,
    wakeup: new RealTimeWakeup(systemClock),
    onFire: ({ timer }) => webhook.fire(`${timer.id}@${timer.version}`, timer.dueAt),
    onError: (error) => console.error('scheduler:', error),
  });
  await scheduler.start();
  try {
    return await arrivals(receiver, '/nudge', count, start + spreadMs);
  } finally {
    await scheduler.stop();
    await store.close();
    webhook.close();
  }
}

async function bullmqRun(prefix: string, pending: number, count: number, spreadMs: number, receiver: LatenessReceiver) {
  const redis = new Redis(connection);
  try {
    return await bullmqMeasure(prefix, pending, count, spreadMs, redis, receiver);
  } finally {
    // Everything under our prefix goes, also after a failure; nothing else is touched.
    await deleteKeysUnder(redis, prefix);
    await redis.quit();
  }
}

async function bullmqMeasure(prefix: string, pending: number, count: number, spreadMs: number, redis: Redis, receiver: LatenessReceiver) {
  const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]);
  const queue = new Queue('timers', { connection, prefix });
  await queue.waitUntilReady();
  const before = await usedMemory();
  const ratesStart = Date.now();
  const scheduleS = await timedBatches(
    pending,
    (i) => ({ name: 'fire', data: JSON.parse(payload), opts: { jobId: jobIdOf(ratesStart, i), delay: dueOf(ratesStart, i) - Date.now() } }),
    (jobs) => queue.addBulk(jobs),
  );
  const bytesPerJob = ((await usedMemory()) - before) / pending;
  const cancelled = Math.min(pending, 100_000);
  let removed = 0;
  const cancelS = await timedBatches(cancelled, (i) => jobIdOf(ratesStart, cancelledOf(i, pending)), async (ids) => {
    for (const n of await Promise.all(ids.map((id) => queue.remove(id)))) removed += n;
  });
  if (removed !== cancelled) throw new Error(`BullMQ removed ${removed} of ${cancelled} jobs`);
  await queue.obliterate({ force: true });

  const fireQueue = new Queue('fire', { connection, prefix });
  const start = Date.now() + 3000 + Math.ceil(count / 20); // adding takes longer here than in SQLite
  for (let i = 0; i < count; i += batch)
    await fireQueue.addBulk(Array.from({ length: Math.min(batch, count - i) }, (_, k) => {
      const dueAt = start + Math.floor(((i + k) * spreadMs) / count);
      return { name: 'fire', data: { dueAt }, opts: { delay: dueAt - Date.now(), removeOnComplete: true } };
    }));
  const webhook = new Webhook(new URL(`${receiver.url}/bullmq`));
  await webhook.warmUp();
  const worker = new Worker('fire', (job) => webhook.fire(job.id!, (job.data as { dueAt: number }).dueAt), { connection, prefix, concurrency: 50 });
  try {
    const fired = await arrivals(receiver, '/bullmq', count, start + spreadMs);
    return { schedulePerS: pending / scheduleS, cancelPerS: cancelled / cancelS, bytesPerJob, ...fired };
  } finally {
    await worker.close();
    webhook.close();
    await fireQueue.obliterate({ force: true });
    await Promise.all([queue.close(), fireQueue.close()]);
  }
}

export const timersBenchmark: Benchmark = {
  name: 'timers',
  title: 'durable timers: SQLite timer store + scheduler vs BullMQ 6.7 delayed jobs on Redis',
  async run(): Promise<BenchmarkReport> {
    const pending = envInt('BENCH_TIMERS_PENDING', 1_000_000);
    const bullPending = envInt('BENCH_TIMERS_BULLMQ_PENDING', 100_000);
    const count = envInt('BENCH_TIMERS_FIRE', 100_000);
    const spreadMs = envInt('BENCH_TIMERS_SPREAD_MS', 20_000);
    const prefix = `nudge-bench-timers-${process.pid}-${Date.now()}`;
    const dir = mkdtempSync(path.join(tmpdir(), 'nudge-bench-timers-'));
    const failures: string[] = [];
    const receiver = await LatenessReceiver.start();
    try {
      console.log(`rates side by side at ${num(bullPending)} pending timers; Nudge also at ${num(pending)}; lateness: ${num(count)} timers over ${num(spreadMs / 1000, 1)} s each`);
      // At scale first: the process's RSS growth over it is the page cache and whatever else the
      // pending timers cost, which a run before it would already have paid.
      const atScale = await nudgeRates(dir, pending);
      const nudge = pending === bullPending ? atScale : await nudgeRates(dir, bullPending);
      const nudgeFired = await nudgeLateness(dir, count, spreadMs, receiver);
      const bull = await bullmqRun(prefix, bullPending, count, spreadMs, receiver);
      for (const [who, fired] of [['Nudge', nudgeFired], ['BullMQ', bull]] as const) {
        if (fired.distinct !== count) failures.push(`${who}: ${fired.distinct} of ${count} timers arrived`);
        if (fired.lateness.length !== fired.distinct) failures.push(`${who}: ${fired.lateness.length - fired.distinct} timers arrived twice`);
      }
      const nudgeLate = latenessSummary(nudgeFired.lateness);
      const bullLate = latenessSummary(bull.lateness);
      console.log(formatTable(
        ['', 'schedule/s', 'cancel/s', 'RAM B/timer', 'disk B/timer', 'lateness p50', 'p99', 'max'],
        [
          [`Nudge (SQLite), ${num(bullPending)}`, num(nudge.schedulePerS), num(nudge.cancelPerS), num(nudge.rssPerTimer, 1), num(nudge.diskPerTimer), `${nudgeLate.p50} ms`, `${nudgeLate.p99} ms`, `${nudgeLate.max} ms`],
          [`BullMQ (Redis), ${num(bullPending)}`, num(bull.schedulePerS), num(bull.cancelPerS), num(bull.bytesPerJob), '', `${bullLate.p50} ms`, `${bullLate.p99} ms`, `${bullLate.max} ms`],
          ...(atScale === nudge ? [] : [[`Nudge (SQLite), ${num(pending)}`, num(atScale.schedulePerS), num(atScale.cancelPerS), num(atScale.rssPerTimer, 1), num(atScale.diskPerTimer), '', '', '']]),
        ],
      ));
      const ratio = (a: number, b: number) => `${num(a / b, 1)}×`;
      const rows: SummaryRow[] = [
        { what: 'timers scheduled/s', nudge: num(nudge.schedulePerS), floor: `BullMQ ${num(bull.schedulePerS)}`, ratio: ratio(nudge.schedulePerS, bull.schedulePerS), target: '≥ 10× BullMQ', met: nudge.schedulePerS >= 10 * bull.schedulePerS },
        { what: 'timers cancelled/s', nudge: num(nudge.cancelPerS), floor: `BullMQ ${num(bull.cancelPerS)}`, ratio: ratio(nudge.cancelPerS, bull.cancelPerS), target: '≥ 10× BullMQ', met: nudge.cancelPerS >= 10 * bull.cancelPerS },
        { what: `timers scheduled/s at ${num(pending)}`, nudge: num(atScale.schedulePerS), floor: '', ratio: '', target: "", met: null },
        { what: `timers cancelled/s at ${num(pending)}`, nudge: num(atScale.cancelPerS), floor: '', ratio: '', target: "", met: null },
        { what: 'RAM per pending timer', nudge: `${num(atScale.rssPerTimer, 1)} B`, floor: `BullMQ ${num(bull.bytesPerJob)} B`, ratio: '', target: '≤ 100 B', met: atScale.rssPerTimer <= 100 },
        { what: 'lateness p99', nudge: `${nudgeLate.p99} ms`, floor: `BullMQ ${bullLate.p99} ms`, ratio: '', target: '≤ 10 ms', met: nudgeLate.p99 <= 10 },
        { what: 'lateness max', nudge: `${nudgeLate.max} ms`, floor: `BullMQ ${bullLate.max} ms`, ratio: '', target: '≤ 50 ms', met: nudgeLate.max <= 50 },
      ];
      return { rows, failures };
    } finally {
      await receiver.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
