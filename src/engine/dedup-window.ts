/**
 * Remembers the message ids accepted recently so a retried or duplicated event is stored once.
 * Ids older than the window (by receipt time) or beyond the entry limit are forgotten, oldest
 * first; the window is rebuilt from the event log at start-up.
 */
export class DedupWindow {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries: number,
  ) {}

  has(workspaceId: string, messageId: string): boolean {
    return this.seen.has(keyOf(workspaceId, messageId));
  }

  add(workspaceId: string, messageId: string, receivedAt: number): void {
    this.seen.set(keyOf(workspaceId, messageId), receivedAt);
  }

  /** Forgets an id whose event was not stored after all. */
  delete(workspaceId: string, messageId: string): void {
    this.seen.delete(keyOf(workspaceId, messageId));
  }

  /** Forgets what fell out of the window at `now` or over the size limit. */
  expire(now: number): void {
    const oldest = now - this.windowMs;
    let excess = this.seen.size - this.maxEntries;
    for (const [key, at] of this.seen) {
      if (excess <= 0 && at >= oldest) break;
      this.seen.delete(key);
      excess--;
    }
  }

  get size(): number {
    return this.seen.size;
  }
}

const keyOf = (workspaceId: string, messageId: string): string => `${workspaceId}\u0000${messageId}`;
