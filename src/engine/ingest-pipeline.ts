/**
 * Ingestion with group commit and profiles written behind the log.
 *
 * Requests hand their (already validated) events to `submit`, which resolves only after the events
 * are durably appended to the event log. Submissions that arrive while a commit is running wait
 * and go into the next one together, so a transaction and its fsync are shared by every request in
 * the group: the busier the server, the larger the groups.
 *
 * One flush: drop duplicates (dedup window) -> load identities and profiles (cache, else store)
 * -> fold events into profiles (pure core) -> append the events -> keep the changed profiles in
 * the cache as dirty -> resolve the submissions -> tell listeners.
 *
 * Profiles and identity links are derived from the log, so they need not be written with every
 * event: a checkpoint round, every `checkpointIntervalMs` or `checkpointMaxDirty` changes, writes
 * all that is dirty when it starts. A user active many times between two rounds costs one profile
 * write, not one per event. A round is cut into slices of `checkpointSliceRows` entries or more,
 * one commit each, taken turn about with flushes, so the event loop never stalls for a whole
 * round. Each slice stores its profiles with the log position they are folded up to, and the
 * replay start (checkpoint) the entries still dirty need (see ProfileCache for why slices write
 * whole groups). After a crash, `start` replays the events after the checkpoint through the same
 * fold, skipping those whose profile is stored folded through them, which rebuilds exactly the
 * lost state.
 *
 * Flushes, checkpoint slices and exclusive tasks run one at a time, so events are applied in the
 * order they were accepted and one user's events never race each other. A task runs after the
 * submissions that came before it and before those that came after; slices take every other turn.
 */
import type { NudgeEvent } from '../core/event.js';
import { foldEvents, identityKeysOf, type ChangeSet } from '../core/ingest-fold.js';
import type { Profile, ProfileOptions } from '../core/profile.js';
import type { Clock } from '../ports/clock.js';
import type { LoggedEvent } from '../ports/event-log.js';
import type { ErasureReport, Store } from '../ports/store.js';
import { DedupWindow } from './dedup-window.js';
import { ProfileCache } from './profile-cache.js';

export interface IngestOptions {
  profile: ProfileOptions;
  /** How long a messageId is remembered for deduplication. Default 24 hours. */
  dedupWindowMs: number;
  /** Most message ids remembered. Default 5,000,000. */
  dedupMaxEntries: number;
  /** Most clean profiles kept in memory after a checkpoint. Default 100,000. */
  cacheMaxProfiles: number;
  /** Longest time derived state stays unwritten (and the most a restart replays). Default 5 s; 0 = no timer. */
  checkpointIntervalMs?: number;
  /** Most dirty profiles and links before a checkpoint is forced. Default 100,000. */
  checkpointMaxDirty?: number;
  /**
   * The least number of profiles, links and merges a checkpoint slice (one commit) writes when
   * that many are due. A slice writes 1.5 times what was dirtied since the previous one, so
   * rounds keep pace with ingestion, within these bounds. Default 100: a slice holds the event
   * loop for a few ms when little is ingested (the engine's timers fire meanwhile).
   */
  checkpointSliceRows?: number;
  /**
   * The most a slice writes. Default 2,000: under heavy ingestion slices must keep pace (in the
   * ingestion benchmark, at most 400 gave p99 640 ms against 267 ms).
   */
  checkpointSliceMaxRows?: number;
}

export interface IngestResult {
  accepted: number;
  duplicates: number;
}

export interface CommitStats {
  events: number;
  requests: number;
  /** From taking the group to its events being stored. */
  durationMs: number;
  /** The store's append alone. */
  storeMs: number;
  /** Log position of the group's newest event (its events have the positions just before it). */
  position: number;
}

export type CommitListener = (changes: ChangeSet, stats: CommitStats) => void;

interface Submission {
  workspaceId: string;
  events: readonly NudgeEvent[];
  resolve: (result: IngestResult) => void;
  reject: (error: unknown) => void;
}

interface Task {
  run: () => Promise<void>;
  reject: (error: unknown) => void;
  /** How many submissions had arrived before it: those it waits for, and no later ones. */
  after: number;
}

const replayChunk = 10_000;

