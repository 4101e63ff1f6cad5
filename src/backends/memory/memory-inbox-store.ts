/**
 * The in-app inbox in process memory, for tests and trials: the whole `InboxStore` contract except
 * durability. Items are kept in id order and scanned on every read, which is fine for the sizes
 * tests use. Items go in and out as copies, so callers cannot change what the store holds.
 */
import {
  applyInteraction,
  assertNewInboxItem,
  isExpired,
  isUnread,
  maxReplayLimit,
  type InboxItem,
  type InboxListOptions,
  type InboxPage,
  type InboxStore,
  type Interaction,
  type NewInboxItem,
} from '../../ports/inbox-store.js';
import { clampLimit, cursorKey, encodeCursor } from '../../ports/pagination.js';

const copy = (item: InboxItem): InboxItem => ({ ...item, content: { ...item.content } });

export class MemoryInboxStore implements InboxStore {
  readonly capabilities = { durable: false };
  /** By id; insertion order is id order. */
  private readonly items = new Map<number, InboxItem>();
  private readonly idOfMessage = new Map<string, number>();
  private lastId = 0;

  async add(item: NewInboxItem): Promise<{ item: InboxItem; added: boolean }> {
    assertNewInboxItem(item);
    const messageKey = `${item.workspaceId}\u0000${item.messageKey}`;
    const existing = this.idOfMessage.get(messageKey);
    if (existing !== undefined) return { item: copy(this.items.get(existing)!), added: false };
    const stored: InboxItem = {
      id: ++this.lastId,
      workspaceId: item.workspaceId,
      identityKey: item.identityKey,
      messageKey: item.messageKey,
      triggerId: item.triggerId,
      content: { ...item.content },
      createdAt: item.createdAt,
      expiresAt: item.expiresAt,
      readAt: null,
      shownAt: null,
      clickedAt: null,
      dismissedAt: null,
      feedback: null,
    };
    this.items.set(stored.id, stored);
    this.idOfMessage.set(messageKey, stored.id);
    return { item: copy(stored), added: true };
  }

  async list(workspaceId: string, identityKeys: readonly string[], options: InboxListOptions = {}): Promise<InboxPage> {
    const limit = clampLimit(options.limit);
    const [before] = options.cursor ? cursorKey(options.cursor, ['number']) : [Number.POSITIVE_INFINITY];
    const all = this.of(workspaceId, identityKeys);
    const listed = all.filter((i) => (options.includeDismissed || i.dismissedAt === null) && !isExpired(i, options.now)).reverse();
    const page = listed.filter((i) => i.id < before).slice(0, limit + 1);
    const items = page.slice(0, limit);
    return {
      items: items.map(copy),
      nextCursor: page.length > limit ? encodeCursor([items[items.length - 1]!.id]) : null,
      unread: all.filter((i) => isUnread(i, options.now)).length,
      latestId: all.length > 0 ? all[all.length - 1]!.id : 0,
    };
  }

  async since(workspaceId: string, identityKeys: readonly string[], afterId: number, options: { now: number; limit?: number }): Promise<InboxItem[]> {
    return this.of(workspaceId, identityKeys)
      .filter((i) => i.id > afterId && i.dismissedAt === null && !isExpired(i, options.now))
      .slice(0, clampLimit(options.limit ?? maxReplayLimit))
      .map(copy);
  }

  async record(workspaceId: string, identityKeys: readonly string[], id: number, interaction: Interaction, at: number): Promise<{ item: InboxItem; changed: boolean } | null> {
    const item = this.items.get(id);
    if (!item || item.workspaceId !== workspaceId || !identityKeys.includes(item.identityKey)) return null;
    const result = applyInteraction(item, interaction, at);
    if (result.changed) this.items.set(id, result.item);
    return { item: copy(result.item), changed: result.changed };
  }

  async purgeExpired(now: number): Promise<number> {
    return this.remove([...this.items.values()].filter((i) => isExpired(i, now)));
  }

  async exportUser(workspaceId: string, identityKeys: readonly string[]): Promise<InboxItem[]> {
    return this.of(workspaceId, identityKeys).map(copy);
  }

  async eraseUser(workspaceId: string, identityKeys: readonly string[]): Promise<number> {
    return this.remove(this.of(workspaceId, identityKeys));
  }

  async close(): Promise<void> {}

  /** The items of a user, oldest first. */
  private of(workspaceId: string, identityKeys: readonly string[]): InboxItem[] {
    const keys = new Set(identityKeys);
    return [...this.items.values()].filter((i) => i.workspaceId === workspaceId && keys.has(i.identityKey));
  }

  private remove(items: readonly InboxItem[]): number {
    for (const i of items) {
      this.items.delete(i.id);
      this.idOfMessage.delete(`${i.workspaceId}\u0000${i.messageKey}`);
    }
    return items.length;
  }
}
