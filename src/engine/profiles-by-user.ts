/**
 * Profiles of users named across workspaces, fetched with one call per workspace, keyed by
 * `userRefKey` (`workspaceId/profileId`). Users without a profile are absent.
 */
import type { Profile } from '../core/profile.js';
import { userRefKey, type UserRef } from '../ports/engine-store.js';

export type ProfilesOf = (workspaceId: string, profileIds: readonly string[]) => Promise<Map<string, Profile>>;

export async function profilesByUser(users: Iterable<UserRef>, profilesOf: ProfilesOf): Promise<Map<string, Profile>> {
  const byWorkspace = new Map<string, Set<string>>();
  for (const u of users) {
    const ids = byWorkspace.get(u.workspaceId) ?? new Set<string>();
    ids.add(u.profileId);
    byWorkspace.set(u.workspaceId, ids);
  }
  const profiles = new Map<string, Profile>();
  for (const [workspaceId, ids] of byWorkspace) {
    for (const [profileId, p] of await profilesOf(workspaceId, [...ids])) profiles.set(userRefKey({ workspaceId, profileId }), p);
  }
  return profiles;
}
