import type { EventType, StoredEvent } from '../core/event.js';
import type { Page, PageRequest } from './pagination.js';

export interface EventQuery extends PageRequest {
  /** Only events of this profile. */
  profileId?: string;
  type?: EventType;
  /** Track event name (or page/screen name). */
  name?: string;
  /** Inclusive lower bound on the event timestamp, ms. */
  since?: number;
  /** Exclusive upper bound on the event timestamp, ms. */
  until?: number;
}

/** An event with its position in the log: positions grow with every append, in commit order. */
export interface LoggedEvent {
  position: number;
  event: StoredEvent;
}

export interface RecentMessageId {
  workspaceId: string;
  messageId: string;
  receivedAt: number;
}

/**
 * The append-only log of accepted events. Appends happen only through `Store.commit`.
 *
 * Guarantees
 * - Once `Store.commit` resolves, its events are durable (see the backend's fsync policy).
 * - `query` returns events newest first by (timestamp, then insertion order); pages are stable
 *   while new events arrive (keyset pagination, no offsets).
 * - Reads see every commit that resolved before the read began.
 */
export interface EventLog {
  query(workspaceId: string, query: EventQuery): Promise<Page<StoredEvent>>;
  /** Up to `limit` events appended after `position`, in commit order, for replay. */
  readAfter(position: number, limit: number): Promise<LoggedEvent[]>;
  /** Message ids received at or after `sinceReceivedAt`, oldest first, to rebuild the dedup window. */
  recentMessageIds(sinceReceivedAt: number): Promise<RecentMessageId[]>;
  /** Number of stored events in the workspace. */
  count(workspaceId: string): Promise<number>;
}
