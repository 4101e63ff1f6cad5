/**
 * Ingestion throughput: Segment `/v1/batch` requests of 100 realistic events each, against the real
 * `nudge serve` (SQLite, synchronous: full) and against the floor, a bare Fastify server that only
 * parses the same bodies. Each server runs in its own process and the load generator in another,
 * so on a 2-core machine the server under test has one core to itself.
 *
 * "Committed" events/s counts 200 responses × events per request: Nudge answers 200 only after the
 * events are durably committed. The event count in the store is checked against it afterwards.
 *
 * Settings (environment): BENCH_CONNECTIONS (default 32), BENCH_DURATION_S (10), BENCH_WARMUP_S (2),
 * BENCH_USERS (100000), BENCH_BATCH_EVENTS (100); BENCH_CPU_PROF=1 also records a CPU profile of
 * the Nudge process and prints where its time goes (profiling slows it down; read its figures as
 * shares, not as throughput); BENCH_KEEP=1 keeps the temporary directory (database, logs, profile).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { envInt, formatTable, num, type Benchmark, type BenchmarkReport, type SummaryRow } from './support/benchmark.js';
import { formatProfileSummary, summariseCpuProfile } from './support/cpu-profile.js';
import { LoadGenerator, type LoadSpec, type PhaseResult } from './support/load.js';
import { benchWorkspace, databaseBreakdown, databaseBytes, repoRoot, scrapeMetrics, startNudge, workspaceCounts, type NudgeProcess } from './support/nudge-server.js';
import { cpuTimeMsOf, machineBusyMs, memoryOf, startServer, stopChild, type ServerProcess } from './support/processes.js';

const targetEventsPerSecond = 100_000;
/** Above this much CPU used by other processes a measurement is flagged as disturbed. */
const busyMachineCores = 0.2;

interface Settings {
  connections: number;
  durationS: number;
  warmupS: number;
  users: number;
  eventsPerBatch: number;
  cpuProfile: boolean;
}

/** What one system under test did during the measured phase. */
interface Measured {
  load: PhaseResult;
  eventsPerSecond: number;
  /** The same during the warm-up, on an empty database. */
  warmUpEventsPerSecond: number;
  /** Events the server reports it stored or parsed during the phase. */
  serverEvents: number;
  /** CPU the server process used, in cores (1 = one core busy the whole phase). */
  serverCores: number;
  /** CPU used by everything else on the machine (not the server, not the load generator), in cores. */
  otherCores: number;
  rssBytes: number;
  peakRssBytes: number;
  failures: string[];
}

interface NudgeMeasured extends Measured {
  from: 'dist' | 'src';
  totalEvents: number;
  profiles: number;
  duplicates: number;
  refused: number;
  commits: number;
  /** Share of the measured time a group was being deduplicated, folded and appended. */
  groupBusyShare: number;
  meanGroupEvents: number;
  /** Mean time of a group (dedup, fold, append) and of its append alone; NaN where no metric tells. */
  meanGroupMs: number;
  meanAppendMs: number;
  meanHandlerMs: number;
  dbBytesLive: { db: number; wal: number };
  dbBytesClosed: number;
  /** After close: the event log's bytes (events, timeline, their indexes) and the profile side's. */
  dbBreakdown: { eventBytes: number; profileBytes: number; otherBytes: number } | null;
  profileReport: string | null;
}

export const ingestBenchmark: Benchmark = {
  name: 'ingest',
  title: 'Ingestion: Segment /v1/batch, committed events/s',
  run: runIngestBenchmark,
};

