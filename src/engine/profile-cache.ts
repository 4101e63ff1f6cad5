/**
 * The engine's working set of profiles and identity links.
 *
 * Profiles and identity links are derived from the event log and written behind it: a flush
 * changes them here (they become dirty), and checkpoints write them to the store in slices of a
 * bounded size, so no single write stalls ingestion. This cache, not the store, is the truth for
 * dirty entries, and only clean entries are ever evicted. Everything not here is read from the
 * store, which is then up to date.
 *
 * Glossary
 * - group: dirty profiles, identity links and merges that reach the store in one commit, stored
 *   with the log position they are folded up to (`Commit.profilesAt`). A profile joins the group
 *   of another when one event read or re-linked both (`ChangeSet.coupled`), when one is merged
 *   into the other, when an identity key moves from one to the other, or when a key that an event
 *   of the group found unlinked (`ChangeSet.absentKeys`) is linked to it. Writing whole groups is
 *   what makes the replay rule sound: after a crash, an event is skipped when its profile is
 *   stored folded through the event, and then everything the event read or changed is stored as
 *   of that position or later; otherwise nothing it read or changed is stored past it, and folding
 *   it again gives what it gave the first time.
 * - cleanThrough: the log position before a group's first unwritten change. The replay start
 *   (`Commit.checkpoint`) is the smallest over the groups still dirty: groups are kept oldest
 *   first, so it is the first one's.
 *
 * States of a profile: absent -> clean (loaded) -> dirty (in a group) -> clean (group written).
 */
import { anonKey, userKey, type ChangeSet, type IdentityLink, type ProfileMerge } from '../core/ingest-fold.js';
import type { Profile } from '../core/profile.js';
import type { Store } from '../ports/store.js';

interface DirtyGroup {
  /** Creation order: a checkpoint round covers the groups up to a sequence number. */
  readonly seq: number;
  readonly cleanThrough: number;
  // Arrays, not sets: most groups are one profile and its link, and there is one per dirty user.
  /** Cache keys of the profiles (dirty, or read by a dirty change); merged-away ones leave. */
  readonly profiles: string[];
  /** Cache keys of the pending links, all pointing at profiles of this group, each once. */
  readonly links: string[];
  /** Cache keys of identity keys events of this group found unlinked (see `absentReaders`). */
  absent: string[] | null;
  merges: { order: number; merge: ProfileMerge }[] | null;
}

export interface SliceWritten {
  /** The replay start recorded with the slice. */
  checkpoint: number;
  /** Groups of the round are still unwritten. */
  more: boolean;
}

export class ProfileCache {
  private readonly profiles = new Map<string, Profile>();
  private readonly identities = new Map<string, string>();
  private readonly pendingLinks = new Map<string, IdentityLink>();
  /** Pending merges by source, so a stale link read from the store is forwarded to the target. */
  private readonly mergedInto = new Map<string, string>();
  /** Oldest first. */
  private readonly groups = new Set<DirtyGroup>();
  private readonly groupOf = new Map<string, DirtyGroup>();
  /** By identity key (cache key), the profiles whose dirty events found it unlinked. */
  private readonly absentReaders = new Map<string, string[]>();
  private pendingMerges = 0;
  private nextSeq = 1;
  private nextMergeOrder = 1;

  constructor(
    private readonly store: Store,
    private readonly maxProfiles: number,
  ) {}

  /** Entries changed since they were last written. */
  get dirtyCount(): number {
    return this.groupOf.size + this.pendingLinks.size + this.pendingMerges;
  }

