/**
 * The engine's working set of profiles and identity links.
 *
 * Profiles and identities are derived from the event log and written behind it: a flush changes
 * them here (they become dirty), and a checkpoint writes every dirty entry to the store in one
 * commit. So this cache, not the store, is the truth for dirty entries, and only clean entries
 * are ever evicted. Everything not here is read from the store, which is then up to date.
 *
 * States of an entry: absent -> clean (loaded) -> dirty (changed by a flush) -> clean (checkpointed).
 */
import { anonKey, userKey, type ChangeSet, type IdentityLink, type ProfileMerge } from '../core/ingest-fold.js';
import type { Profile } from '../core/profile.js';
import type { Commit, Store } from '../ports/store.js';

export class ProfileCache {
  private readonly profiles = new Map<string, Profile>();
  private readonly identities = new Map<string, string>();
  private dirtyProfiles = new Set<string>();
  private pendingLinks = new Map<string, IdentityLink>();
  private pendingMerges: ProfileMerge[] = [];
  /** Pending merges by source, so a stale link read from the store is forwarded to the target. */
  private mergedInto = new Map<string, string>();

  constructor(
    private readonly store: Store,
    private readonly maxProfiles: number,
  ) {}

  /** Entries changed since the last checkpoint. */
  get dirtyCount(): number {
    return this.dirtyProfiles.size + this.pendingLinks.size + this.pendingMerges.length;
  }

  /** Loads what a fold over `keys` needs: their identity links and the profiles they point at. */
  async load(workspaceId: string, keys: Iterable<string>): Promise<{ identities: Map<string, string>; profiles: Map<string, Profile> }> {
    const identities = new Map<string, string>();
    const missingKeys: string[] = [];
    for (const key of keys) {
      if (identities.has(key)) continue;
      const id = this.identities.get(cacheKey(workspaceId, key));
      if (id === undefined) missingKeys.push(key);
      else identities.set(key, id);
    }
    if (missingKeys.length > 0) {
      const found = await this.store.profiles.resolveIdentities(workspaceId, missingKeys);
      for (const [key, stored] of found) {
        const id = this.finalTarget(workspaceId, stored);
        identities.set(key, id);
        this.identities.set(cacheKey(workspaceId, key), id);
      }
    }

    const profiles = new Map<string, Profile>();
    const missingIds: string[] = [];
    for (const id of new Set(identities.values())) {
      const p = this.profiles.get(cacheKey(workspaceId, id));
      if (p) profiles.set(id, p);
      else missingIds.push(id);
    }
    if (missingIds.length > 0) {
      const found = await this.store.profiles.getProfiles(workspaceId, missingIds);
      for (const [id, p] of found) {
        profiles.set(id, p);
        this.profiles.set(cacheKey(workspaceId, id), p);
      }
    }
    return { identities, profiles };
  }

  /** The current profile of a user id, anonymous id or profile id, checkpointed or not. */
  async find(workspaceId: string, id: string): Promise<Profile | null> {
    const keys = [userKey(id), anonKey(id)];
    const { identities, profiles } = await this.load(workspaceId, keys);
    const profileId = identities.get(keys[0]!) ?? identities.get(keys[1]!) ?? id;
    if (this.mergedInto.has(cacheKey(workspaceId, profileId))) return null;
    const cached = profiles.get(profileId) ?? this.profiles.get(cacheKey(workspaceId, profileId));
    if (cached) return cached;
    return (await this.store.profiles.getProfiles(workspaceId, [profileId])).get(profileId) ?? null;
  }

  /** Profiles by their ids (not user ids), checkpointed or not; merged-away and unknown ones are absent. */
  async byIds(workspaceId: string, profileIds: readonly string[]): Promise<Map<string, Profile>> {
    const found = new Map<string, Profile>();
    const missing: string[] = [];
    for (const id of profileIds) {
      if (this.mergedInto.has(cacheKey(workspaceId, id))) continue;
      const cached = this.profiles.get(cacheKey(workspaceId, id));
      if (cached) found.set(id, cached);
      else missing.push(id);
    }
    if (missing.length > 0) for (const [id, p] of await this.store.profiles.getProfiles(workspaceId, missing)) found.set(id, p);
    return found;
  }

