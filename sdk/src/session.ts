/**
 * Sessions as profiles count them: every event carries the session id in `context.sessionId`, and
 * after `timeoutMs` without an event the next one starts a new session with a new id. The record
 * lives in the shared store, so the tabs of one browser are one session. Pure: time and ids are
 * parameters. A clock that goes backwards neither starts a session nor moves the last event back.
 */

export interface SessionRecord {
  id: string;
  startedAt: number;
  lastEventAt: number;
}

/** The profile's default (src/core/profile.ts `sessionTimeoutMs`). */
export const defaultSessionTimeoutMs = 30 * 60_000;

/** The session an event at `at` belongs to: the current one, or a new one after `timeoutMs` of quiet. */
export function touchSession(current: SessionRecord | null, at: number, timeoutMs: number, newId: () => string): SessionRecord {
  if (current && at - current.lastEventAt <= timeoutMs) return { ...current, lastEventAt: Math.max(current.lastEventAt, at) };
  return { id: newId(), startedAt: at, lastEventAt: at };
}
