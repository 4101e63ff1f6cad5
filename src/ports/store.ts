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
 * The system of record. Every write goes through `commit`, which applies a whole `ChangeSet`
 * atomically: after it resolves, all of it is durable; if it rejects, none of it was applied and
 * the caller may retry the same change set.
 */
export interface Store {
  readonly capabilities: StoreCapabilities;
  readonly events: EventLog;
  readonly profiles: ProfileStore;
  commit(changes: ChangeSet): Promise<void>;
  /** Everything held about the profile, or null if there is no such profile. */
  exportUser(workspaceId: string, profileId: string): Promise<UserExport | null>;
  /** Removes the profile, its identity links and all its events; counts what was removed. */
  eraseUser(workspaceId: string, profileId: string): Promise<ErasureReport>;
  close(): Promise<void>;
}