  /** The sequence number of the newest group (0 if none): a round started now covers up to it. */
  get newestGroup(): number {
    return this.nextSeq - 1;
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
   * the profiles merged into it since they were written, corrected by the links not yet written.
   */
  async identitiesOf(workspaceId: string, profileId: string): Promise<string[]> {
    if (this.mergedInto.has(cacheKey(workspaceId, profileId))) return [];
    const merges = this.groupOf.get(cacheKey(workspaceId, profileId))?.merges ?? [];
    const sources = [profileId, ...merges.filter(({ merge: m }) => this.finalTarget(workspaceId, m.from) === profileId).map(({ merge: m }) => m.from)];
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

  /**
   * Takes in what a flush changed; it stays dirty until its group is written. `position` is the
   * log position before the flush's events (or earlier): the replay start that rebuilds them.
   */
  apply(changes: ChangeSet, position: number): void {
    for (const m of changes.merges) {
      const from = cacheKey(m.workspaceId, m.from);
      const group = this.join(from, cacheKey(m.workspaceId, m.to), position);
      this.profiles.delete(from);
      const at = group.profiles.indexOf(from);
      if (at >= 0) group.profiles.splice(at, 1);
      this.groupOf.delete(from);
      const prefix = `${m.workspaceId}\u0000`;
      for (const [key, id] of this.identities) if (id === m.from && key.startsWith(prefix)) this.identities.set(key, m.to);
      for (const key of group.links) {
        const link = this.pendingLinks.get(key)!;
        if (link.profileId === m.from) link.profileId = m.to;
      }
      (group.merges ??= []).push({ order: this.nextMergeOrder++, merge: { ...m } });
      this.pendingMerges++;
      this.mergedInto.set(from, m.to);
    }
    for (const c of changes.coupled ?? []) {
      const ws = c.workspaceId;
      this.join(cacheKey(ws, this.finalTarget(ws, c.read)), cacheKey(ws, this.finalTarget(ws, c.changed)), position);
    }
    for (const a of changes.absentKeys ?? []) {
      const key = cacheKey(a.workspaceId, a.key);
      const reader = this.finalTarget(a.workspaceId, a.readBy);
      (this.groupFor(cacheKey(a.workspaceId, reader), position).absent ??= []).push(key);
      const readers = this.absentReaders.get(key);
      if (readers) readers.push(reader);
      else this.absentReaders.set(key, [reader]);
    }
    for (const l of changes.identities) {
      const ws = l.workspaceId;
      const key = cacheKey(ws, l.key);
      const target = cacheKey(ws, l.profileId);
      const previous = this.identities.get(key);
      // A key taken from another profile: both go to the store together.
      let group =
        previous !== undefined && previous !== l.profileId
          ? this.join(cacheKey(ws, this.finalTarget(ws, previous)), target, position)
          : this.groupFor(target, position);
      // A key dirty events found unlinked: their profiles go with the one it now points at.
      for (const reader of this.absentReaders.get(key) ?? []) {
        const readerKey = cacheKey(ws, this.finalTarget(ws, reader));
        if (this.groupOf.has(readerKey)) group = this.join(readerKey, target, position);
      }
      this.absentReaders.delete(key);
      this.identities.set(key, l.profileId);
      // A key already pending points at a profile of this group (it was joined above): listed.
      if (!this.pendingLinks.has(key)) group.links.push(key);
      this.pendingLinks.set(key, { ...l });
    }
    for (const p of changes.profiles) {
      const key = cacheKey(p.workspaceId, p.profileId);
      this.profiles.set(key, p);
      this.groupFor(key, position);
    }
  }

  /**
   * Writes the oldest dirty groups, those up to sequence number `upToSeq`, about `maxRows`
   * profiles, links and merges (at least one group), in one commit: the profiles as folded up to
   * `position` (every event up to it must be in the log and folded), with the replay start the
   * groups left dirty need.
   */
  async writeSlice(position: number, maxRows: number, upToSeq: number): Promise<SliceWritten> {
    const taken: DirtyGroup[] = [];
    let rows = 0;
    let next: DirtyGroup | undefined;
    for (const g of this.groups) {
      if (g.seq > upToSeq || (taken.length > 0 && rows + sizeOf(g) > maxRows)) {
        next = g;
        break;
      }
      taken.push(g);
      rows += sizeOf(g);
    }
    const checkpoint = next?.cleanThrough ?? position;
    const profiles: Profile[] = [];
    const identities: IdentityLink[] = [];
    const merges: { order: number; merge: ProfileMerge }[] = [];
    for (const g of taken) {
      for (const key of g.profiles) {
        const p = this.profiles.get(key);
        if (p) profiles.push(p);
      }
      for (const key of g.links) identities.push(this.pendingLinks.get(key)!);
      if (g.merges) merges.push(...g.merges);
    }
    merges.sort((a, b) => a.order - b.order);
    await this.store.commit({ events: [], merges: merges.map((m) => m.merge), identities, profiles, checkpoint, profilesAt: position });
    for (const g of taken) {
      this.groups.delete(g);
      for (const key of g.profiles) this.groupOf.delete(key);
      for (const key of g.links) this.pendingLinks.delete(key);
      for (const { merge: m } of g.merges ?? []) this.mergedInto.delete(cacheKey(m.workspaceId, m.from));
      this.pendingMerges -= g.merges?.length ?? 0;
    }
    for (const g of taken) for (const key of g.absent ?? []) this.forgetWrittenReaders(key);
    return { checkpoint, more: next !== undefined && next.seq <= upToSeq };
  }

  /** Drops clean entries beyond the size limit, oldest loaded first. */
  evict(): void {
    dropOldest(this.profiles, this.maxProfiles, (key) => this.groupOf.has(key));
    dropOldest(this.identities, this.maxProfiles * 2, (key) => this.pendingLinks.has(key));
  }

  /** Forgets everything; only safe when nothing is dirty. */
  clear(): void {
    if (this.dirtyCount > 0) throw new Error('ProfileCache.clear with unsaved changes');
    this.profiles.clear();
    this.identities.clear();
  }

  /** Drops the readers of an unlinked key whose groups are written: nothing of theirs is pending. */
  private forgetWrittenReaders(key: string): void {
    const readers = this.absentReaders.get(key);
    if (!readers) return;
    const ws = key.slice(0, key.indexOf('\u0000'));
    const dirty = readers.filter((r) => this.groupOf.has(cacheKey(ws, this.finalTarget(ws, r))));
    if (dirty.length > 0) this.absentReaders.set(key, dirty);
    else this.absentReaders.delete(key);
  }

  private groupFor(key: string, position: number): DirtyGroup {
    let g = this.groupOf.get(key);
    if (!g) {
      g = { seq: this.nextSeq++, cleanThrough: position, profiles: [key], links: [], absent: null, merges: null };
      this.groups.add(g);
      this.groupOf.set(key, g);
    }
    return g;
  }

  /** One group for both profiles: the older one takes in the newer, so groups stay oldest first. */
  private join(a: string, b: string, position: number): DirtyGroup {
    const ga = this.groupFor(a, position);
    const gb = this.groupFor(b, position);
    if (ga === gb) return ga;
    const [keep, drop] = ga.seq < gb.seq ? [ga, gb] : [gb, ga];
    for (const key of drop.profiles) {
      keep.profiles.push(key);
      this.groupOf.set(key, keep);
    }
    keep.links.push(...drop.links);
    if (drop.absent) (keep.absent ??= []).push(...drop.absent);
    if (drop.merges) (keep.merges ??= []).push(...drop.merges);
    this.groups.delete(drop);
    return keep;
  }
}

const cacheKey = (workspaceId: string, id: string): string => `${workspaceId}\u0000${id}`;

const sizeOf = (g: DirtyGroup): number => g.profiles.length + g.links.length + (g.merges?.length ?? 0);

function dropOldest<K, V>(map: Map<K, V>, max: number, keep: (key: K) => boolean): void {
  if (map.size <= max) return;
  let excess = map.size - Math.floor(max * 0.9);
  for (const key of map.keys()) {
    if (excess <= 0) break;
    if (keep(key)) continue;
    map.delete(key);
    excess--;
  }
}
