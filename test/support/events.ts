/**
 * Builders for tests below the HTTP layer: normalised events, and `ingest`, which turns events
 * into a change set with the real core (identities and profiles read from the store, as the
 * pipeline does on a cold cache) and commits it.
 */
import type { EventType, NudgeEvent } from '../../src/core/event.js';
import { foldEvents, identityKeysOf, type ChangeSet } from '../../src/core/ingest-fold.js';
import { defaultProfileOptions, type ProfileOptions } from '../../src/core/profile.js';
import type { Store } from '../../src/ports/store.js';

export const t0 = Date.UTC(2025, 0, 6, 9, 0, 0);
export const minute = 60_000;

let nextId = 0;

export interface EventSpec extends Partial<Omit<NudgeEvent, 'type'>> {
  type?: EventType;
  /** Minutes after t0, a shorthand for timestamp (and receivedAt unless given). */
  at?: number;
}

export function event(spec: EventSpec): NudgeEvent {
  const { at, ...rest } = spec;
  const timestamp = rest.timestamp ?? t0 + (at ?? 0) * minute;
  return {
    workspaceId: 'w1',
    messageId: `m${++nextId}`,
    type: 'track',
    name: rest.type && rest.type !== 'track' ? '' : 'viewed',
    userId: null,
    anonymousId: null,
    previousId: null,
    groupId: null,
    properties: {},
    traits: {},
    context: {},
    receivedAt: timestamp,
    ...rest,
    timestamp,
  };
}

/** Folds one batch of one workspace against what the store holds. */
export async function foldAgainst(store: Store, workspaceId: string, events: readonly NudgeEvent[], options: ProfileOptions = defaultProfileOptions): Promise<ChangeSet> {
  const identities = await store.profiles.resolveIdentities(workspaceId, [...new Set(events.flatMap(identityKeysOf))]);
  const profiles = await store.profiles.getProfiles(workspaceId, [...new Set(identities.values())]);
  return foldEvents({ workspaceId, events, identities, profiles }, options);
}

export async function ingest(store: Store, events: readonly NudgeEvent[], options?: ProfileOptions): Promise<ChangeSet> {
  const workspaceId = events[0]?.workspaceId ?? 'w1';
  const changes = await foldAgainst(store, workspaceId, events, options);
  await store.commit(changes);
  return changes;
}
