/** What every protocol adapter returns: normalised events, and the problems with the rest. */
import type { Issue } from '../../core/errors.js';
import type { JsonObject, NudgeEvent } from '../../core/event.js';

export interface Translation {
  /** The write key found in the body (`writeKey`, `api_key`, `token`), if any. */
  writeKey: string | null;
  events: NudgeEvent[];
  /** Events (or the whole payload) that were refused, each with the field that is wrong. */
  issues: Issue[];
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

export function fatal(path: string, message: string): Translation {
  return { writeKey: null, events: [], issues: [{ path, message }], fatal: true };
}
