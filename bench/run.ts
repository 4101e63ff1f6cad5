/**
 * Runs the benchmarks in bench/, one after another, and prints a summary table.
 *
 *   npm run bench               every benchmark
 *   npm run bench -- ingest     only those named
 *
 * To add one, write bench/<name>.ts exporting a `Benchmark` (see support/benchmark.ts) and list it
 * below. Exits 1 if a benchmark failed or broke an invariant; a missed target is reported, not fatal.
 */
import { cpus } from 'node:os';
import { formatTable, type Benchmark, type SummaryRow } from './support/benchmark.js';
import { ingestBenchmark } from './ingest.js';
import { conditionsBenchmark } from './conditions.js';
import { timersBenchmark } from './timers.js';
import { engineBenchmark } from './engine.js';
import { backtestBenchmark } from './backtest.js';
import { dispatchBenchmark } from './dispatch.js';

const benchmarks: Benchmark[] = [ingestBenchmark, conditionsBenchmark, timersBenchmark, backtestBenchmark, engineBenchmark, dispatchBenchmark];

const selected = process.argv.slice(2);
const unknown = selected.filter((name) => !benchmarks.some((b) => b.name === name));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${benchmarks.map((b) => b.name).join(', ')}`);
  process.exit(2);
}
const toRun = benchmarks.filter((b) => selected.length === 0 || selected.includes(b.name));

console.log(`Nudge benchmarks: Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${new Date().toISOString()}`);
const summary: { bench: string; row: SummaryRow }[] = [];
const failures: string[] = [];
for (const b of toRun) {
  console.log(`\n== ${b.name}: ${b.title}`);
  const started = performance.now();
  try {
    const report = await b.run();
    for (const row of report.rows) summary.push({ bench: b.name, row });
    failures.push(...report.failures.map((f) => `${b.name}: ${f}`));
  } catch (error) {
    console.error(error);
    failures.push(`${b.name}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
  }
  console.log(`== ${b.name} took ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

console.log('\nSummary');
console.log(
  formatTable(
    ['benchmark', 'what', 'Nudge', 'floor', 'Nudge/floor', 'target'],
    summary.map(({ bench, row }) => [bench, row.what, row.nudge, row.floor, row.ratio, row.met === null ? row.target : `${row.target} ${row.met ? 'met' : 'NOT met'}`]),
  ),
);
if (failures.length > 0) {
  console.log(`\n${failures.length} failure(s):\n${failures.map((f) => `  - ${f}`).join('\n')}`);
  process.exitCode = 1;
}