  /**
   * The identity keys of a profile, checkpointed or not: the stored links of the profile and of
   * the profiles merged into it since the checkpoint, corrected by the links not yet written.
   */
  async identitiesOf(workspaceId: string, profileId: string): Promise<string[]> {
    if (this.mergedInto.has(cacheKey(workspaceId, profileId))) return [];
    const sources = [profileId, ...this.pendingMerges.filter((m) => m.workspaceId === workspaceId && this.finalTarget(workspaceId, m.from) === profileId).map((m) => m.from)];
    const keys = new Set<string>();
    for (const source of sources) for (const key of await this.store.profiles.identitiesOf(workspaceId, source)) keys.add(key);
    for (const link of this.pendingLinks.values()) {
      if (link.workspaceId !== workspaceId) continue;
      if (link.profileId === profileId) keys.add(link.key);
      else keys.delete(link.key);
    }
    return [...keys].sort();
  }

  /** Where a profile's data lives now, following merges not yet written. */
  private finalTarget(workspaceId: string, profileId: string): string {
    let id = profileId;
    for (let to = this.mergedInto.get(cacheKey(workspaceId, id)); to !== undefined; to = this.mergedInto.get(cacheKey(workspaceId, id))) id = to;
    return id;
  }

  /** Takes in what a flush changed; it stays dirty until `checkpoint`. */
  apply(changes: ChangeSet): void {
    for (const m of changes.merges) {
      this.profiles.delete(cacheKey(m.workspaceId, m.from));
      this.dirtyProfiles.delete(cacheKey(m.workspaceId, m.from));
      const prefix = `${m.workspaceId}\u0000`;
      for (const [key, id] of this.identities) if (id === m.from && key.startsWith(prefix)) this.identities.set(key, m.to);
      for (const link of this.pendingLinks.values()) if (link.workspaceId === m.workspaceId && link.profileId === m.from) link.profileId = m.to;
      this.pendingMerges.push(m);
      this.mergedInto.set(cacheKey(m.workspaceId, m.from), m.to);
    }
    for (const l of changes.identities) {
      const key = cacheKey(l.workspaceId, l.key);
      this.identities.set(key, l.profileId);
      this.pendingLinks.set(key, { ...l });
    }
    for (const p of changes.profiles) {
      const key = cacheKey(p.workspaceId, p.profileId);
      this.profiles.set(key, p);
      this.dirtyProfiles.add(key);
    }
  }

  /** Writes every dirty entry with the log position it reflects, then evicts clean excess. */
  async checkpoint(position: number): Promise<void> {
    const commit: Commit = {
      events: [],
      merges: this.pendingMerges,
      identities: [...this.pendingLinks.values()],
      profiles: [...this.dirtyProfiles].map((key) => this.profiles.get(key)!),
      checkpoint: position,
    };
    await this.store.commit(commit);
    this.pendingMerges = [];
    this.mergedInto = new Map();
    this.pendingLinks = new Map();
    this.dirtyProfiles = new Set();
    dropOldest(this.profiles, this.maxProfiles);
    dropOldest(this.identities, this.maxProfiles * 2);
  }

  /** Forgets everything; only safe right after a checkpoint, when nothing is dirty. */
  clear(): void {
    if (this.dirtyCount > 0) throw new Error('ProfileCache.clear with unsaved changes');
    this.profiles.clear();
    this.identities.clear();
  }
}

const cacheKey = (workspaceId: string, id: string): string => `${workspaceId}\u0000${id}`;

function dropOldest<K, V>(map: Map<K, V>, max: number): void {
  if (map.size <= max) return;
  let excess = map.size - Math.floor(max * 0.9);
  for (const key of map.keys()) {
    if (excess-- <= 0) break;
    map.delete(key);
  }
}
