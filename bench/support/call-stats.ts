/**
 * Calls into storage, timed during a benchmark's window: synchronous SQLite under an async face,
 * so the time until a call returns its promise is time the event loop was held (what comes after,
 * waiting in line, is not counted). Calls wrapped with `wrapWait` record instead how long their
 * callers waited for the answer.
 */
import { num } from './benchmark.js';

export class CallStats {
  private readonly byName = new Map<string, { count: number; totalMs: number; maxMs: number }>();
  /** Per name, how long the callers of `wrapWait`ed methods waited, ms. */
  readonly waits = new Map<string, number[]>();
  /** The calls of 10 ms or more, with when they started relative to `windowStart`. */
  readonly long: { name: string; startMs: number; ms: number }[] = [];
  recording = false;
  windowStart = 0;

  /** Replaces `obj[method]` by a timed call of the original; records only while `recording`. */
  wrap<T extends object>(obj: T, method: keyof T & string, name: string): void {
    const target = obj as unknown as Record<string, (...args: unknown[]) => unknown>;
    const original = target[method]!.bind(obj);
    target[method] = (...args: unknown[]) => {
      if (!this.recording) return original(...args);
      const started = Date.now();
      const t = performance.now();
      try {
        return original(...args);
      } finally {
        this.add(name, started, performance.now() - t);
      }
    };
  }

  /** Replaces `obj[method]` by a call of the original that records when its promise settles; only while `recording`. */
  wrapWait<T extends object>(obj: T, method: keyof T & string, name: string): void {
    const target = obj as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const original = target[method]!.bind(obj);
    target[method] = (...args: unknown[]) => {
      if (!this.recording) return original(...args);
      const t = performance.now();
      const waits = this.waits.get(name) ?? [];
      this.waits.set(name, waits);
      return original(...args).finally(() => waits.push(performance.now() - t));
    };
  }

  private add(name: string, started: number, ms: number): void {
    const s = this.byName.get(name) ?? { count: 0, totalMs: 0, maxMs: 0 };
    s.count++;
    s.totalMs += ms;
    s.maxMs = Math.max(s.maxMs, ms);
    this.byName.set(name, s);
    if (ms >= 10) this.long.push({ name, startMs: started - this.windowStart, ms });
  }

  /**
   * One row per call, most total time first: name, calls, (calls per message, when `messages` is
   * given), total ms, share of the window, mean ms, max ms.
   */
  rows(windowMs: number, messages?: number): string[][] {
    return [...this.byName]
      .sort((a, b) => b[1].totalMs - a[1].totalMs)
      .map(([name, s]) => [
        name,
        num(s.count),
        ...(messages === undefined ? [] : [num(s.count / messages, 2)]),
        num(s.totalMs),
        `${num((s.totalMs / windowMs) * 100, 1)}%`,
        num(s.totalMs / s.count, 2),
        num(s.maxMs, 1),
      ]);
  }
}
