import type { Profile } from '../core/profile.js';
import type { Page, PageRequest } from './pagination.js';

export interface ProfileSearch extends PageRequest {
  /** Matches a user id, an anonymous id or a trait value (email, name …) by prefix. */
  query?: string;
}

/**
 * Live profiles and the identity links (`u:<userId>`, `a:<anonymousId>`) that point at them.
 * Writes happen only through `Store.commit`. All reads are by workspace; ids are partitioned by
 * (workspaceId, profileId) so a backend may shard on them.
 */
export interface ProfileStore {
  /** The profile id each known identity key points at; unknown keys are absent from the map. */
  resolveIdentities(workspaceId: string, keys: readonly string[]): Promise<Map<string, string>>;
  getProfiles(workspaceId: string, profileIds: readonly string[]): Promise<Map<string, Profile>>;
  /**
   * The log position each stored profile is folded up to (`Commit.profilesAt` of its last write);
   * profiles not stored are absent. Replay skips the events a stored profile already holds.
   */
  foldedThrough(workspaceId: string, profileIds: readonly string[]): Promise<Map<string, number>>;
  /** Identity keys pointing at a profile. */
  identitiesOf(workspaceId: string, profileId: string): Promise<string[]>;
  /** Most recently updated first. */
  search(workspaceId: string, search: ProfileSearch): Promise<Page<Profile>>;
  count(workspaceId: string): Promise<number>;
}
