/**
 * Folds a batch of events into profiles: identity resolution, merges and computed attributes.
 * Pure: everything it may read is passed in (preloaded by the engine), everything it decides is
 * returned as a `ChangeSet` for the store to commit atomically.
 *
 * Identity keys are `u:<userId>` and `a:<anonymousId>`; each points at one profile. A profile's id
 * is the identity key that created it and never changes, so identifying an anonymous visitor only
 * links `u:<userId>` to the existing profile. Two existing profiles are merged (the source's events
 * and identities move to the target, the source is deleted) when
 * - an event carries a userId and an anonymousId whose profile has no userId yet, or
 * - an alias call names them (previousId -> userId), whatever they hold.
 *
 * With phase rules, a stored event whose profile changed phase up to and by it carries the changes
 * in `context.phaseChanges` (see phases.ts), so the log shows them on the timeline; the fold alone
 * writes that key, whatever a sender put there.
 */
import { EventType, type NudgeEvent, type StoredEvent } from './event.js';
import type { PhaseChange } from './phases.js';
import { applyEvent, draftOf, emptyProfile, mergeProfileInto, type Profile, type ProfileOptions } from './profile.js';

export interface IdentityLink {
  workspaceId: string;
  key: string;
  profileId: string;
}

export interface ProfileMerge {
  workspaceId: string;
  from: string;
  to: string;
}

/** Everything one ingest flush changes; a store commits it all or nothing. */
export interface ChangeSet {
  events: StoredEvent[];
  profiles: Profile[];
  identities: IdentityLink[];
  /** Applied before `profiles`: moves the source's events and identities, deletes the source. */
  merges: ProfileMerge[];
  /**
   * For each of `events`, the profile as it was right after that event (what a trigger condition
   * sees). Not stored: the folded `profiles` are. Shared with `profiles` where nothing came later.
   */
  profileAfter?: Profile[];
  /**
   * Profiles an event read or took an identity key from besides the profile it changed: what the
   * event did depends on both, so their derived state must reach the store together (the engine
   * writes it behind the log in slices, see ProfileCache). Not stored.
   */
  coupled?: ProfileCoupling[];
  /**
   * Identity keys an event looked up, found unlinked and left so: what it did depends on that, so
   * whichever profile a key is linked to later must reach the store with the event's profile.
   */
  absentKeys?: AbsentKey[];
}

export interface ProfileCoupling {
  workspaceId: string;
  read: string;
  changed: string;
}

export interface AbsentKey {
  workspaceId: string;
  key: string;
  /** The profile the event changed. */
  readBy: string;
}

export const userKey = (userId: string): string => `u:${userId}`;
export const anonKey = (anonymousId: string): string => `a:${anonymousId}`;

/** The identity keys an event may resolve through; the engine preloads them. */
export function identityKeysOf(event: NudgeEvent): string[] {
  const keys: string[] = [];
  if (event.userId) keys.push(userKey(event.userId));
  if (event.anonymousId) keys.push(anonKey(event.anonymousId));
  if (event.previousId) keys.push(userKey(event.previousId), anonKey(event.previousId));
  return keys;
}

export interface FoldInput {
  workspaceId: string;
  events: readonly NudgeEvent[];
  /** Preloaded identity links of this workspace (missing key = no link). */
  identities: ReadonlyMap<string, string>;
  /** Preloaded profiles by id, for every profile an identity above points at. */
  profiles: ReadonlyMap<string, Profile>;
}

