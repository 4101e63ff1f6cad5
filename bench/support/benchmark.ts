/**
 * What a benchmark is to bench/run.ts: a name to select it by, and a run that prints its own
 * details and returns summary rows. Add one by writing bench/<name>.ts exporting a `Benchmark`
 * and listing it in bench/run.ts.
 */

export interface SummaryRow {
  what: string;
  nudge: string;
  /** The same figure for the floor (the best this machine does without Nudge), or ''. */
  floor: string;
  /** Nudge / floor, or ''. */
  ratio: string;
  target: string;
  /** Whether Nudge meets the target; null when the row has none. */
  met: boolean | null;
}

export interface BenchmarkReport {
  rows: SummaryRow[];
  /** Broken invariants (error responses, lost or extra events …): they fail the run. */
  failures: string[];
}

export interface Benchmark {
  /** Selects it on the command line: `npm run bench -- <name>`. */
  name: string;
  title: string;
  run(): Promise<BenchmarkReport>;
}

export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** A number with thousands separators and at most `digits` decimals. */
export function num(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** A positive integer from an environment variable, or the default. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}: expected a positive integer, got "${raw}"`);
  return n;
}
