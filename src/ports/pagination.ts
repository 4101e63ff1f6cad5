/** Keyset pagination: `cursor` is opaque to callers and comes back as `nextCursor`. */
import { ErrorCode, NudgeError } from '../core/errors.js';

export interface PageRequest {
  /** Items per page; stores clamp it to 1..1000. Default 50. */
  limit?: number;
  cursor?: string | null;
}

export interface Page<T> {
  items: T[];
  /** Pass back to get the next page; null on the last one. */
  nextCursor: string | null;
}

export const defaultPageLimit = 50;
export const maxPageLimit = 1000;

export function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return defaultPageLimit;
  return Math.min(maxPageLimit, Math.max(1, Math.floor(limit)));
}

/** Cursors are base64url JSON arrays of the last item's sort key. */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** Returns the sort key, or null when the cursor is not one of ours. */
export function decodeCursor(cursor: string): (string | number)[] | null {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    return Array.isArray(key) && key.every((k) => typeof k === 'string' || typeof k === 'number') ? key : null;
  } catch {
    return null;
  }
}

type KeyOf<S extends readonly ('number' | 'string')[]> = { [I in keyof S]: S[I] extends 'number' ? number : string };

/**
 * The sort key of a cursor whose parts have the given types. A cursor that is not one of ours, or
 * comes from another kind of listing, is refused with an input error rather than read as a key.
 */
export function cursorKey<const S extends readonly ('number' | 'string')[]>(cursor: string, shape: S): KeyOf<S> {
  const key = decodeCursor(cursor);
  if (key === null || key.length !== shape.length || key.some((k, i) => typeof k !== shape[i])) {
    throw new NudgeError(ErrorCode.invalidRequest, 'cursor: not a cursor returned by this listing', [{ path: 'cursor', message: 'not a cursor returned by this listing' }]);
  }
  return key as KeyOf<S>;
}
