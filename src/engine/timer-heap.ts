/** A binary min-heap of timers by (dueAt, id): the scheduler's in-memory near horizon. */
import type { ClaimedTimer } from '../ports/timer-store.js';

const before = (a: ClaimedTimer, b: ClaimedTimer): boolean => a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.id < b.id);

export class TimerHeap {
  private items: ClaimedTimer[] = [];

  get size(): number {
    return this.items.length;
  }

  peekDueAt(): number | null {
    return this.items[0]?.dueAt ?? null;
  }

  push(timer: ClaimedTimer): void {
    const a = this.items;
    a.push(timer);
    for (let i = a.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!before(a[i]!, a[parent]!)) break;
      [a[i], a[parent]] = [a[parent]!, a[i]!];
      i = parent;
    }
  }

  /** Removes and returns, in order, every timer due at or before `now`. */
  popDue(now: number): ClaimedTimer[] {
    const out: ClaimedTimer[] = [];
    while (this.items.length > 0 && this.items[0]!.dueAt <= now) out.push(this.pop());
    return out;
  }

  clear(): void {
    this.items = [];
  }

  /** Replaces the contents (to shed entries the owner has dropped). */
  rebuild(timers: Iterable<ClaimedTimer>): void {
    this.items = [];
    for (const t of timers) this.push(t);
  }

  private pop(): ClaimedTimer {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}
