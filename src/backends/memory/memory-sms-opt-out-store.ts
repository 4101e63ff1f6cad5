/**
 * SMS consent records in a Map, for tests and trials: the whole `SmsOptOutStore` contract except
 * durability. `list` sorts the workspace's opt-outs on every call, which is fine for test sizes.
 */
import { clampLimit, cursorKey, encodeCursor, type Page, type PageRequest } from '../../ports/pagination.js';
import { assertConsentChange, type SmsConsentRecord, type SmsOptOutStore } from '../../ports/sms-opt-out-store.js';

const byPhone = (a: SmsConsentRecord, b: SmsConsentRecord): number => (a.phone < b.phone ? -1 : a.phone > b.phone ? 1 : 0);

export class MemorySmsOptOutStore implements SmsOptOutStore {
  readonly capabilities = { durable: false };
  /** By workspace, then by number. */
  private readonly records = new Map<string, Map<string, SmsConsentRecord>>();

  async optOut(workspaceId: string, phone: string, at: number, keyword: string): Promise<boolean> {
    assertConsentChange({ workspaceId, phone, at, keyword });
    return this.apply({ workspaceId, phone, optedOut: true, at, keyword });
  }

  async optIn(workspaceId: string, phone: string, at: number): Promise<boolean> {
    assertConsentChange({ workspaceId, phone, at });
    return this.apply({ workspaceId, phone, optedOut: false, at, keyword: null });
  }

  async isOptedOut(workspaceId: string, phone: string): Promise<boolean> {
    return this.records.get(workspaceId)?.get(phone)?.optedOut ?? false;
  }

  async list(workspaceId: string, page: PageRequest = {}): Promise<Page<SmsConsentRecord>> {
    const limit = clampLimit(page.limit);
    const after = page.cursor ? cursorKey(page.cursor, ['string'])[0] : null;
    const rows = [...(this.records.get(workspaceId)?.values() ?? [])]
      .filter((r) => r.optedOut && (after === null || r.phone > after))
      .sort(byPhone)
      .slice(0, limit + 1);
    const items = rows.slice(0, limit).map((r) => ({ ...r }));
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? encodeCursor([last.phone]) : null };
  }

  async exportUser(workspaceId: string, phones: readonly string[]): Promise<SmsConsentRecord[]> {
    const own = this.records.get(workspaceId);
    return [...new Set(phones)].flatMap((phone) => {
      const record = own?.get(phone);
      return record ? [{ ...record }] : [];
    }).sort(byPhone);
  }

  async eraseUser(workspaceId: string, phones: readonly string[]): Promise<number> {
    const own = this.records.get(workspaceId);
    let n = 0;
    for (const phone of new Set(phones)) if (own?.delete(phone)) n++;
    return n;
  }

  async close(): Promise<void> {}

  private apply(record: SmsConsentRecord): boolean {
    let own = this.records.get(record.workspaceId);
    if (!own) this.records.set(record.workspaceId, (own = new Map()));
    const current = own.get(record.phone);
    if (current && current.at > record.at) return false;
    own.set(record.phone, record);
    return true;
  }
}
