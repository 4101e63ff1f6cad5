/**
 * The browser snippet's size: nudge.js (and the push service worker beside it) built from the
 * sources with the same configuration as `npm run build` (sdk/vite.config.ts), into a temporary
 * folder so that the figure is never that of a stale dist/sdk; raw, gzip -9 (what the server's
 * sdk route sends) and brotli. Target: nudge.js at most 10 KB gzipped. No floor: there is no
 * snippet without Nudge to compare with.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { createBuilder } from 'vite';
import { sdkBuildConfig } from '../sdk/vite.config.js';
import { formatTable, num, type Benchmark, type BenchmarkReport } from './support/benchmark.js';

const targetGzipBytes = 10 * 1024;

const kb = (bytes: number) => `${num(bytes / 1024, 1)} KB`;

export const snippetBenchmark: Benchmark = {
  name: 'snippet',
  title: 'browser snippet size: nudge.js and nudge-sw.js, raw, gzipped and brotli',
  async run(): Promise<BenchmarkReport> {
    const dir = mkdtempSync(path.join(tmpdir(), 'nudge-bench-snippet-'));
    try {
      const builder = await createBuilder({ ...sdkBuildConfig(dir), configFile: false });
      await builder.buildApp();
      const sizes = ['nudge.js', 'nudge-sw.js'].map((name) => {
        const code = readFileSync(path.join(dir, name));
        return {
          name,
          raw: code.length,
          gzip: gzipSync(code, { level: 9 }).length,
          brotli: brotliCompressSync(code, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
        };
      });
      console.log(formatTable(['file', 'raw', 'gzip -9', 'brotli'], sizes.map((s) => [s.name, `${num(s.raw)} B`, `${num(s.gzip)} B`, `${num(s.brotli)} B`])));
      const [snippet, worker] = sizes;
      return {
        rows: [
          { what: 'nudge.js gzipped', nudge: kb(snippet!.gzip), floor: '', ratio: '', target: '≤ 10 KB gzipped', met: snippet!.gzip <= targetGzipBytes },
          { what: 'nudge.js raw / brotli', nudge: `${kb(snippet!.raw)} / ${kb(snippet!.brotli)}`, floor: '', ratio: '', target: '', met: null },
          { what: 'nudge-sw.js gzipped', nudge: kb(worker!.gzip), floor: '', ratio: '', target: '', met: null },
        ],
        failures: [],
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
