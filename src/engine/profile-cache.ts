/**
 * The engine's working set of committed profiles and identity links, so a hot user's events do
 * not read the store. Only committed state enters it (after `Store.commit` resolves). Bounded:
 * past `maxProfiles` the oldest entries are dropped and read again from the store when needed.
 */
import type { ChangeSet } from '../core/ingest-fold.js';
import type { Profile } from '../core/profile.js';
import type { Store } from '../ports/store.js';

export class ProfileCache {
  private readonly profiles = new Map<string, Profile>();
  private readonly identities = new Map<string, string>();

  constructor(
    private readonly store: Store,
    private readonly maxProfiles: number,
  ) {}

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
      for (const [key, id] of found) identities.set(key, id);
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
    for (const [key, id] of identities) this.identities.set(cacheKey(workspaceId, key), id);
    this.evict();
    return { identities, profiles };
  }

  /** Takes in what a commit made true. */
  committed(changes: ChangeSet): void {
    for (const m of changes.merges) {
      this.profiles.delete(cacheKey(m.workspaceId, m.from));
      // Links to the merged profile moved in the store; drop ours so they are read again.
      const prefix = `${m.workspaceId}\u0000`;
      for (const [key, id] of this.identities) if (id === m.from && key.startsWith(prefix)) this.identities.delete(key);
    }
    for (const l of changes.identities) this.identities.set(cacheKey(l.workspaceId, l.key), l.profileId);
    for (const p of changes.profiles) this.profiles.set(cacheKey(p.workspaceId, p.profileId), p);
    this.evict();
  }

  /** Drops everything (after a failed commit, or an erasure). */
  clear(): void {
    this.profiles.clear();
    this.identities.clear();
  }

  private evict(): void {
    dropOldest(this.profiles, this.maxProfiles);
    dropOldest(this.identities, this.maxProfiles * 2);
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
