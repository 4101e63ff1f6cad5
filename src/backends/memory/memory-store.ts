/**
 * A store in process memory: for tests, backtests and trying things out. Nothing survives a
 * restart. It implements the same contract as the durable stores and passes the same suite.
 */
import type { StoredEvent } from '../../core/event.js';
import type { Profile } from '../../core/profile.js';
import type { EventLog, EventQuery, LoggedEvent, RecentMessageId } from '../../ports/event-log.js';
import { clampLimit, cursorKey, encodeCursor, type Page } from '../../ports/pagination.js';
import type { ProfileSearch, ProfileStore } from '../../ports/profile-store.js';
import type { Commit, CommitReceipt, ErasureReport, Store, UserExport } from '../../ports/store.js';
import { searchableEmail } from '../profile-search.js';
import { findEach } from '../find-each.js';

interface Row {
  seq: number;
  event: StoredEvent;
}

interface Workspace {
  events: Row[];
  profiles: Map<string, Profile>;
  /** Per stored profile, the log position it is folded up to. */
  foldedThrough: Map<string, number>;
  identities: Map<string, string>;
}

const clone = <T>(value: T): T => structuredClone(value);

export class MemoryStore implements Store {
  readonly capabilities = { sharedWriters: false, durable: false };
  readonly events: EventLog;
  readonly profiles: ProfileStore;
  private readonly workspaces = new Map<string, Workspace>();
  private seq = 0;
  private checkpointPosition = 0;
  /** Every event by position - 1; erased ones become null. */
  private readonly log: (StoredEvent | null)[] = [];

  constructor() {
    this.events = {
      query: async (ws, query) => this.queryEvents(ws, query),
      readAfter: async (position, limit) => {
        const out: LoggedEvent[] = [];
        for (let i = position; i < this.log.length && out.length < limit; i++) {
          const event = this.log[i];
          if (event) out.push({ position: i + 1, event: clone(event) });
        }
        return out;
      },
      recentMessageIds: async (since) => this.recentMessageIds(since),
      count: async (ws) => this.workspace(ws).events.length,
    };
    this.profiles = {
      resolveIdentities: async (ws, keys) => {
        const ids = this.workspace(ws).identities;
        return findEach(keys, (key) => ids.get(key));
      },
      getProfiles: async (ws, profileIds) => {
        const profiles = this.workspace(ws).profiles;
        return findEach(profileIds, (id) => {
          const p = profiles.get(id);
          return p && clone(p);
        });
      },
      foldedThrough: async (ws, profileIds) => {
        const positions = this.workspace(ws).foldedThrough;
        return findEach(profileIds, (id) => positions.get(id));
      },
      identitiesOf: async (ws, profileId) => this.identitiesOf(ws, profileId),
      search: async (ws, search) => this.searchProfiles(ws, search),
      count: async (ws) => this.workspace(ws).profiles.size,
    };
  }

  async commit(changes: Commit): Promise<CommitReceipt> {
    const copy = clone(changes); // the caller keeps its objects; we keep ours
    for (const m of copy.merges) {
      const w = this.workspace(m.workspaceId);
      w.profiles.delete(m.from);
      w.foldedThrough.delete(m.from);
      for (const [key, id] of w.identities) if (id === m.from) w.identities.set(key, m.to);
      for (const row of w.events) if (row.event.profileId === m.from) row.event.profileId = m.to;
    }
    for (const l of copy.identities) this.workspace(l.workspaceId).identities.set(l.key, l.profileId);
    for (const e of copy.events) {
      this.workspace(e.workspaceId).events.push({ seq: ++this.seq, event: e });
      this.log.push(e);
    }
    const profilesAt = copy.profilesAt ?? this.seq;
    for (const p of copy.profiles) {
      const w = this.workspace(p.workspaceId);
      w.profiles.set(p.profileId, p);
      w.foldedThrough.set(p.profileId, profilesAt);
    }
    if (copy.checkpoint !== undefined) this.checkpointPosition = copy.checkpoint;
    return { position: this.seq };
  }

  async checkpoint(): Promise<number> {
    return this.checkpointPosition;
  }

  async exportUser(ws: string, profileId: string): Promise<UserExport | null> {
    const w = this.workspace(ws);
    const profile = w.profiles.get(profileId);
    if (!profile) return null;
    const events = w.events.filter((r) => r.event.profileId === profileId).sort(byTimeDesc).map((r) => clone(r.event));
    return { profile: clone(profile), identities: this.identitiesOf(ws, profileId), events };
  }

