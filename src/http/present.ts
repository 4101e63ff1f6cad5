/** Turns stored records into API bodies: times as ISO-8601 strings. */
import type { Issue } from '../core/errors.js';
import type { StoredEvent } from '../core/event.js';
import type { Profile } from '../core/profile.js';

const iso = (ms: number): string => new Date(ms).toISOString();

export function presentEvent(e: StoredEvent) {
  return {
    messageId: e.messageId,
    type: e.type,
    name: e.name,
    profileId: e.profileId,
    userId: e.userId,
    anonymousId: e.anonymousId,
    previousId: e.previousId,
    groupId: e.groupId,
    timestamp: iso(e.timestamp),
    receivedAt: iso(e.receivedAt),
    properties: e.properties,
    traits: e.traits,
    context: e.context,
  };
}

export function presentProfile(p: Profile, identities?: string[]) {
  const c = p.computed;
  return {
    workspace: p.workspaceId,
    profileId: p.profileId,
    userId: p.userId,
    anonymousIds: p.anonymousIds,
    ...(identities ? { identities } : {}),
    traits: p.traits,
    computed: {
      firstSeenAt: iso(c.firstSeenAt),
      lastSeenAt: iso(c.lastSeenAt),
      eventCount: c.eventCount,
      events: Object.fromEntries(
        Object.entries(c.events).map(([k, s]) => [k, { count: s.count, firstAt: iso(s.firstAt), lastAt: iso(s.lastAt), sums: s.sums }]),
      ),
      totals: c.totals,
      sessionCount: c.sessionCount,
      session: c.session && { ...c.session, pages: c.session.pages ?? {}, startedAt: iso(c.session.startedAt), lastEventAt: iso(c.session.lastEventAt) },
      lastPage: c.lastPage && { ...c.lastPage, enteredAt: iso(c.lastPage.enteredAt) },
      phase: c.phase ?? null,
      phaseSince: c.phaseSince === null || c.phaseSince === undefined ? null : iso(c.phaseSince),
      latest: Object.fromEntries(Object.entries(c.latest ?? {}).map(([k, v]) => [k, { value: v.value, at: iso(v.at) }])),
      timezone: c.timezone,
      locale: c.locale,
    },
    createdAt: iso(p.createdAt),
    updatedAt: iso(p.updatedAt),
  };
}

/**
 * A problem in a file (`file:line:column: field`, as config/yaml-source.ts locates them) with its
 * place as numbers too, for an editor to mark; other issues are returned as they are.
 */
export function presentIssue(issue: Issue) {
  const located = /^(.*?):(\d+):(\d+)(?:: (.*))?$/.exec(issue.path);
  if (!located) return { path: issue.path, message: issue.message };
  return { path: issue.path, message: issue.message, file: located[1]!, line: Number(located[2]), column: Number(located[3]), field: located[4] ?? null };
}
