/**
 * Discount codes in Maps, for tests and trials: the whole `CodeStore` contract except durability.
 * Listings scan every code, which is fine for the sizes tests use.
 */
import { normaliseCode, redeemCode, reserveCode, settleCode, type CodeRecord, type CodeReservation, type RedeemResult, type Settlement } from '../../core/delivery/discount-codes.js';
import { assertReservation, newestFirst, type CodeStore, type ReserveResult } from '../../ports/code-store.js';
import { clampLimit, cursorKey, encodeCursor, type Page, type PageRequest } from '../../ports/pagination.js';

const keyOf = (workspaceId: string, code: string): string => `${workspaceId}\u0000${code}`;

export class MemoryCodeStore implements CodeStore {
  readonly capabilities = { durable: false };
  private readonly byCode = new Map<string, CodeRecord>();
  /** Message key -> key of its code in `byCode`. */
  private readonly byMessage = new Map<string, string>();

  async reserve(reservation: CodeReservation): Promise<ReserveResult> {
    assertReservation(reservation);
    const existing = this.byMessage.get(reservation.messageKey);
    if (existing !== undefined) return { outcome: 'existing', record: { ...this.byCode.get(existing)! } };
    const record = reserveCode(reservation);
    const key = keyOf(record.workspaceId, record.code);
    if (this.byCode.has(key)) return { outcome: 'collision' };
    this.byCode.set(key, record);
    this.byMessage.set(record.messageKey, key);
    return { outcome: 'reserved', record: { ...record } };
  }

  async settle(messageKey: string, outcome: Settlement, at: number): Promise<CodeRecord | null> {
    const key = this.byMessage.get(messageKey);
    if (key === undefined) return null;
    const record = settleCode(this.byCode.get(key)!, outcome, at);
    this.byCode.set(key, record);
    return { ...record };
  }

  async redeem(workspaceId: string, code: string, profileId: string, at: number): Promise<RedeemResult> {
    const key = keyOf(workspaceId, normaliseCode(code));
    const result = redeemCode(this.byCode.get(key) ?? null, profileId, at);
    if (result.outcome === 'redeemed') this.byCode.set(key, result.record!);
    return { outcome: result.outcome, record: result.record && { ...result.record } };
  }

  async get(workspaceId: string, code: string): Promise<CodeRecord | null> {
    const record = this.byCode.get(keyOf(workspaceId, normaliseCode(code)));
    return record ? { ...record } : null;
  }

  async listFor(workspaceId: string, profileIds: readonly string[], page: PageRequest = {}): Promise<Page<CodeRecord>> {
    const limit = clampLimit(page.limit);
    const after = page.cursor ? cursorKey(page.cursor, ['number', 'string']) : null;
    const rows = this.codesOf(workspaceId, profileIds)
      .filter((r) => after === null || r.reservedAt < after[0] || (r.reservedAt === after[0] && r.code < after[1]))
      .slice(0, limit + 1);
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? encodeCursor([last.reservedAt, last.code]) : null };
  }

  async exportUser(workspaceId: string, profileIds: readonly string[]): Promise<CodeRecord[]> {
    return this.codesOf(workspaceId, profileIds);
  }

  async eraseUser(workspaceId: string, profileIds: readonly string[]): Promise<number> {
    const codes = this.codesOf(workspaceId, profileIds);
    for (const r of codes) {
      this.byCode.delete(keyOf(r.workspaceId, r.code));
      this.byMessage.delete(r.messageKey);
    }
    return codes.length;
  }

  async close(): Promise<void> {}

  /** Copies of the profiles' codes, newest first. */
  private codesOf(workspaceId: string, profileIds: readonly string[]): CodeRecord[] {
    const owners = new Set(profileIds);
    return [...this.byCode.values()]
      .filter((r) => r.workspaceId === workspaceId && owners.has(r.profileId))
      .sort(newestFirst)
      .map((r) => ({ ...r }));
  }
}
