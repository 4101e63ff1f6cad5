/**
 * Summarises a V8 `.cpuprofile` (written by `node --cpu-prof`): self time by function and by area
 * (a package, a file of the product, GC, idle), and inclusive time of the product's own functions,
 * which shows the phases (translate, fold, commit …) without reading a flame graph.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface TimeShare {
  name: string;
  ms: number;
  /** Share of the busy (non-idle) sampled time, 0–1. */
  share: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Sampled time minus idle: shares are of this. */
  busyMs: number;
  byArea: TimeShare[];
  selfByFunction: TimeShare[];
  /** Inclusive time of functions in the product's own files (src/ or dist/). */
  productInclusive: TimeShare[];
}

export function summariseCpuProfile(file: string, productRoot: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
  const totalMs = [...self.values()].reduce((a, b) => a + b, 0);
  let idleMs = 0;
  for (const [id, ms] of self) if (byId.get(id)!.callFrame.functionName === '(idle)') idleMs += ms;
  const busyMs = totalMs - idleMs;

  const label = (n: ProfileNode) => {
    const { functionName, url, lineNumber } = n.callFrame;
    const where = url ? `${shortPath(url, productRoot)}:${lineNumber + 1}` : 'native';
    return `${functionName || '(anonymous)'} ${where}`;
  };
  const area = (n: ProfileNode) => {
    const { functionName, url } = n.callFrame;
    if (!url) return functionName.startsWith('(') ? functionName : `native ${functionName}`;
    if (url.startsWith('node:')) return 'node internals';
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
    if (pkg) return pkg[1]!;
    return shortPath(url, productRoot);
  };

  const selfByFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  for (const [id, ms] of self) {
    const n = byId.get(id)!;
    add(selfByFunction, label(n), ms);
    add(byArea, area(n), ms);
  }

  // Inclusive time per product function; a function on the stack twice is counted once.
  const inclusive = new Map<string, number>();
  const isProduct = (n: ProfileNode) => isProductUrl(n.callFrame.url, productRoot);
  const walk = (id: number, onStack: Set<string>): number => {
    const n = byId.get(id)!;
    const key = isProduct(n) ? label(n) : null;
    const fresh = key !== null && !onStack.has(key);
    if (fresh) onStack.add(key);
    let ms = self.get(id) ?? 0;
    for (const c of n.children ?? []) ms += walk(c, onStack);
    if (fresh) {
      onStack.delete(key);
      add(inclusive, key, ms);
    }
    return ms;
  };
  walk(profile.nodes[0]!.id, new Set());

  byArea.delete('(idle)');
  selfByFunction.delete('(idle) native');
  const rank = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => ({ name, ms, share: busyMs > 0 ? ms / busyMs : 0 }));
  return { totalMs, busyMs, byArea: rank(byArea), selfByFunction: rank(selfByFunction), productInclusive: rank(inclusive) };
}

export function formatProfileSummary(s: ProfileSummary): string {
  const section = (title: string, rows: TimeShare[]) =>
    [`  ${title}`, ...rows.map((r) => `    ${(r.share * 100).toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(7)} ms  ${r.name}`)].join('\n');
  return [
    `CPU profile of the Nudge process: ${(s.busyMs / 1000).toFixed(1)} s busy of ${(s.totalMs / 1000).toFixed(1)} s sampled (start-up included); shares of busy time`,
    section('self time by area', s.byArea),
    section('self time by function', s.selfByFunction),
    section("inclusive time of Nudge's own functions", s.productInclusive),
  ].join('\n');
}

function add(m: Map<string, number>, key: string, ms: number): void {
  m.set(key, (m.get(key) ?? 0) + ms);
}

function isProductUrl(url: string, productRoot: string): boolean {
  const p = shortPath(url, productRoot);
  return p.startsWith('src/') || p.startsWith('dist/');
}

function shortPath(url: string, productRoot: string): string {
  const file = url.startsWith('file://') ? decodeURIComponent(new URL(url).pathname) : url;
  return file.startsWith(`${productRoot}/`) ? file.slice(productRoot.length + 1) : file;
}

/** A CPU profile of this process from now until `stop`, through the inspector (no restart needed). */
export async function startProfiler(): Promise<{ stop(file: string): Promise<void> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    async stop(file) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}
