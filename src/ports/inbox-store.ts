/**
 * The in-app inbox: the messages delivered to each user's in-app channel, what the user did with
 * them, and the order a live stream replays them in.
 *
 * Glossary
 * - item: one message in one user's inbox, stored under the identity key (`u:<userId>` or
 *   `a:<anonymousId>`) it was delivered to. A user's inbox is the items of all their identity keys:
 *   identity keys never change, while profiles merge.
 * - id: a number the store gives each item, increasing and never reused in the store (also after
 *   an erasure or a reopen). It is the stream's event id: "everything after id N" is what a client
 *   that last saw N has missed.
 * - message key: the outbox idempotency key of the message; one item per key and workspace.
 * - interaction: read, shown, clicked, dismissed, or feedback with a value such as `not_relevant`.
 * - expired: `expiresAt` at or before the time asked about.
 *
 * Guarantees
 * - `add` is idempotent by `(workspaceId, messageKey)`: adding a key again returns the item already
 *   stored, unchanged, with `added: false`. A retried send never doubles a message.
 * - Ids are given in the order adds complete: once an add has resolved, no later add gets a lower id.
 *   A stream that has sent id N and is told of higher ids in order misses nothing.
 * - Every operation naming items takes the user's identity keys and sees only items under them:
 *   another user's item is not found (null), never changed.
 * - `list` is newest first (by id); `since` oldest first and leaves out dismissed and expired items.
 * - Interactions are recorded once: the first `read`, `shown`, `clicked` and `dismissed` keep their
 *   time; a click also reads; feedback keeps the last value. `changed` says whether anything did.
 * - `exportUser` and `eraseUser` cover every item under the given identity keys.
 * - A durable store keeps everything across a reopen, and its ids keep increasing.
 */
import { ErrorCode, formatIssues, NudgeError, type Issue } from '../core/errors.js';
import type { RenderedContent } from './channel.js';
import type { Page, PageRequest } from './pagination.js';

export interface NewInboxItem {
  readonly workspaceId: string;
  /** The identity key it is delivered to: `u:<userId>` or `a:<anonymousId>`. */
  readonly identityKey: string;
  /** The outbox idempotency key. */
  readonly messageKey: string;
  readonly triggerId: string;
  /** The parts the template rendered for the channel: `title`, `body`, `cta_label`, `cta_url` … */
  readonly content: RenderedContent;
  /** ms since the epoch. */
  readonly createdAt: number;
  /** When it leaves the inbox, in ms since the epoch; null: never. */
  readonly expiresAt: number | null;
}

export interface InboxItem extends NewInboxItem {
  readonly id: number;
  readonly readAt: number | null;
  readonly shownAt: number | null;
  readonly clickedAt: number | null;
  readonly dismissedAt: number | null;
  /** The user's last feedback, e.g. `not_relevant`; null without any. */
  readonly feedback: string | null;
}

export const InteractionKind = {
  read: 'read',
  shown: 'shown',
  clicked: 'clicked',
  dismissed: 'dismissed',
  feedback: 'feedback',
} as const;
export type InteractionKind = (typeof InteractionKind)[keyof typeof InteractionKind];

export type Interaction =
  | { kind: Exclude<InteractionKind, 'feedback'> }
  | { kind: 'feedback'; value: string };

export interface InboxListOptions extends PageRequest {
  /** Also list dismissed items. Default false. */
  includeDismissed?: boolean;
  /** Leave out items expired by this time (ms since the epoch), also from `unread`. Default: keep them. */
  now?: number;
}

export interface InboxPage extends Page<InboxItem> {
  /** Items neither read nor dismissed (nor expired by `now`), over the whole inbox, not this page. */
  unread: number;
  /** The highest id of any item of these identity keys, in any state; 0 when there is none. */
  latestId: number;
}

export interface InboxStoreCapabilities {
  /** Items survive a restart of the process. */
  durable: boolean;
}

