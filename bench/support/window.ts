/**
 * What the end-to-end benchmarks (engine, dispatch) share around their measured window: waiting
 * for it to start, the CPU of every party and this process's event-loop delay during it, and
 * waiting for the receiver to have seen every message.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuTimeMsOf, machineBusyMs } from './processes.js';

/** Sleeps until the wall clock reads `t` (a timer may fire a millisecond early by it). */
export async function sleepUntil(t: number): Promise<void> {
  for (let ms = t - Date.now(); ms > 0; ms = t - Date.now()) await sleep(ms);
}

/** CPU time of a process we may not own; null where /proc does not tell. */
function cpuOrNull(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    return cpuTimeMsOf(pid);
  } catch {
    return null;
  }
}

export interface WindowMeters {
  mainCpuMs: number;
  mainSystemMs: number;
  /** Cores used on average: this process, the receiver, Redis (null when not watched), the rest. */
  cores: { main: number; receiver: number; redis: number | null; other: number };
  loopDelay: { p99: number; max: number };
}

/** Starts sampling the CPU of this process, of the receiver, of Redis (`redisPid`) and of the rest of the machine; call the result to stop. */
export function startWindowMeters(receiver: { cpuTimeMs(): number }, redisPid: number | null = null): () => WindowMeters {
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const main = process.cpuUsage();
  const rec = receiver.cpuTimeMs();
  const redis = cpuOrNull(redisPid);
  const machine = machineBusyMs();
  const started = Date.now();
  return () => {
    loop.disable();
    const ms = Math.max(1, Date.now() - started);
    const usage = process.cpuUsage(main);
    const mainMs = (usage.user + usage.system) / 1000;
    const recMs = receiver.cpuTimeMs() - rec;
    const redisNow = cpuOrNull(redisPid);
    const redisMs = redis === null || redisNow === null ? null : redisNow - redis;
    const otherMs = Math.max(0, machineBusyMs() - machine - mainMs - recMs - (redisMs ?? 0));
    return {
      mainCpuMs: mainMs,
      mainSystemMs: usage.system / 1000,
      cores: { main: mainMs / ms, receiver: recMs / ms, redis: redisMs === null ? null : redisMs / ms, other: otherMs / ms },
      loopDelay: { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
    };
  };
}

export interface ArrivalWait {
  /** Messages to wait for (distinct idempotency keys). */
  expected: number;
  /** The last due time: after it, `stallMs` without progress ends the wait. */
  lastDue: number;
  stallMs: number;
  /** The wait ends this long after `lastDue` whatever came. */
  drainCapMs: number;
  pollMs: number;
}

/** Polls `distinct` until every message arrived, or none came for `stallMs` after the last due time, or the cap passed. */
export async function awaitArrivals(distinct: () => Promise<number>, w: ArrivalWait): Promise<void> {
  let seen = -1;
  let progressAt = Date.now();
  for (;;) {
    const n = await distinct();
    const now = Date.now();
    if (n !== seen) [seen, progressAt] = [n, now];
    if (n >= w.expected || now > w.lastDue + w.drainCapMs || (now > w.lastDue && now - progressAt > w.stallMs)) return;
    await sleep(w.pollMs);
  }
}

/** Indents every line of a table by four spaces, under a heading. */
export function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}
