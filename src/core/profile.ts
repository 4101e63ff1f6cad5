/**
 * A user's live profile and the pure functions that keep it current.
 *
 * Computed attributes are order-insensitive where they can be (counts, sums, first/last times use
 * min/max of event timestamps, latest values the latest timestamp), so a late event lands where its
 * timestamp puts it. Session and last-page state only move forward: an event older than the
 * current session updates counts but does not reopen an old session. The behavioral phase is
 * evaluated at the latest event time the profile has seen (phases.ts).
 */
import { EventType, eventKey, type JsonObject, type NudgeEvent } from './event.js';
import { advancePhase, phaseChangesUntil, type PhaseChange, type PhaseRules } from './phases.js';

export interface EventStats {
  count: number;
  firstAt: number;
  lastAt: number;
  /** Sums of the numeric properties named in `ProfileOptions.sumProperties`. */
  sums: Record<string, number>;
}

export interface PageVisit {
  url: string | null;
  path: string | null;
  title: string | null;
  name: string | null;
  enteredAt: number;
  /** Set when the visit ended: by a leave event (its measured dwell when given) or the next page. */
  dwellMs: number | null;
}

export interface Session {
  id: string;
  startedAt: number;
  lastEventAt: number;
  eventCount: number;
  pageCount: number;
  /** Page and screen views of this session by their name (unnamed ones count in `pageCount` only). */
  pages: Record<string, number>;
}

/** A value kept from events (`ProfileOptions.latest`): null after an event that clears it. */
export interface LatestValue {
  value: unknown;
  /** The time of the event that set or cleared it. */
  at: number;
}

export interface ComputedAttributes {
  firstSeenAt: number;
  lastSeenAt: number;
  eventCount: number;
  /** Per event key: the track event's name, or `$page`, `$identify`, … for other calls. */
  events: Record<string, EventStats>;
  /** Sums over all events of the numeric properties named in `sumProperties`. */
  totals: Record<string, number>;
  sessionCount: number;
  session: Session | null;
  lastPage: PageVisit | null;
  timezone: string | null;
  locale: string | null;
  /** By name, the values `ProfileOptions.latest` keeps. */
  latest: Record<string, LatestValue>;
  /** The behavioral phase as of `lastSeenAt` and since when (phases.ts); null without phase rules. */
  phase: string | null;
  phaseSince: number | null;
}

export interface Profile {
  workspaceId: string;
  profileId: string;
  /** The known user id, once the profile has been identified. */
  userId: string | null;
  anonymousIds: string[];
  traits: JsonObject;
  computed: ComputedAttributes;
  createdAt: number;
  updatedAt: number;
}

export interface ProfileOptions {
  /** Inactivity after which the next event starts a new session. Default 30 minutes. */
  sessionTimeoutMs: number;
  /** Numeric event properties summed per event and in total. Default revenue, value, quantity. */
  sumProperties: readonly string[];
  /** Track events that end the current page visit. */
  pageLeaveEvents: readonly string[];
  /** Values kept from the latest event that carries them, by name (`computed.latest`). Default none. */
  latest: readonly LatestDefinition[];
  /** Behavioral phase rules (`compilePhases`); null (the default): no phases. */
  phases: PhaseRules | null;
}

/**
 * `computed.latest[name]`: the value of `property` on the latest `event` that has it, or null after
 * a later event of `clearedBy`. Events are named by their key, as in `computed.events`.
 */
export interface LatestDefinition {
  name: string;
  event: string;
  property: string;
  clearedBy: readonly string[];
}

export const defaultProfileOptions: ProfileOptions = {
  sessionTimeoutMs: 30 * 60_000,
  sumProperties: ['revenue', 'value', 'quantity'],
  pageLeaveEvents: ['page_left', 'Page Left', '$pageleave'],
  latest: [],
  phases: null,
};

export function emptyProfile(workspaceId: string, profileId: string, at: number): Profile {
  return {
    workspaceId,
    profileId,
    userId: null,
    anonymousIds: [],
    traits: {},
    computed: {
      firstSeenAt: at,
      lastSeenAt: at,
      eventCount: 0,
      events: {},
      totals: {},
      sessionCount: 0,
      session: null,
      lastPage: null,
      timezone: null,
      locale: null,
      latest: {},
      phase: null,
      phaseSince: null,
    },
    createdAt: at,
    updatedAt: at,
  };
}

/**
 * A copy that `applyEvent` and `mergeProfileInto` may change without touching the original.
 * Per-event statistics are shared with the original and replaced, never changed in place.
 */
export function draftOf(profile: Profile): Profile {
  const c = profile.computed;
  return {
    ...profile,
    anonymousIds: [...profile.anonymousIds],
    traits: { ...profile.traits },
    computed: {
      ...c,
      events: { ...c.events },
      totals: { ...c.totals },
      session: c.session && { ...c.session, pages: { ...c.session.pages } },
      lastPage: c.lastPage && { ...c.lastPage },
      latest: { ...c.latest },
    },
  };
}

