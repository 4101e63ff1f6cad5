/**
 * The one event shape every ingestion protocol is translated into.
 *
 * Glossary
 * - messageId: the sender's id of the event; the same id sent twice is stored once.
 * - timestamp: when the event happened, in ms since the epoch, after correcting the sender's clock
 *   skew with `sentAt` (timestamp = receivedAt - (sentAt - originalTimestamp)).
 * - receivedAt: when the server accepted it (ms since the epoch).
 * - profileId: the profile the event was attributed to when it was stored (see identity.ts).
 */
import type { Issue } from './errors.js';

export const EventType = {
  track: 'track',
  identify: 'identify',
  page: 'page',
  screen: 'screen',
  group: 'group',
  alias: 'alias',
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];
export const eventTypes: readonly EventType[] = Object.values(EventType);

export type JsonObject = Record<string, unknown>;

export interface NudgeEvent {
  workspaceId: string;
  messageId: string;
  type: EventType;
  /** The track event's name; for other types the page/screen/group name, or ''. */
  name: string;
  userId: string | null;
  anonymousId: string | null;
  /** alias: the id being merged into userId. */
  previousId: string | null;
  /** group: the group joined. */
  groupId: string | null;
  properties: JsonObject;
  traits: JsonObject;
  context: JsonObject;
  timestamp: number;
  receivedAt: number;
}

export interface StoredEvent extends NudgeEvent {
  profileId: string;
}

/** The key under which an event is counted in a profile's computed attributes. */
export function eventKey(event: Pick<NudgeEvent, 'type' | 'name'>): string {
  return event.type === EventType.track ? event.name : `$${event.type}`;
}

export interface EventLimits {
  /** Largest accepted event, serialised, in bytes. Default 32 KiB. */
  maxEventBytes: number;
  /** How far after receipt a (skew-corrected) timestamp may lie. Default 1 hour. */
  maxFutureMs: number;
}

export const defaultEventLimits: EventLimits = { maxEventBytes: 32 * 1024, maxFutureMs: 3_600_000 };

/**
 * Resolves the event time from the sender's `timestamp` (or `originalTimestamp`) and `sentAt`.
 * Either may be missing; without a timestamp the event happened when it was received.
 */
export function correctedTimestamp(
  timestamp: number | null,
  sentAt: number | null,
  receivedAt: number,
): number {
  if (timestamp === null) return receivedAt;
  if (sentAt === null) return timestamp;
  return receivedAt - (sentAt - timestamp);
}

/** Parses an ISO-8601 string or epoch milliseconds; null when absent, NaN when present but invalid. */
export function parseTime(value: unknown): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'number') return Number.isFinite(value) ? value : Number.NaN;
  if (typeof value === 'string') return Date.parse(value);
  return Number.NaN;
}

/**
 * The earliest time with a four-digit year (0000-01-01T00:00:00Z), the form the API writes dates
 * in: an earlier event could be stored but never shown again. Times after year 9999 are refused
 * as lying in the future.
 */
export const earliestTimeMs = -62_167_219_200_000;

/**
 * Checks what every protocol requires of a normalised event. Paths are relative to `prefix`
 * ('' for a single event, whose size is reported as `body`); `size` is its JSON size.
 */
export function checkEvent(event: NudgeEvent, limits: EventLimits, prefix: string, size: number): Issue[] {
  const issues: Issue[] = [];
  if (!event.userId && !event.anonymousId) {
    issues.push({ path: `${prefix}userId`, message: 'either userId or anonymousId is required' });
  }
  if (event.type === EventType.track && !event.name) {
    issues.push({ path: `${prefix}event`, message: 'a track call needs an event name' });
  }
  if (event.type === EventType.alias && !event.previousId) {
    issues.push({ path: `${prefix}previousId`, message: 'an alias call needs previousId' });
  }
  if (event.type === EventType.alias && !event.userId) {
    issues.push({ path: `${prefix}userId`, message: 'an alias call needs userId' });
  }
  if (!Number.isFinite(event.timestamp)) {
    issues.push({ path: `${prefix}timestamp`, message: 'not a valid ISO-8601 date' });
  } else if (event.timestamp < earliestTimeMs) {
    issues.push({ path: `${prefix}timestamp`, message: 'lies before the year 0000' });
  } else if (event.timestamp > event.receivedAt + limits.maxFutureMs) {
    issues.push({
      path: `${prefix}timestamp`,
      message: `lies ${Math.round((event.timestamp - event.receivedAt) / 1000)} s in the future (at most ${limits.maxFutureMs / 1000} s allowed)`,
    });
  }
  if (size > limits.maxEventBytes) {
    issues.push({ path: prefix.replace(/\.$/, '') || 'body', message: `is ${size} bytes, over the ${limits.maxEventBytes}-byte limit` });
  }
  return issues;
}