export interface InboxStore {
  readonly capabilities: InboxStoreCapabilities;
  /** Stores an item, or returns the one already stored under its message key. */
  add(item: NewInboxItem): Promise<{ item: InboxItem; added: boolean }>;
  /** A page of the items of `identityKeys`, newest first, with the unread count. */
  list(workspaceId: string, identityKeys: readonly string[], options?: InboxListOptions): Promise<InboxPage>;
  /**
   * Up to `limit` (default and at most 1000) items with an id above `afterId`, oldest first,
   * neither dismissed nor expired by `now`: what a stream replays.
   */
  since(workspaceId: string, identityKeys: readonly string[], afterId: number, options: { now: number; limit?: number }): Promise<InboxItem[]>;
  /** Records an interaction with item `id`; null when no item of `identityKeys` has that id. */
  record(workspaceId: string, identityKeys: readonly string[], id: number, interaction: Interaction, at: number): Promise<{ item: InboxItem; changed: boolean } | null>;
  /** Deletes the items expired by `now`; returns how many. */
  purgeExpired(now: number): Promise<number>;
  /** Every item of the identity keys, oldest first. */
  exportUser(workspaceId: string, identityKeys: readonly string[]): Promise<InboxItem[]>;
  /** Deletes every item of the identity keys; returns how many. */
  eraseUser(workspaceId: string, identityKeys: readonly string[]): Promise<number>;
  close(): Promise<void>;
}

export const maxReplayLimit = 1000;

/** The item after an interaction, and whether the interaction changed it (see the guarantees). */
export function applyInteraction(item: InboxItem, interaction: Interaction, at: number): { item: InboxItem; changed: boolean } {
  const once = (field: 'readAt' | 'shownAt' | 'clickedAt' | 'dismissedAt'): { item: InboxItem; changed: boolean } =>
    item[field] === null ? { item: { ...item, [field]: at }, changed: true } : { item, changed: false };
  switch (interaction.kind) {
    case 'read':
      return once('readAt');
    case 'shown':
      return once('shownAt');
    case 'dismissed':
      return once('dismissedAt');
    case 'clicked': {
      const clicked = once('clickedAt');
      return { item: { ...clicked.item, readAt: item.readAt ?? at }, changed: clicked.changed };
    }
    case 'feedback':
      return item.feedback === interaction.value ? { item, changed: false } : { item: { ...item, feedback: interaction.value }, changed: true };
  }
}

/** Whether an item counts as unread at `now` (undefined: expiry ignored). */
export function isUnread(item: InboxItem, now: number | undefined): boolean {
  return item.readAt === null && item.dismissedAt === null && !isExpired(item, now);
}

export function isExpired(item: NewInboxItem, now: number | undefined): boolean {
  return now !== undefined && item.expiresAt !== null && item.expiresAt <= now;
}

const identityKeyPattern = /^[ua]:./s;

/** Rejects an item no store can hold, naming each bad field. */
export function assertNewInboxItem(item: NewInboxItem): void {
  const issues: Issue[] = [];
  const text = (field: 'workspaceId' | 'messageKey' | 'triggerId') => {
    if (typeof item[field] !== 'string' || item[field] === '') issues.push({ path: field, message: 'must be a non-empty string' });
  };
  text('workspaceId');
  text('messageKey');
  text('triggerId');
  if (typeof item.identityKey !== 'string' || !identityKeyPattern.test(item.identityKey)) {
    issues.push({ path: 'identityKey', message: 'must be "u:<userId>" or "a:<anonymousId>"' });
  }
  if (typeof item.content !== 'object' || item.content === null || Array.isArray(item.content)) issues.push({ path: 'content', message: 'must be an object of strings' });
  else for (const [part, value] of Object.entries(item.content)) if (typeof value !== 'string') issues.push({ path: `content.${part}`, message: 'must be a string' });
  if (!Number.isSafeInteger(item.createdAt)) issues.push({ path: 'createdAt', message: 'must be an integer number of ms' });
  if (item.expiresAt !== null && !Number.isSafeInteger(item.expiresAt)) issues.push({ path: 'expiresAt', message: 'must be null or an integer number of ms' });
  if (issues.length > 0) throw new NudgeError(ErrorCode.invalidInput, `invalid inbox item: ${formatIssues(issues)}`, issues);
}
