/** What every protocol adapter returns: normalised events, and the problems with the rest. */
import type { Issue } from '../../core/errors.js';
import type { JsonObject, NudgeEvent } from '../../core/event.js';

export interface Translation {
  /** The write key found in the body (`writeKey`, `api_key`, `token`), if any. */
  writeKey: string | null;
  events: NudgeEvent[];
  /** Events (or the whole payload) that were refused, each with the field that is wrong. */
  issues: Issue[];
  /** How many events were refused (one event may have several issues; a fatal payload counts one). */
  refused: number;
  /** Refused because the payload as a whole is unusable (no event can be read from it). */
  fatal: boolean;
}

export interface TranslateContext {
  workspaceId: string;
  receivedAt: number;
  /** Returns a fresh id for events that arrive without one. */
  newId: () => string;
  maxEventBytes: number;
  maxFutureMs: number;
  /** Size of the whole (decompressed) body: events smaller than it need no measuring. */
  bodyBytes: number;
}

export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Ids may be sent as numbers; they are stored as strings. */
export function idOf(v: unknown): string | null {
  if (typeof v === 'string') return v === '' ? null : v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}

/** Serialised size of one event, computed only when the body is large enough to matter. */
export function eventBytes(raw: unknown, ctx: TranslateContext): number {
  return ctx.bodyBytes <= ctx.maxEventBytes ? 0 : Buffer.byteLength(JSON.stringify(raw));
}

/** The earliest time with a four-digit year, the form the management API writes dates in. */
export const earliestTimeMs = Date.parse('0000-01-01T00:00:00.000Z');

/**
 * An event whose timestamp (after correcting the sender's clock with `sentAt`) lies before year 0
 * has no RFC 3339 form, so it could be stored but never shown again. Times after year 9999 are
 * refused as lying in the future.
 */
export function timeIssues(event: NudgeEvent, prefix: string): Issue[] {
  return event.timestamp < earliestTimeMs ? [{ path: `${prefix}timestamp`, message: 'lies before the year 0000' }] : [];
}

/** The whole payload refused; the write key it carries, if any, still decides who is answered. */
export function fatal(path: string, message: string, writeKey: string | null = null): Translation {
  return { writeKey, events: [], issues: [{ path, message }], refused: 1, fatal: true };
}

/**
 * Deepest nesting of objects and arrays accepted inside an event (the event itself is level 0).
 * No real sender comes near it; far deeper values (a few thousand levels fit in a small body)
 * cannot be serialised again, so they are refused here rather than failing the store.
 */
export const maxNestingDepth = 64;

/** The field of `raw` (an event object) that nests deeper than `maxNestingDepth`, or null. */
export function tooDeepField(raw: JsonObject): string | null {
  for (const key of Object.keys(raw)) if (deeperThan(raw[key], maxNestingDepth)) return key;
  return null;
}

/** Whether `value` holds objects or arrays more than `levels` deep. Recursion is bounded by `levels`. */
function deeperThan(value: unknown, levels: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (levels === 0) return true;
  if (Array.isArray(value)) {
    for (const item of value) if (deeperThan(item, levels - 1)) return true;
    return false;
  }
  for (const key in value) if (deeperThan((value as JsonObject)[key], levels - 1)) return true;
  return false;
}
