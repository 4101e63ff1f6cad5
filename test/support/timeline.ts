/** Reads what the management API says was stored for a user, oldest event first. */
import assert from 'node:assert/strict';
import type { RunningNudge } from './nudge.js';

export interface StoredEventBody {
  messageId: string;
  type: string;
  name: string;
  profileId: string;
  userId: string | null;
  anonymousId: string | null;
  previousId: string | null;
  groupId: string | null;
  timestamp: string;
  receivedAt: string;
  properties: Record<string, unknown>;
  traits: Record<string, unknown>;
  context: Record<string, unknown>;
}

/** Every stored event of the profile that `id` (a user id or anonymous id) resolves to, oldest first. */
export async function timelineOf(nudge: RunningNudge, id: string): Promise<StoredEventBody[]> {
  const res = await nudge.api<{ items: StoredEventBody[]; nextCursor: string | null }>(`/users/${encodeURIComponent(id)}/events?limit=1000`);
  assert.equal(res.status, 200, `timeline of ${id}: ${JSON.stringify(res.body)}`);
  assert.equal(res.body.nextCursor, null, `timeline of ${id} has more than one page`);
  return [...res.body.items].reverse();
}

/** The profile `id` resolves to; fails the test when there is none. */
export async function profileOf(nudge: RunningNudge, id: string): Promise<any> {
  const res = await nudge.api(`/users/${encodeURIComponent(id)}`);
  assert.equal(res.status, 200, `profile of ${id}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** `type:name` of each event, the compact form timelines are compared in. */
export const calls = (events: readonly StoredEventBody[]): string[] => events.map((e) => `${e.type}:${e.name}`);

/** Resolves once `check` stops throwing, or fails with its last error after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}
