import type { StoredEvent } from '../core/event.js';
import type { ChangeSet } from '../core/ingest-fold.js';
import type { Profile } from '../core/profile.js';
import type { EventLog } from './event-log.js';
import type { ProfileStore } from './profile-store.js';

/** All a store holds about one person, for a GDPR/CCPA access request. */
export interface UserExport {
  profile: Profile;
  identities: string[];
  events: StoredEvent[];
}

export interface ErasureReport {
  profiles: number;
  identities: number;
  events: number;
}

export interface StoreCapabilities {
  /** Several processes may write at once (otherwise exactly one process owns the store). */
  sharedWriters: boolean;
  /** Data survives a restart of the process. */
  durable: boolean;
}

/**
 * One atomic write. Events are appended to the log; profiles, identity links and merges are
 * derived state: the engine may write them behind the events, in checkpoints, and a checkpoint
 * may be cut into slices that each write some of the profiles.
 */
export interface Commit extends ChangeSet {
  /**
   * The log position up to which the derived state in this commit (together with what is already
   * stored) reflects every event: a replay after a crash starts after it. Recorded atomically with
   * it; read back by `checkpoint()`.
   */
  checkpoint?: number;
  /**
   * The log position the profiles of this commit are folded up to: each holds every event of it up
   * to this position and none after. Stored with each profile (`ProfileStore.foldedThrough`) so a
   * replay skips the events a stored profile already holds. Default: the newest log position
   * after this commit.
   */
  profilesAt?: number;
}

export interface CommitReceipt {
  /** Log position of the newest event in the log after this commit (0 for an empty log). */
  position: number;
}

/**
 * The system of record. Every write goes through `commit`, which applies a whole `Commit`
 * atomically: after it resolves, all of it is durable; if it rejects, none of it was applied and
 * the caller may retry it.
 *
 * The event log is the truth; profiles and identities are derived from it. After a crash the
 * engine rebuilds what was not yet checkpointed by replaying `events.readAfter(checkpoint())`,
 * skipping each event whose profile (the event's `profileId`) is stored folded through the event's
 * position or later (`profiles.foldedThrough`).
 *
 * Guarantees
 * - `commit` is atomic and durable once it resolves (see the backend's fsync policy).
 * - A merge moves the source's events (their `profileId`) and identity links to the target in the
 *   same transaction, so a replayed event names the profile that holds it now.
 * - A profile's `foldedThrough` is written in the same transaction as the profile.
 */
export interface Store {
  readonly capabilities: StoreCapabilities;
  readonly events: EventLog;
  readonly profiles: ProfileStore;
  commit(changes: Commit): Promise<CommitReceipt>;
  /** The last recorded `Commit.checkpoint` (0 if none). */
  checkpoint(): Promise<number>;
  /** Everything held about the profile, or null if there is no such profile. */
  exportUser(workspaceId: string, profileId: string): Promise<UserExport | null>;
  /** Removes the profile, its identity links and all its events; counts what was removed. */
  eraseUser(workspaceId: string, profileId: string): Promise<ErasureReport>;
  close(): Promise<void>;
}
