/**
 * Ingestion with group commit.
 *
 * Requests hand their (already validated) events to `submit`, which resolves only after the events
 * are durably committed. Submissions that arrive while a commit is running wait and go into the
 * next one together, so the cost of a transaction and its fsync is shared by every request in the
 * group: the busier the server, the larger the groups.
 *
 * One flush: drop duplicates (dedup window) -> load identities and profiles (cache, else store)
 * -> fold events into profiles (pure core) -> commit the change set -> update cache and window ->
 * resolve the submissions -> tell listeners. Flushes never overlap, so events are applied in the
 * order they were accepted, and one user's events never race each other.
 */
import type { NudgeEvent } from '../core/event.js';
import { foldEvents, identityKeysOf, type ChangeSet } from '../core/ingest-fold.js';
import type { ProfileOptions } from '../core/profile.js';
import type { Clock } from '../ports/clock.js';
import type { Store } from '../ports/store.js';
import { DedupWindow } from './dedup-window.js';
import { ProfileCache } from './profile-cache.js';

export interface IngestOptions {
  profile: ProfileOptions;
  /** How long a messageId is remembered for deduplication. Default 24 hours. */
  dedupWindowMs: number;
  /** Most message ids remembered. Default 5,000,000. */
  dedupMaxEntries: number;
  /** Most profiles kept in memory. Default 100,000. */
  cacheMaxProfiles: number;
}

export interface IngestResult {
  accepted: number;
  duplicates: number;
}

export interface CommitStats {
  events: number;
  requests: number;
  durationMs: number;
}

export type CommitListener = (changes: ChangeSet, stats: CommitStats) => void;

interface Submission {
  workspaceId: string;
  events: readonly NudgeEvent[];
  resolve: (result: IngestResult) => void;
  reject: (error: unknown) => void;
}

export class IngestPipeline {
  private readonly dedup: DedupWindow;
  private readonly cache: ProfileCache;
  private readonly listeners: CommitListener[] = [];
  private queue: Submission[] = [];
  private flushing: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly options: IngestOptions,
    private readonly reportError: (error: unknown) => void = (error) => console.error(error),
  ) {
    this.dedup = new DedupWindow(options.dedupWindowMs, options.dedupMaxEntries);
    this.cache = new ProfileCache(store, options.cacheMaxProfiles);
  }

  /** Rebuilds the dedup window from the event log. Call once before accepting events. */
  async start(): Promise<void> {
    const since = this.clock.now() - this.options.dedupWindowMs;
    for (const r of await this.store.events.recentMessageIds(since)) this.dedup.add(r.workspaceId, r.messageId, r.receivedAt);
    this.dedup.expire(this.clock.now());
  }

  onCommit(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  /** Resolves once the events are committed; rejects if the store failed (nothing was stored). */
  submit(workspaceId: string, events: readonly NudgeEvent[]): Promise<IngestResult> {
    if (this.closed) return Promise.reject(new Error('ingest pipeline is closed'));
    if (events.length === 0) return Promise.resolve({ accepted: 0, duplicates: 0 });
    return new Promise((resolve, reject) => {
      this.queue.push({ workspaceId, events, resolve, reject });
      if (!this.flushing) this.flushing = this.drain();
    });
  }

  /** Forgets cached profiles, e.g. after a user was erased. */
  invalidate(): void {
    this.cache.clear();
  }

  /** Waits for everything submitted so far to be committed, then refuses new submissions. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flushing;
  }

  private async drain(): Promise<void> {
    // Yield once so that requests parsed in the same turn of the event loop share this commit.
    await new Promise<void>((r) => setImmediate(r));
    try {
      while (this.queue.length > 0) {
        const group = this.queue;
        this.queue = [];
        await this.flush(group);
      }
    } finally {
      this.flushing = null;
    }
  }

  private async flush(group: Submission[]): Promise<void> {
    const started = performance.now();
    const results = group.map(() => ({ accepted: 0, duplicates: 0 }));
    const byWorkspace = new Map<string, NudgeEvent[]>();
    const seenNow = new Set<string>();
    group.forEach((s, i) => {
      let events = byWorkspace.get(s.workspaceId);
      if (!events) byWorkspace.set(s.workspaceId, (events = []));
      for (const e of s.events) {
        const key = `${s.workspaceId}\u0000${e.messageId}`;
        if (seenNow.has(key) || this.dedup.has(s.workspaceId, e.messageId)) {
          results[i]!.duplicates++;
          continue;
        }
        seenNow.add(key);
        events.push(e);
        results[i]!.accepted++;
      }
    });

    const changes: ChangeSet = { events: [], profiles: [], identities: [], merges: [] };
    try {
      for (const [workspaceId, events] of byWorkspace) {
        if (events.length === 0) continue;
        const { identities, profiles } = await this.cache.load(workspaceId, events.flatMap(identityKeysOf));
        const part = foldEvents({ workspaceId, events, identities, profiles }, this.options.profile);
        changes.events.push(...part.events);
        changes.profiles.push(...part.profiles);
        changes.identities.push(...part.identities);
        changes.merges.push(...part.merges);
      }
      if (changes.events.length > 0) await this.store.commit(changes);
    } catch (error) {
      this.cache.clear();
      for (const s of group) s.reject(error);
      return;
    }

    this.cache.committed(changes);
    for (const e of changes.events) this.dedup.add(e.workspaceId, e.messageId, e.receivedAt);
    this.dedup.expire(this.clock.now());
    group.forEach((s, i) => s.resolve(results[i]!));
    const stats = { events: changes.events.length, requests: group.length, durationMs: performance.now() - started };
    for (const listener of this.listeners) {
      try {
        listener(changes, stats);
      } catch (error) {
        this.reportError(error);
      }
    }
  }
}