const forbiddenKeys = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Event keys and page names are chosen by senders ("__proto__", "toString" …): read and write them
 * as own properties only, so a name never reaches or replaces an object's prototype.
 */
function own<T>(record: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function setOwn<T>(record: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Shallow-merges traits, ignoring keys that could reach an object's prototype. */
export function mergeTraits(into: JsonObject, traits: JsonObject): void {
  for (const key of Object.keys(traits)) {
    if (!forbiddenKeys.has(key)) into[key] = traits[key];
  }
}

/**
 * Applies one event to a draft (see `draftOf`), in place. Deterministic: no clock, no I/O. Returns
 * the phase changes up to and by this event, oldest first (none without phase rules).
 */
export function applyEvent(draft: Profile, event: NudgeEvent, options: ProfileOptions): readonly PhaseChange[] {
  const c = draft.computed;
  const ts = event.timestamp;
  const isLatest = ts >= c.lastSeenAt || c.eventCount === 0;
  const phases = options.phases;
  const timeDriven = phases && phaseChangesUntil(draft, phases, ts);

  // `context.active: false` (Segment's flag) marks an event that is not the user acting: Nudge's
  // own record of a message sent, or a trait update from a backend. It is counted, but it moves
  // neither "last seen", nor the session, nor the page visit.
  const active = event.context['active'] !== false;
  if (c.eventCount === 0) {
    c.firstSeenAt = ts;
    c.lastSeenAt = ts;
  } else if (active) {
    if (ts < c.firstSeenAt) c.firstSeenAt = ts;
    if (ts > c.lastSeenAt) c.lastSeenAt = ts;
  }
  c.eventCount += 1;
  if (event.receivedAt > draft.updatedAt) draft.updatedAt = event.receivedAt;

  if (event.userId && !draft.userId) draft.userId = event.userId;
  if (event.anonymousId && !draft.anonymousIds.includes(event.anonymousId)) draft.anonymousIds.push(event.anonymousId);

  const key = eventKey(event);
  countEvent(c, key, ts, event.properties, options.sumProperties);
  if (options.latest.length > 0) updateLatest(c, key, ts, event.properties, options.latest);

  if (event.type === EventType.identify || event.type === EventType.alias) mergeTraits(draft.traits, event.traits);
  const contextTraits = event.context['traits'];
  if (contextTraits && typeof contextTraits === 'object' && event.type !== EventType.identify) {
    mergeTraits(draft.traits, contextTraits as JsonObject);
  }

  if (isLatest) {
    const timezone = stringOr(event.context['timezone']) ?? stringOr(event.traits['timezone']);
    if (timezone) c.timezone = timezone;
    const locale = stringOr(event.context['locale']) ?? stringOr(event.traits['locale']);
    if (locale) c.locale = locale;
  }

  if (active) {
    updateSession(c, event, options.sessionTimeoutMs);
    updatePage(c, event, options.pageLeaveEvents);
  }
  return phases && timeDriven ? advancePhase(draft, phases, timeDriven) : noPhaseChanges;
}

const noPhaseChanges: readonly PhaseChange[] = Object.freeze([]);

function countEvent(c: ComputedAttributes, key: string, ts: number, properties: JsonObject, sumProperties: readonly string[]): void {
  const old = own(c.events, key);
  const stats: EventStats = old
    ? { count: old.count + 1, firstAt: Math.min(old.firstAt, ts), lastAt: Math.max(old.lastAt, ts), sums: old.sums }
    : { count: 1, firstAt: ts, lastAt: ts, sums: {} };
  for (const name of sumProperties) {
    const value = properties[name];
    if (typeof value === 'number' && Number.isFinite(value)) {
      if (stats.sums === old?.sums) stats.sums = { ...stats.sums };
      stats.sums[name] = (stats.sums[name] ?? 0) + value;
      c.totals[name] = (c.totals[name] ?? 0) + value;
    }
  }
  setOwn(c.events, key, stats);
}

function updateLatest(c: ComputedAttributes, key: string, ts: number, properties: JsonObject, definitions: readonly LatestDefinition[]): void {
  for (const d of definitions) {
    const value = d.event === key && Object.hasOwn(properties, d.property) ? properties[d.property] : d.clearedBy.includes(key) ? null : undefined;
    if (value === undefined) continue;
    const old = own(c.latest, d.name);
    if (!old || ts >= old.at) setOwn(c.latest, d.name, { value, at: ts });
  }
}

function updateSession(c: ComputedAttributes, event: NudgeEvent, timeoutMs: number): void {
  const ts = event.timestamp;
  const explicitId = stringOr(event.context['sessionId']) ?? stringOr(event.properties['$session_id']);
  const s = c.session;
  if (s && ts < s.lastEventAt) {
    // A late event: it belongs to this session only if it falls inside it.
    if (ts >= s.startedAt) s.eventCount += 1;
    return;
  }
  const startsNew = !s || (explicitId ? explicitId !== s.id : ts - s.lastEventAt > timeoutMs);
  if (startsNew) {
    c.session = { id: explicitId ?? `s${ts}`, startedAt: ts, lastEventAt: ts, eventCount: 1, pageCount: 0, pages: {} };
    c.sessionCount += 1;
  } else {
    s!.lastEventAt = ts;
    s!.eventCount += 1;
  }
  if (event.type === EventType.page || event.type === EventType.screen) {
    const session = c.session!;
    session.pageCount += 1;
    if (event.name) setOwn(session.pages, event.name, (own(session.pages, event.name) ?? 0) + 1);
  }
}

function updatePage(c: ComputedAttributes, event: NudgeEvent, leaveEvents: readonly string[]): void {
  const ts = event.timestamp;
  const last = c.lastPage;
  if (event.type === EventType.page || event.type === EventType.screen) {
    if (last && ts < last.enteredAt) return;
    if (last && last.dwellMs === null) last.dwellMs = ts - last.enteredAt;
    const p = event.properties;
    c.lastPage = {
      url: stringOr(p['url']) ?? stringOr(p['$current_url']),
      path: stringOr(p['path']) ?? stringOr(p['$pathname']),
      title: stringOr(p['title']),
      name: event.name || null,
      enteredAt: ts,
      dwellMs: null,
    };
    return;
  }
  if (event.type === EventType.track && last && ts >= last.enteredAt && leaveEvents.includes(event.name)) {
    // A leave that names its page (a beacon delayed past the next page view) is not this page's.
    const path = stringOr(event.properties['path']) ?? stringOr(event.properties['$pathname']);
    if (path !== null && last.path !== null && path !== last.path) return;
    const measured = event.properties['dwellMs'] ?? event.properties['dwell_ms'];
    last.dwellMs = typeof measured === 'number' && Number.isFinite(measured) && measured >= 0 ? measured : ts - last.enteredAt;
  }
}

/**
 * Folds `source` into `target` (in place on the target draft) when two profiles turn out to be
 * the same person: counts and sums add, first/last take min/max, the target's traits win.
 */
export function mergeProfileInto(target: Profile, source: Profile): void {
  const t = target.computed;
  const s = source.computed;
  const sourceSeenLast = s.eventCount > 0 && (t.eventCount === 0 || s.lastSeenAt > t.lastSeenAt);
  for (const key of Object.keys(source.traits)) {
    if (!(key in target.traits) && !forbiddenKeys.has(key)) target.traits[key] = source.traits[key];
  }
  for (const id of source.anonymousIds) if (!target.anonymousIds.includes(id)) target.anonymousIds.push(id);
  if (!target.userId && source.userId) target.userId = source.userId;
  if (s.eventCount > 0) {
    if (t.eventCount === 0) {
      t.firstSeenAt = s.firstSeenAt;
      t.lastSeenAt = s.lastSeenAt;
    } else {
      t.firstSeenAt = Math.min(t.firstSeenAt, s.firstSeenAt);
      t.lastSeenAt = Math.max(t.lastSeenAt, s.lastSeenAt);
    }
  }
  t.eventCount += s.eventCount;
  for (const [key, stats] of Object.entries(s.events)) {
    const into = own(t.events, key);
    if (!into) {
      setOwn(t.events, key, stats);
      continue;
    }
    const sums = { ...into.sums };
    for (const [name, sum] of Object.entries(stats.sums)) sums[name] = (sums[name] ?? 0) + sum;
    setOwn(t.events, key, {
      count: into.count + stats.count,
      firstAt: Math.min(into.firstAt, stats.firstAt),
      lastAt: Math.max(into.lastAt, stats.lastAt),
      sums,
    });
  }
  for (const [name, sum] of Object.entries(s.totals)) t.totals[name] = (t.totals[name] ?? 0) + sum;
  t.sessionCount += s.sessionCount;
  if (s.session && (!t.session || s.session.lastEventAt > t.session.lastEventAt)) t.session = { ...s.session, pages: { ...s.session.pages } };
  if (s.lastPage && (!t.lastPage || s.lastPage.enteredAt > t.lastPage.enteredAt)) t.lastPage = { ...s.lastPage };
  t.timezone ??= s.timezone;
  t.locale ??= s.locale;
  for (const [name, value] of Object.entries(s.latest)) {
    const into = own(t.latest, name);
    if (!into || value.at > into.at) setOwn(t.latest, name, value);
  }
  // The phase of whichever was seen last; the fold re-evaluates it with the event that merged them.
  if (sourceSeenLast) {
    t.phase = s.phase ?? null;
    t.phaseSince = s.phaseSince ?? null;
  }
  target.createdAt = Math.min(target.createdAt, source.createdAt);
  target.updatedAt = Math.max(target.updatedAt, source.updatedAt);
}

function stringOr(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}