async function runIngestBenchmark(): Promise<BenchmarkReport> {
  const settings: Settings = {
    connections: envInt('BENCH_CONNECTIONS', 32),
    durationS: envInt('BENCH_DURATION_S', 10),
    warmupS: envInt('BENCH_WARMUP_S', 2),
    users: envInt('BENCH_USERS', 100_000),
    eventsPerBatch: envInt('BENCH_BATCH_EVENTS', 100),
    cpuProfile: process.env['BENCH_CPU_PROF'] === '1',
  };
  console.log(
    `  ${settings.connections} connections, ${settings.eventsPerBatch} events per request, ${num(settings.users)} users, ` +
      `${settings.warmupS} s warm-up + ${settings.durationS} s measured, per system${settings.cpuProfile ? ', Nudge CPU-profiled' : ''}`,
  );
  const workDir = mkdtempSync(path.join(tmpdir(), 'nudge-bench-ingest-'));
  try {
    const nudge = await measureNudge(settings, path.join(workDir, 'nudge'));
    const floor = await measureFloor(settings, path.join(workDir, 'floor'));
    return report(settings, nudge, floor);
  } finally {
    if (process.env['BENCH_KEEP'] === '1') console.log(`  kept ${workDir}`);
    else rmSync(workDir, { recursive: true, force: true });
  }
}

function loadSpec(settings: Settings, url: string, runTag: string): LoadSpec {
  return {
    url,
    path: '/v1/batch',
    headers: { authorization: `Basic ${Buffer.from(`${benchWorkspace.writeKey}:`).toString('base64')}`, 'content-type': 'application/json' },
    connections: settings.connections,
    eventsPerBatch: settings.eventsPerBatch,
    users: settings.users,
    runTag,
  };
}

async function measureNudge(settings: Settings, workDir: string): Promise<NudgeMeasured> {
  mkdirSync(workDir, { recursive: true });
  const profileDir = path.join(workDir, 'profile');
  let server: NudgeProcess | null = null;
  let load: LoadGenerator | null = null;
  try {
    server = await startNudge({ workDir, nodeArgs: settings.cpuProfile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [] });
    console.log(`  Nudge (${server.from === 'dist' ? 'dist/cli/main.js' : 'src via tsx'}) pid ${server.pid} at ${server.url}, data ${server.dataDir}`);
    load = await LoadGenerator.start(loadSpec(settings, server.url, `n${Date.now().toString(36)}`));
    console.log(`  load generator: pool of ${load.poolBodies} bodies, ${num(load.meanBodyBytes)} bytes each on average`);

    const warm = await load.run(settings.warmupS);
    await sleep(500); // let the warm-up's last commits land
    const before = await workspaceCounts(server.url);
    const metricsBefore = await scrapeMetrics(server.url);
    const cpuBefore = cpuTimeMsOf(server.pid);
    const machineBefore = machineBusyMs();
    const measured = await load.run(settings.durationS);
    const serverCpuMs = cpuTimeMsOf(server.pid) - cpuBefore;
    const machineMs = machineBusyMs() - machineBefore;
    await sleep(500);
    const after = await workspaceCounts(server.url);
    const metrics = await scrapeMetrics(server.url);
    const memory = memoryOf(server.pid);
    const dbBytesLive = databaseBytes(server.dbFile);
    await load.close();
    load = null;

    const delta = (name: string) => metrics(name) - metricsBefore(name);
    const failures = checkLoad('Nudge', settings, measured, after.events - before.events);
    failures.push(...checkLoad('Nudge warm-up', settings, warm, null));
    const acked = (warm.status2xx + measured.status2xx) * settings.eventsPerBatch;
    const inFlight = 2 * settings.connections * settings.eventsPerBatch;
    if (after.events < acked || after.events > acked + inFlight) {
      failures.push(`Nudge stores ${num(after.events)} events but acknowledged ${num(acked)} (up to ${num(inFlight)} more may have been in flight)`);
    }
    const accepted = metrics('nudge_ingest_events_accepted_total');
    if (accepted !== after.events) failures.push(`Nudge metrics count ${num(accepted)} accepted events, the store ${num(after.events)}`);
    const duplicates = metrics('nudge_ingest_events_duplicate_total');
    const refused = metrics('nudge_ingest_events_refused_total');
    if (duplicates > 0) failures.push(`Nudge dropped ${num(duplicates)} events as duplicates: messageIds must be unique`);
    if (refused > 0) failures.push(`Nudge refused ${num(refused)} events as invalid`);

    // Stop gracefully: it commits what was accepted and closes the database (checkpointing the WAL).
    await stopChild(server.child, 60_000);
    const dbBytesClosed = databaseBytes(server.dbFile);
    const dbBreakdown = databaseBreakdown(server.dbFile);
    let profileReport: string | null = null;
    if (settings.cpuProfile) {
      const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
      profileReport = file ? formatProfileSummary(summariseCpuProfile(path.join(profileDir, file), repoRoot)) : 'no CPU profile was written';
    }

    const groupMetric = 'nudge_ingest_group_duration_seconds';
    const commits = delta(`${groupMetric}_count`);
    const appendCount = delta('nudge_store_commit_duration_seconds_count');
    const handled = delta('nudge_ingest_request_duration_seconds_count');
    return {
      from: server.from,
      ...figures(settings, { measured, warm, serverEvents: after.events - before.events, serverCpuMs, machineMs, memory, failures }),
      totalEvents: after.events,
      profiles: after.profiles,
      duplicates,
      refused,
      commits,
      groupBusyShare: delta(`${groupMetric}_sum`) / measured.durationS,
      meanGroupEvents: commits > 0 ? delta('nudge_store_commit_events_sum') / commits : Number.NaN,
      meanGroupMs: commits > 0 ? (delta(`${groupMetric}_sum`) * 1000) / commits : Number.NaN,
      meanAppendMs: appendCount > 0 ? (delta('nudge_store_commit_duration_seconds_sum') * 1000) / appendCount : Number.NaN,
      meanHandlerMs: handled > 0 ? (delta('nudge_ingest_request_duration_seconds_sum') * 1000) / handled : Number.NaN,
      dbBytesLive,
      dbBytesClosed: dbBytesClosed.db + dbBytesClosed.wal,
      dbBreakdown,
      profileReport,
    };
  } finally {
    await load?.close();
    if (server) await stopChild(server.child);
  }
}

