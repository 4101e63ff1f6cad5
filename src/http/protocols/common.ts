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
}

export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Ids may be sent as numbers; they are stored as strings. */
export function idOf(v: unknown): string | null {
  if (typeof v === 'string') return v === '' ? null : v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
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

/**
 * One walk over a received event: its size as JSON text (in characters: exact for ASCII, which
 * is what events are made of almost always) and the first field nesting deeper than
 * `maxNestingDepth`. Cheaper than serialising every event again to measure it.
 */
export function measureEvent(raw: JsonObject): { size: number; tooDeep: string | null } {
  let size = 2;
  for (const key in raw) {
    const n = jsonSize(raw[key], maxNestingDepth);
    if (n < 0) return { size, tooDeep: key };
    size += key.length + 4 + n;
  }
  return { size, tooDeep: null };
}

/** Characters of `value` as JSON, or -1 if it nests more than `levels` deep. */
function jsonSize(value: unknown, levels: number): number {
  switch (typeof value) {
    case 'string':
      return value.length + 2;
    case 'number':
      return String(value).length;
    case 'boolean':
      return 5;
    case 'object': {
      if (value === null) return 4;
      if (levels === 0) return -1;
      let size = 2;
      if (Array.isArray(value)) {
        for (const item of value) {
          const n = jsonSize(item, levels - 1);
          if (n < 0) return -1;
          size += n + 1;
        }
        return size;
      }
      for (const key in value) {
        const n = jsonSize((value as JsonObject)[key], levels - 1);
        if (n < 0) return -1;
        size += key.length + 4 + n;
      }
      return size;
    }
    default:
      return 0;
  }
}