  async eraseUser(ws: string, profileId: string): Promise<ErasureReport> {
    const w = this.workspace(ws);
    const profiles = w.profiles.delete(profileId) ? 1 : 0;
    w.foldedThrough.delete(profileId);
    const keys = this.identitiesOf(ws, profileId);
    for (const key of keys) w.identities.delete(key);
    const before = w.events.length;
    for (const r of w.events) if (r.event.profileId === profileId) this.log[r.seq - 1] = null;
    w.events = w.events.filter((r) => r.event.profileId !== profileId);
    return { profiles, identities: keys.length, events: before - w.events.length };
  }

  async close(): Promise<void> {}

  private workspace(ws: string): Workspace {
    let w = this.workspaces.get(ws);
    if (!w) {
      w = { events: [], profiles: new Map(), foldedThrough: new Map(), identities: new Map() };
      this.workspaces.set(ws, w);
    }
    return w;
  }

  private identitiesOf(ws: string, profileId: string): string[] {
    return [...this.workspace(ws).identities].filter(([, id]) => id === profileId).map(([key]) => key).sort();
  }

  private queryEvents(ws: string, q: EventQuery): Page<StoredEvent> {
    const limit = clampLimit(q.limit);
    const after = q.cursor ? cursorKey(q.cursor, ['number', 'number']) : null;
    const rows = this.workspace(ws)
      .events.filter(
        (r) =>
          (q.profileId === undefined || r.event.profileId === q.profileId) &&
          (q.type === undefined || r.event.type === q.type) &&
          (q.name === undefined || r.event.name === q.name) &&
          (q.since === undefined || r.event.timestamp >= q.since) &&
          (q.until === undefined || r.event.timestamp < q.until) &&
          (after === null || isBefore(r, after)),
      )
      .sort(byTimeDesc)
      .slice(0, limit + 1);
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return {
      items: items.map((r) => clone(r.event)),
      nextCursor: rows.length > limit && last ? encodeCursor([last.event.timestamp, last.seq]) : null,
    };
  }

  private recentMessageIds(since: number): RecentMessageId[] {
    const out: { seq: number; id: RecentMessageId }[] = [];
    for (const [workspaceId, w] of this.workspaces) {
      for (const r of w.events) {
        if (r.event.receivedAt >= since) out.push({ seq: r.seq, id: { workspaceId, messageId: r.event.messageId, receivedAt: r.event.receivedAt } });
      }
    }
    // Oldest first means by receipt time: one commit may carry requests received out of order.
    return out.sort((a, b) => a.id.receivedAt - b.id.receivedAt || a.seq - b.seq).map((o) => o.id);
  }

  private searchProfiles(ws: string, s: ProfileSearch): Page<Profile> {
    const w = this.workspace(ws);
    const limit = clampLimit(s.limit);
    const after = s.cursor ? cursorKey(s.cursor, ['number', 'string']) : null;
    const q = s.query?.trim();
    let matches = [...w.profiles.values()];
    if (q) {
      // Ids match exactly by prefix, emails case-insensitively (as the durable stores' indexes do).
      const ids = new Set<string>();
      for (const [key, id] of w.identities) if (key.slice(2).startsWith(q)) ids.add(id);
      const email = q.toLowerCase();
      matches = matches.filter((p) => ids.has(p.profileId) || searchableEmail(p)?.startsWith(email));
    }
    matches.sort((a, b) => b.updatedAt - a.updatedAt || (a.profileId < b.profileId ? 1 : -1));
    if (after) {
      const [at, id] = after;
      matches = matches.filter((p) => p.updatedAt < at || (p.updatedAt === at && p.profileId < id));
    }
    const items = matches.slice(0, limit);
    const last = items[items.length - 1];
    return {
      items: items.map(clone),
      nextCursor: matches.length > limit && last ? encodeCursor([last.updatedAt, last.profileId]) : null,
    };
  }
}

function byTimeDesc(a: Row, b: Row): number {
  return b.event.timestamp - a.event.timestamp || b.seq - a.seq;
}

function isBefore(r: Row, [ts, seq]: readonly [number, number]): boolean {
  return r.event.timestamp < ts || (r.event.timestamp === ts && r.seq < seq);
}