export function foldEvents(input: FoldInput, options: ProfileOptions): ChangeSet {
  const { workspaceId } = input;
  const links = new Map<string, string>();
  const drafts = new Map<string, Profile>();
  const deleted = new Set<string>();
  const changes: ChangeSet = { events: [], profiles: [], identities: [], merges: [] };
  const coupled: ProfileCoupling[] = [];
  /** Profiles the current event resolved or took a key from; most events touch one profile only. */
  const touched: string[] = [];
  /** Keys the current event found unlinked. */
  const unlinked: string[] = [];
  const absentKeys: AbsentKey[] = [];
  const after: (Profile | undefined)[] = [];
  /** Per profile, the index of its latest event in this batch, whose snapshot is not yet taken. */
  const latest = new Map<string, number>();

  const resolve = (key: string): string | undefined => links.get(key) ?? input.identities.get(key);
  const link = (key: string, profileId: string): void => {
    const previous = resolve(key);
    if (previous === profileId) return;
    if (previous !== undefined) touched.push(previous);
    links.set(key, profileId);
    changes.identities.push({ workspaceId, key, profileId });
  };
  const draft = (profileId: string): Profile | undefined => {
    let d = drafts.get(profileId);
    if (!d && !deleted.has(profileId)) {
      const stored = input.profiles.get(profileId);
      if (stored) {
        d = draftOf(stored);
        drafts.set(profileId, d);
      }
    }
    return d;
  };
  const create = (key: string, at: number): Profile => {
    const p = emptyProfile(workspaceId, key, at);
    drafts.set(key, p);
    link(key, key);
    return p;
  };
  const merge = (from: Profile, into: Profile): void => {
    mergeProfileInto(into, from);
    changes.merges.push({ workspaceId, from: from.profileId, to: into.profileId });
    drafts.delete(from.profileId);
    deleted.add(from.profileId);
    for (const [key, id] of links) if (id === from.profileId) links.set(key, into.profileId);
    // Stored links to the source move in the store; later events of this batch must follow them
    // too, or they would find no profile and create the deleted one again.
    for (const [key, id] of input.identities) if (id === from.profileId && !links.has(key)) links.set(key, into.profileId);
    for (const l of changes.identities) if (l.profileId === from.profileId) l.profileId = into.profileId;
    for (const e of changes.events) if (e.profileId === from.profileId) e.profileId = into.profileId;
  };
  const find = (key: string | null): Profile | undefined => {
    if (key === null) return undefined;
    const id = resolve(key);
    if (id === undefined) {
      unlinked.push(key);
      return undefined;
    }
    touched.push(id);
    return draft(id);
  };

  for (const event of input.events) {
    const uKey = event.userId ? userKey(event.userId) : null;
    const aKey = event.anonymousId ? anonKey(event.anonymousId) : null;
    let profile: Profile;

    if (event.type === EventType.alias && event.previousId && uKey) {
      const target = find(uKey);
      const source = find(userKey(event.previousId)) ?? find(anonKey(event.previousId));
      if (target && source && target !== source) {
        merge(source, target);
        profile = target;
      } else {
        profile = target ?? source ?? create(uKey, event.timestamp);
        link(uKey, profile.profileId);
        if (!source) link(anonKey(event.previousId), profile.profileId);
      }
      if (profile.userId !== event.userId) profile.userId = event.userId;
      if (aKey) link(aKey, profile.profileId);
    } else {
      const byUser = find(uKey);
      const byAnon = find(aKey);
      if (byUser && byAnon && byUser !== byAnon) {
        if (byAnon.userId === null) merge(byAnon, byUser);
        profile = byUser;
      } else if (byUser) {
        profile = byUser;
        if (aKey && !byAnon) link(aKey, profile.profileId);
      } else if (byAnon && (!uKey || byAnon.userId === null || byAnon.userId === event.userId)) {
        profile = byAnon;
        if (uKey) link(uKey, profile.profileId);
      } else {
        // Nobody yet, or a new user on a device whose anonymous id belongs to someone identified.
        profile = create((uKey ?? aKey)!, event.timestamp);
        if (uKey && aKey && !byAnon) link(aKey, profile.profileId);
      }
    }

    // A profile's earlier event in this batch gets a snapshot before the profile changes again;
    // the last event of each profile shares the final draft, so a lone event costs no copy.
    const previous = latest.get(profile.profileId);
    if (previous !== undefined && after[previous] === undefined) after[previous] = structuredClone(profile);
    const phaseChanges = applyEvent(profile, event, options);
    latest.set(profile.profileId, changes.events.length);
    changes.events.push(options.phases ? withPhaseChanges(event, profile.profileId, phaseChanges) : { ...event, profileId: profile.profileId });
    after.push(undefined);
    for (const id of touched) if (id !== profile.profileId) coupled.push({ workspaceId, read: id, changed: profile.profileId });
    for (const key of unlinked) if (resolve(key) !== profile.profileId) absentKeys.push({ workspaceId, key, readBy: profile.profileId });
    touched.length = 0;
    unlinked.length = 0;
  }

  changes.profiles = [...drafts.values()];
  changes.coupled = coupled;
  changes.absentKeys = absentKeys;
  changes.profileAfter = changes.events.map((e, i) => after[i] ?? drafts.get(e.profileId)!);
  return changes;
}

function withPhaseChanges(event: NudgeEvent, profileId: string, phaseChanges: readonly PhaseChange[]): StoredEvent {
  if (phaseChanges.length === 0 && !Object.hasOwn(event.context, 'phaseChanges')) return { ...event, profileId };
  const context = { ...event.context };
  if (phaseChanges.length > 0) context['phaseChanges'] = phaseChanges;
  else delete context['phaseChanges'];
  return { ...event, profileId, context };
}