export class IngestPipeline {
  private readonly dedup: DedupWindow;
  private cache: ProfileCache;
  private readonly listeners: CommitListener[] = [];
  private readonly checkpointIntervalMs: number;
  private readonly checkpointMaxDirty: number;
  private readonly checkpointSliceRows: number;
  private readonly checkpointSliceMaxRows: number;
  private submissions: Submission[] = [];
  /** Submissions ever queued; `flushed` of them are taken into flushes. */
  private submitted = 0;
  private flushed = 0;
  private tasks: Task[] = [];
  private draining: Promise<void> | null = null;
  private position = 0;
  private checkpointed = 0;
  private lastCheckpointAt = 0;
  /** While a checkpoint round is under way: the newest group it writes. */
  private roundUpTo: number | null = null;
  /** The last turn of the drain loop wrote a slice: the next one goes to waiting work, if any. */
  private slicedLast = false;
  /** Entries flushes made dirty since the last slice: what the next one must write to keep pace. */
  private dirtiedSinceSlice = 0;
  /** After a failed checkpoint, none is tried again before this time, so flushes go on meanwhile. */
  private checkpointRetryAt = 0;
  private timer: NodeJS.Timeout | null = null;
  /**
   * Real time (performance.now) before which the next slice of a round waits: after each slice the
   * rest of the process gets as long as the slice took, so a round never fills the event loop.
   */
  private nextSliceAt = 0;
  private sliceTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Set when an append failed: the cache must be rebuilt from the store before the next fold. */
  private stale = false;
  /** The append in flight (or the last one): settles to whether it was stored; never rejects. */
  private previousAppend: Promise<boolean> = Promise.resolve(true);

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly options: IngestOptions,
    private readonly reportError: (error: unknown) => void = (error) => console.error(error),
  ) {
    this.dedup = new DedupWindow(options.dedupWindowMs, options.dedupMaxEntries);
    this.cache = new ProfileCache(store, options.cacheMaxProfiles);
    this.checkpointIntervalMs = options.checkpointIntervalMs ?? 5000;
    this.checkpointMaxDirty = options.checkpointMaxDirty ?? 100_000;
    this.checkpointSliceRows = options.checkpointSliceRows ?? 100;
    this.checkpointSliceMaxRows = Math.max(this.checkpointSliceRows, options.checkpointSliceMaxRows ?? 2000);
  }

  /**
   * Rebuilds the dedup window and replays the events after the last checkpoint, then checkpoints.
   * Call once before accepting events. `replayed` counts the events folded again (not those a
   * stored profile already held).
   */
  async start(): Promise<{ replayed: number }> {
    const since = this.clock.now() - this.options.dedupWindowMs;
    for (const r of await this.store.events.recentMessageIds(since)) this.dedup.add(r.workspaceId, r.messageId, r.receivedAt);
    this.dedup.expire(this.clock.now());

    this.checkpointed = await this.store.checkpoint();
    this.position = this.checkpointed;
    const replayed = await this.replay();
    await this.checkpointNow();
    if (this.checkpointIntervalMs > 0) {
      this.timer = setInterval(() => this.checkpointIfDue(), this.checkpointIntervalMs);
      this.timer.unref();
    }
    return { replayed };
  }

  onCommit(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  /** Resolves once the events are durably appended; rejects if the store failed (nothing was stored). */
  submit(workspaceId: string, events: readonly NudgeEvent[]): Promise<IngestResult> {
    if (this.closed) return Promise.reject(new Error('ingest pipeline is closed'));
    if (events.length === 0) return Promise.resolve({ accepted: 0, duplicates: 0 });
    return new Promise((resolve, reject) => {
      this.submissions.push({ workspaceId, events, resolve, reject });
      this.submitted++;
      this.kick();
    });
  }

  /** The live profile of a user id, anonymous id or profile id, including unwritten changes. */
  profile(workspaceId: string, id: string): Promise<Profile | null> {
    return this.exclusive(() => this.cache.find(workspaceId, id));
  }

  /** Profiles by profile id, as of every event accepted so far. */
  profilesByIds(workspaceId: string, profileIds: readonly string[]): Promise<Map<string, Profile>> {
    return this.exclusive(() => this.cache.byIds(workspaceId, profileIds));
  }

  /** A profile's identity keys (`u:…`, `a:…`), including links not yet written. */
  identitiesOf(workspaceId: string, profileId: string): Promise<string[]> {
    return this.exclusive(() => this.cache.identitiesOf(workspaceId, profileId));
  }

  /**
   * Runs `fn` between flushes, right after a checkpoint, so the store holds the effects of every
   * accepted event and nothing writes meanwhile (exports, consistent reads).
   */
  readCheckpointed<T>(fn: () => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      await this.checkpointNow();
      return fn();
    });
  }

  /** Erases a profile, its identities and its events, with nothing of it left in memory. */
  eraseUser(workspaceId: string, profileId: string): Promise<ErasureReport> {
    return this.exclusive(async () => {
      await this.checkpointNow();
      try {
        return await this.store.eraseUser(workspaceId, profileId);
      } finally {
        this.cache.clear();
      }
    });
  }

  /** Writes derived state now (also what `close` does last). */
  checkpoint(): Promise<void> {
    return this.exclusive(() => this.checkpointNow());
  }

  /** Commits everything accepted so far, writes a checkpoint, then refuses new submissions. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.sliceTimer) clearTimeout(this.sliceTimer);
    await this.exclusive(() => this.checkpointNow());
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.tasks.push({ run: async () => resolve(await fn()), reject, after: this.submitted });
      this.kick();
    });
  }

  private kick(): void {
    if (!this.draining) this.draining = this.drain();
  }

  private checkpointIfDue(): void {
    if (this.cache.dirtyCount > 0 && !this.draining) this.kick();
  }

  private async drain(): Promise<void> {
    // Yield once so that requests parsed in the same turn of the event loop share this commit.
    await new Promise<void>((r) => setImmediate(r));
    try {
      while (this.submissions.length > 0 || this.tasks.length > 0 || this.checkpointDue()) {
        // Slices of a round take turns with waiting work, so dirty state stays bounded under
        // constant load and no turn is longer than one slice, and each waits as long after the
        // previous one as that took (timers, deliveries and HTTP run meanwhile); past the limit
        // of dirty entries they go first.
        const waiting = this.submissions.length > 0 || this.tasks.length > 0;
        const pressed = this.cache.dirtyCount >= 2 * this.checkpointMaxDirty;
        const sliceDue = this.checkpointDue() && (pressed || performance.now() >= this.nextSliceAt);
        if (sliceDue && (!this.slicedLast || !waiting || pressed)) {
          this.slicedLast = true;
          const started = performance.now();
          await this.checkpointSlice().catch((error: unknown) => {
            this.roundUpTo = null;
            this.checkpointRetryAt = this.clock.now() + 1000;
            this.reportError(error);
          });
          this.nextSliceAt = 2 * performance.now() - started;
          // Let the requests that arrived meanwhile in, before the next turn.
          await new Promise<void>((r) => setImmediate(r));
        } else if (this.tasks.length > 0 && this.tasks[0]!.after <= this.flushed) {
          // A task goes as soon as the submissions that came before it are flushed: under
          // steady ingestion a read (the engine's profiles) would otherwise wait for a lull.
          // Every task so ready takes this turn: they are reads, short, and each would otherwise
          // wait behind a slice of its own.
          this.slicedLast = false;
          while (this.tasks.length > 0 && this.tasks[0]!.after <= this.flushed) {
            const task = this.tasks.shift()!;
            await this.settle()
              .then(() => task.run())
              .catch(task.reject);
          }
        } else if (this.submissions.length > 0) {
          this.slicedLast = false;
          // The submissions up to the first waiting task's, or all.
          const upTo = this.tasks.length > 0 ? this.tasks[0]!.after - this.flushed : this.submissions.length;
          const group = this.submissions.splice(0, upTo);
          this.flushed += group.length;
          await this.flush(group);
        } else {
          // Only the next slice is left, and it is not its time yet: come back for it then.
          this.sliceTimer ??= setTimeout(() => {
            this.sliceTimer = null;
            this.kick();
          }, Math.ceil(this.nextSliceAt - performance.now()));
          break;
        }
      }
    } finally {
      this.draining = null;
    }
  }

  /** A round is under way, or one is due: the interval is up or too much is dirty. */
  private checkpointDue(): boolean {
    const dirty = this.cache.dirtyCount;
    if (dirty === 0 || this.clock.now() < this.checkpointRetryAt) return false;
    if (this.roundUpTo !== null) return true;
    const timeUp = this.checkpointIntervalMs > 0 && this.clock.now() - this.lastCheckpointAt >= this.checkpointIntervalMs;
    return timeUp || dirty >= this.checkpointMaxDirty;
  }

  /** Writes the next slice of the round under way, starting one if none is. */
  private async checkpointSlice(): Promise<void> {
    await this.settle();
    if (this.roundUpTo === null) {
      this.roundUpTo = this.cache.newestGroup;
      this.lastCheckpointAt = this.clock.now();
      // What was dirtied between rounds is this round's work, not a pace to keep: start small.
      this.dirtiedSinceSlice = 0;
    }
    const rows = Math.min(this.checkpointSliceMaxRows, Math.max(this.checkpointSliceRows, Math.ceil(1.5 * this.dirtiedSinceSlice)));
    this.dirtiedSinceSlice = 0;
    const written = await this.cache.writeSlice(this.position, rows, this.roundUpTo);
    this.checkpointed = written.checkpoint;
    if (!written.more) {
      this.roundUpTo = null;
      this.cache.evict();
    }
  }

  /**
   * Writes everything dirty (for a consistent read, an erasure, a stop), in slices with a turn of
   * the event loop between them: flushes wait for the whole of it, but timers, deliveries and
   * HTTP go on, where one commit of a round's worth held the event loop for up to a second.
   */
  private async checkpointNow(): Promise<void> {
    this.lastCheckpointAt = this.clock.now();
    await this.settle();
    this.roundUpTo = null;
    if (this.cache.dirtyCount === 0 && this.position === this.checkpointed) return;
    const upTo = this.cache.newestGroup;
    for (;;) {
      const written = await this.cache.writeSlice(this.position, this.checkpointSliceMaxRows, upTo);
      this.checkpointed = written.checkpoint;
      if (!written.more) break;
      await new Promise<void>((r) => setImmediate(r));
    }
    this.cache.evict();
  }

  /** Folds events into the cache (dirty); returns the change set, events assigned to profiles. */
  private async fold(events: readonly NudgeEvent[]): Promise<ChangeSet> {
    const byWorkspace = new Map<string, NudgeEvent[]>();
    for (const e of events) {
      let list = byWorkspace.get(e.workspaceId);
      if (!list) byWorkspace.set(e.workspaceId, (list = []));
      list.push(e);
    }
    const changes: ChangeSet = { events: [], profiles: [], identities: [], merges: [], profileAfter: [] };
    for (const [workspaceId, list] of byWorkspace) {
      const { identities, profiles } = await this.cache.load(workspaceId, list.flatMap(identityKeysOf));
      const part = foldEvents({ workspaceId, events: list, identities, profiles }, this.options.profile);
      const dirtyBefore = this.cache.dirtyCount;
      this.cache.apply(part, this.position);
      this.dirtiedSinceSlice += Math.max(0, this.cache.dirtyCount - dirtyBefore);
      changes.events.push(...part.events);
      changes.profiles.push(...part.profiles);
      changes.identities.push(...part.identities);
      changes.merges.push(...part.merges);
      changes.profileAfter!.push(...part.profileAfter!);
    }
    return changes;
  }

  /**
   * Folds a group and hands its events to the store without waiting for them to be written, so
   * the next group is folded while this one is written. Appends stay in order: a group is sent
   * only after the previous one was stored; if that failed, this group is folded again on state
   * rebuilt from the log.
   */
  private async flush(group: Submission[]): Promise<void> {
    const started = performance.now();
    let admitted = this.admit(group);
    let changes: ChangeSet;
    try {
      if (this.stale) await this.settle();
      changes = await this.fold(admitted.fresh);
      if (!(await this.previousAppend)) {
        this.forget(admitted.fresh);
        await this.settle();
        admitted = this.admit(group);
        changes = await this.fold(admitted.fresh);
      }
    } catch (error) {
      this.forget(admitted.fresh);
      this.stale = true;
      for (const s of group) s.reject(error);
      return;
    }

    let appending = performance.now();
    const done = (): void => {
      group.forEach((s, i) => s.resolve(admitted.results[i]!));
      const now = performance.now();
      const stats = { events: changes.events.length, requests: group.length, durationMs: now - started, storeMs: now - appending, position: this.position };
      for (const listener of this.listeners) {
        try {
          listener(changes, stats);
        } catch (error) {
          this.reportError(error);
        }
      }
    };
    if (changes.events.length === 0) return done();
    appending = performance.now();
    this.previousAppend = this.store.commit({ events: changes.events, profiles: [], identities: [], merges: [] }).then(
      (receipt) => {
        this.position = receipt.position;
        done();
        return true;
      },
      (error: unknown) => {
        // The folded changes of this group are in the cache but not in the log: rebuild before use.
        this.stale = true;
        this.forget(admitted.fresh);
        for (const s of group) s.reject(error);
        return false;
      },
    );
  }

  /** Drops duplicates (of the window and within the group) and reserves the new ids in the window. */
  private admit(group: readonly Submission[]): { fresh: NudgeEvent[]; results: IngestResult[] } {
    const results = group.map(() => ({ accepted: 0, duplicates: 0 }));
    const fresh: NudgeEvent[] = [];
    group.forEach((s, i) => {
      for (const e of s.events) {
        if (this.dedup.has(s.workspaceId, e.messageId)) {
          results[i]!.duplicates++;
          continue;
        }
        this.dedup.add(s.workspaceId, e.messageId, e.receivedAt);
        fresh.push(e.workspaceId === s.workspaceId ? e : { ...e, workspaceId: s.workspaceId });
        results[i]!.accepted++;
      }
    });
    this.dedup.expire(this.clock.now());
    return { fresh, results };
  }

  /** Releases the ids of events that were not stored, so a retry is accepted. */
  private forget(events: readonly NudgeEvent[]): void {
    for (const e of events) this.dedup.delete(e.workspaceId, e.messageId);
  }

  /** Waits for the append in flight; rebuilds from the log if it (or an earlier one) failed. */
  private async settle(): Promise<void> {
    if (!(await this.previousAppend)) this.stale = true;
    this.previousAppend = Promise.resolve(true);
    if (this.stale) await this.rebuild();
  }

  /** After a failed append: drop the cache (dirty state included) and refold since the checkpoint. */
  private async rebuild(): Promise<void> {
    this.cache = new ProfileCache(this.store, this.options.cacheMaxProfiles);
    this.roundUpTo = null;
    this.position = this.checkpointed;
    await this.replay();
    this.stale = false;
  }

  /** Folds the events after `position` that no stored profile holds yet. */
  private async replay(): Promise<number> {
    let replayed = 0;
    for (;;) {
      const logged = await this.store.events.readAfter(this.position, replayChunk);
      if (logged.length === 0) return replayed;
      const unfolded = await this.notYetFolded(logged);
      await this.fold(unfolded);
      this.position = logged[logged.length - 1]!.position;
      replayed += unfolded.length;
    }
  }

  /**
   * The events whose profile is not stored folded through them. A slice written before a crash
   * may have stored a profile past the checkpoint; its events up to there are in it already.
   */
  private async notYetFolded(logged: readonly LoggedEvent[]): Promise<NudgeEvent[]> {
    const idsByWorkspace = new Map<string, Set<string>>();
    for (const { event } of logged) {
      let ids = idsByWorkspace.get(event.workspaceId);
      if (!ids) idsByWorkspace.set(event.workspaceId, (ids = new Set()));
      ids.add(event.profileId);
    }
    const folded = new Map<string, Map<string, number>>();
    for (const [workspaceId, ids] of idsByWorkspace) folded.set(workspaceId, await this.store.profiles.foldedThrough(workspaceId, [...ids]));
    return logged.filter((l) => l.position > (folded.get(l.event.workspaceId)!.get(l.event.profileId) ?? 0)).map((l) => l.event);
  }
}
