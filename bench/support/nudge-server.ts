/**
 * Runs the real `nudge serve` in a child process on a fresh data directory, and reads its
 * management API and Prometheus metrics.
 */
import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, type ServerProcess } from './processes.js';

export const repoRoot = path.resolve(import.meta.dirname, '../..');

export const benchWorkspace = { id: 'bench', writeKey: 'bench-write-key', adminKey: 'bench-admin-key' };

export interface NudgeProcess extends ServerProcess {
  /** How it was started: the built dist/ or the TypeScript sources through tsx. */
  from: 'dist' | 'src';
  dataDir: string;
  dbFile: string;
}

export interface NudgeLaunch {
  workDir: string;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[];
}

/** Writes nudge.yaml (SQLite, synchronous: full, one workspace; BENCH_WRITER_THREAD=1 for the writer thread) and starts the server on a free port. */
export async function startNudge(launch: NudgeLaunch): Promise<NudgeProcess> {
  const configFile = path.join(launch.workDir, 'nudge.yaml');
  const dataDir = path.join(launch.workDir, 'data');
  writeFileSync(
    configFile,
    `workspaces:
  - id: ${benchWorkspace.id}
    name: Benchmark
    writeKeys: [${benchWorkspace.writeKey}]
admin:
  keys: [${benchWorkspace.adminKey}]
storage:
  driver: sqlite
  file: nudge.db
  synchronous: full
  writerThread: ${process.env['BENCH_WRITER_THREAD'] === '1'}
`,
  );
  const from = chooseBuild();
  const entry = from === 'dist' ? ['dist/cli/main.js'] : ['--import', 'tsx', 'src/cli/main.ts'];
  // Port 0: the kernel picks a free port and the server prints it.
  const args = [...(launch.nodeArgs ?? []), ...entry, 'serve', '--config', configFile, '--port', '0', '--host', '127.0.0.1', '--data', dataDir];
  const server = await startServer(args, { cwd: repoRoot, logFile: path.join(launch.workDir, 'nudge.log') });
  return { ...server, from, dataDir, dbFile: path.join(dataDir, 'nudge.db') };
}

/**
 * dist/ when it is at least as new as every source file, after building it if it is stale;
 * the sources through tsx if the build fails. BENCH_NUDGE=dist|src forces one.
 */
function chooseBuild(): 'dist' | 'src' {
  const forced = process.env['BENCH_NUDGE'];
  if (forced === 'src') return 'src';
  if (forced !== 'dist' && distIsStale()) {
    console.log('  dist/ is older than src/: npm run build');
    const build = spawnSync('npm', ['run', 'build'], { cwd: repoRoot, encoding: 'utf8' });
    if (build.status !== 0) {
      console.log(`  build failed, running the sources through tsx instead:\n${(build.stdout + build.stderr).trim().split('\n').slice(-5).join('\n')}`);
      return 'src';
    }
  }
  return 'dist';
}

function distIsStale(): boolean {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(path.join(dir, d.name)) : [path.join(dir, d.name)]));
  return walk(path.join(repoRoot, 'src'))
    .filter((f) => f.endsWith('.ts'))
    .some((f) => {
      const built = path.join(repoRoot, 'dist', path.relative(path.join(repoRoot, 'src'), f)).replace(/\.ts$/, '.js');
      return !existsSync(built) || statSync(built).mtimeMs < statSync(f).mtimeMs;
    });
}

export async function workspaceCounts(url: string): Promise<{ events: number; profiles: number }> {
  const res = await fetch(`${url}/api/v1/workspaces`, { headers: { authorization: `Bearer ${benchWorkspace.adminKey}` } });
  if (res.status !== 200) throw new Error(`GET /api/v1/workspaces: ${res.status} ${await res.text()}`);
  const list = (await res.json()) as { id: string; events: number; profiles: number }[];
  const w = list.find((x) => x.id === benchWorkspace.id);
  if (!w) throw new Error(`GET /api/v1/workspaces: no workspace "${benchWorkspace.id}"`);
  return { events: w.events, profiles: w.profiles };
}

/** Prometheus text exposition, read into `sum(name)`: the sum over all label sets. */
export async function scrapeMetrics(url: string): Promise<(name: string) => number> {
  const res = await fetch(`${url}/metrics`);
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status}`);
  const totals = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (match) totals.set(match[1]!, (totals.get(match[1]!) ?? 0) + Number(match[2]));
  }
  return (name) => totals.get(name) ?? 0;
}

/** Bytes of the database file and of its write-ahead log. */
export function databaseBytes(dbFile: string): { db: number; wal: number } {
  const size = (f: string) => (existsSync(f) ? statSync(f).size : 0);
  return { db: size(dbFile), wal: size(`${dbFile}-wal`) };
}

/**
 * Bytes per table and index (SQLite's dbstat), grouped into the event log (events, its indexes
 * and the timeline) and the profile side (profiles, identities and their indexes). Null when the
 * SQLite build has no dbstat.
 */
export function databaseBreakdown(dbFile: string): { eventBytes: number; profileBytes: number; otherBytes: number } | null {
  const db = new Database(dbFile, { readonly: true });
  try {
    const rows = db.prepare('SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name').all() as { name: string; bytes: number }[];
    const owner = new Map(
      (db.prepare("SELECT name, tbl_name AS tableName FROM sqlite_schema WHERE type IN ('table', 'index')").all() as { name: string; tableName: string }[]).map((r) => [r.name, r.tableName]),
    );
    const result = { eventBytes: 0, profileBytes: 0, otherBytes: 0 };
    for (const r of rows) {
      const table = owner.get(r.name) ?? r.name;
      if (table === 'events' || table === 'timeline') result.eventBytes += r.bytes;
      else if (table === 'profiles' || table === 'identities') result.profileBytes += r.bytes;
      else result.otherBytes += r.bytes;
    }
    return result;
  } catch {
    return null;
  } finally {
    db.close();
  }
}