interface Observed {
  measured: PhaseResult;
  warm: PhaseResult;
  serverEvents: number;
  serverCpuMs: number;
  machineMs: number;
  memory: { rssBytes: number; peakRssBytes: number };
  failures: string[];
}

/** The figures every measured server reports, from what was observed around its run. */
function figures(settings: Settings, o: Observed): Measured {
  const seconds = o.measured.durationS;
  return {
    load: o.measured,
    eventsPerSecond: (o.measured.status2xx * settings.eventsPerBatch) / seconds,
    warmUpEventsPerSecond: (o.warm.status2xx * settings.eventsPerBatch) / o.warm.durationS,
    serverEvents: o.serverEvents,
    serverCores: o.serverCpuMs / (seconds * 1000),
    otherCores: Math.max(0, o.machineMs - o.serverCpuMs - o.measured.loadCpuMs) / (seconds * 1000),
    rssBytes: o.memory.rssBytes,
    peakRssBytes: o.memory.peakRssBytes,
    failures: o.failures,
  };
}

async function measureFloor(settings: Settings, workDir: string): Promise<Measured> {
  mkdirSync(workDir, { recursive: true });
  let server: ServerProcess | null = null;
  let load: LoadGenerator | null = null;
  const stats = async (url: string) => (await (await fetch(`${url}/stats`)).json()) as { requests: number; events: number };
  try {
    server = await startServer(['--import', 'tsx', 'bench/support/floor-server.ts', '--port', '0'], { cwd: repoRoot, logFile: path.join(workDir, 'floor.log') });
    console.log(`  floor (bare Fastify ${fastifyVersion()}) pid ${server.pid} at ${server.url}`);
    load = await LoadGenerator.start(loadSpec(settings, server.url, `f${Date.now().toString(36)}`));
    const warm = await load.run(settings.warmupS);
    await sleep(200);
    const before = await stats(server.url);
    const cpuBefore = cpuTimeMsOf(server.pid);
    const machineBefore = machineBusyMs();
    const measured = await load.run(settings.durationS);
    const serverCpuMs = cpuTimeMsOf(server.pid) - cpuBefore;
    const machineMs = machineBusyMs() - machineBefore;
    await sleep(200);
    const after = await stats(server.url);
    const memory = memoryOf(server.pid);
    const failures = [...checkLoad('floor', settings, measured, after.events - before.events), ...checkLoad('floor warm-up', settings, warm, null)];
    return figures(settings, { measured, warm, serverEvents: after.events - before.events, serverCpuMs, machineMs, memory, failures });
  } finally {
    await load?.close();
    if (server) await stopChild(server.child);
  }
}

/**
 * Every response must be a 200, and the server must have taken in what was acknowledged: at least
 * 2xx × events, at most that plus the requests still in flight when the load generator stopped.
 */
function checkLoad(who: string, settings: Settings, r: PhaseResult, serverEvents: number | null): string[] {
  const failures: string[] = [];
  if (r.status4xx + r.status5xx + r.non2xx > 0) failures.push(`${who}: ${r.status4xx} 4xx, ${r.status5xx} 5xx, ${r.non2xx} non-2xx responses`);
  if (r.errors + r.timeouts > 0) failures.push(`${who}: ${r.errors} connection errors, ${r.timeouts} timeouts`);
  if (r.status2xx === 0) failures.push(`${who}: no successful request`);
  if (serverEvents !== null) {
    const acked = r.status2xx * settings.eventsPerBatch;
    const inFlight = settings.connections * settings.eventsPerBatch;
    if (serverEvents < acked || serverEvents > acked + inFlight) {
      failures.push(`${who}: the server took in ${num(serverEvents)} events during the phase, 200 responses account for ${num(acked)} (+ up to ${num(inFlight)} in flight)`);
    }
  }
  return failures;
}

function report(settings: Settings, nudge: NudgeMeasured, floor: Measured): BenchmarkReport {
  const mib = (b: number) => `${num(b / 1024 / 1024, 1)} MiB`;
  const ratio = (a: number, b: number) => (b > 0 ? `${num(a / b, 2)}×` : '');
  const ms = (n: number) => `${num(n, 1)} ms`;
  const errors = (r: PhaseResult) => `${r.status4xx} / ${r.status5xx} / ${r.errors + r.timeouts}`;
  const dbPerEvent = nudge.totalEvents > 0 ? nudge.dbBytesClosed / nudge.totalEvents : Number.NaN;
  const livePerEvent = nudge.totalEvents > 0 ? (nudge.dbBytesLive.db + nudge.dbBytesLive.wal) / nudge.totalEvents : Number.NaN;

  const rows: SummaryRow[] = [
    { what: 'committed events/s', nudge: num(nudge.eventsPerSecond), floor: num(floor.eventsPerSecond), ratio: ratio(nudge.eventsPerSecond, floor.eventsPerSecond), target: `≥ ${num(targetEventsPerSecond)}`, met: nudge.eventsPerSecond >= targetEventsPerSecond },
    { what: 'request latency p50', nudge: ms(nudge.load.latencyP50Ms), floor: ms(floor.load.latencyP50Ms), ratio: ratio(nudge.load.latencyP50Ms, floor.load.latencyP50Ms), target: '', met: null },
    { what: 'request latency p99', nudge: ms(nudge.load.latencyP99Ms), floor: ms(floor.load.latencyP99Ms), ratio: ratio(nudge.load.latencyP99Ms, floor.load.latencyP99Ms), target: '', met: null },
    { what: '4xx / 5xx / conn. errors', nudge: errors(nudge.load), floor: errors(floor.load), ratio: '', target: '0 / 0 / 0', met: nudge.load.status4xx + nudge.load.status5xx + nudge.load.errors + nudge.load.timeouts === 0 },
    { what: 'server CPU (cores)', nudge: num(nudge.serverCores, 2), floor: num(floor.serverCores, 2), ratio: '', target: '', met: null },
    { what: 'server RSS at end', nudge: mib(nudge.rssBytes), floor: mib(floor.rssBytes), ratio: '', target: '', met: null },
    { what: 'SQLite file bytes/event', nudge: `${num(dbPerEvent)} B`, floor: '', ratio: '', target: '', met: null },
  ];

  console.log(`
  Nudge: warm-up on the empty database ${num(nudge.warmUpEventsPerSecond)} events/s; measured ${num(nudge.load.status2xx)} × 200 in ${num(nudge.load.durationS, 2)} s; the store gained ${num(nudge.serverEvents)} events (200s account for ${num(nudge.load.status2xx * settings.eventsPerBatch)})
         ${num(nudge.totalEvents)} events and ${num(nudge.profiles)} profiles stored in all; ${num(nudge.duplicates)} duplicates, ${num(nudge.refused)} refused
         group commits: ${num(nudge.commits / nudge.load.durationS, 1)}/s, ${num(nudge.meanGroupEvents)} events and ${num(nudge.meanGroupMs, 1)} ms each (dedup, fold, append${Number.isNaN(nudge.meanAppendMs) ? '' : ` of which the append ${num(nudge.meanAppendMs, 1)} ms`}; profile checkpoints not included), in progress ${num(nudge.groupBusyShare * 100)}% of the time
         handler (parsed body -> committed): mean ${num(nudge.meanHandlerMs, 1)} ms; request latency mean ${num(nudge.load.latencyMeanMs, 1)} ms, max ${num(nudge.load.latencyMaxMs)} ms
         RSS ${mib(nudge.rssBytes)} (peak ${mib(nudge.peakRssBytes)}); database live ${mib(nudge.dbBytesLive.db)} + WAL ${mib(nudge.dbBytesLive.wal)} (${num(livePerEvent)} B/event), after close ${mib(nudge.dbBytesClosed)} (${num(dbPerEvent)} B/event)
${breakdown(nudge)}
  floor: warm-up ${num(floor.warmUpEventsPerSecond)} events/s; measured ${num(floor.load.status2xx)} × 200 in ${num(floor.load.durationS, 2)} s; parsed ${num(floor.serverEvents)} events
  load generator CPU: ${num(nudge.load.loadCpuMs / 1000 / nudge.load.durationS, 2)} cores against Nudge, ${num(floor.load.loadCpuMs / 1000 / floor.load.durationS, 2)} against the floor
  other processes on the machine: ${num(nudge.otherCores, 2)} cores during Nudge's run, ${num(floor.otherCores, 2)} during the floor's
`);
  if (Math.max(nudge.otherCores, floor.otherCores) > busyMachineCores) {
    console.log(`  WARNING: other processes used more than ${busyMachineCores} cores during a measurement; the figures understate both systems.\n`);
  }
  console.log(formatTable(['', 'Nudge', 'floor', 'Nudge/floor', 'target'], rows.map((r) => [r.what, r.nudge, r.floor, r.ratio, r.met === null ? r.target : `${r.target} ${r.met ? 'met' : 'NOT met'}`])));
  if (nudge.profileReport) console.log(`\n${nudge.profileReport}`);
  return { rows, failures: [...nudge.failures, ...floor.failures] };
}

function breakdown(n: NudgeMeasured): string {
  const b = n.dbBreakdown;
  if (!b) return '         (this SQLite build has no dbstat: no per-table sizes)';
  return (
    `         of which the event log (events, timeline, indexes) ${num(b.eventBytes / n.totalEvents)} B/event, ` +
    `profiles and identities ${num(b.profileBytes / Math.max(1, n.profiles))} B/profile (${num(n.profiles)} profiles), other ${num(b.otherBytes / 1024)} KiB`
  );
}

function fastifyVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'node_modules/fastify/package.json'), 'utf8')) as { version: string };
  return pkg.version;
}
