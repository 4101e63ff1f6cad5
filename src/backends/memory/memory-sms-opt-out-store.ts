/**
 * SMS consent records and recipients in Maps, for tests and trials: the whole `SmsOptOutStore`
 * contract except durability. `list` sorts the workspace's opt-outs, and `exportUser` looks at
 * every recipient of the workspace, on every call, which is fine for test sizes.
 */
import { clampLimit, cursorKey, encodeCursor, type Page, type PageRequest } from '../../ports/pagination.js';
import {
  assertConsentChange,
  clampRecipientsLimit,
  type SmsConsentRecord,
  type SmsOptOutStore,
  type SmsRecipient,
  type SmsUserData,
  type SmsUserKeys,
} from '../../ports/sms-opt-out-store.js';

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const byPhone = (a: { phone: string }, b: { phone: string }): number => compare(a.phone, b.phone);

export class MemorySmsOptOutStore implements SmsOptOutStore {
  readonly capabilities = { durable: false };
  /** By workspace, then by number. */
  private readonly records = new Map<string, Map<string, SmsConsentRecord>>();
  /** By workspace, then by number, then by recipient: the time of the latest text. */
  private readonly recipients = new Map<string, Map<string, Map<string, number>>>();

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

  async recordRecipient(workspaceId: string, phone: string, recipient: string, at: number): Promise<void> {
    assertConsentChange({ workspaceId, phone, at, recipient });
    let own = this.recipients.get(workspaceId);
    if (!own) this.recipients.set(workspaceId, (own = new Map()));
    let ofPhone = own.get(phone);
    if (!ofPhone) own.set(phone, (ofPhone = new Map()));
    ofPhone.set(recipient, Math.max(at, ofPhone.get(recipient) ?? at));
  }

  async recipientsOf(workspaceId: string, phone: string, limit?: number): Promise<SmsRecipient[]> {
    return [...(this.recipients.get(workspaceId)?.get(phone) ?? [])]
      .map(([recipient, at]) => ({ workspaceId, phone, recipient, at }))
      .sort((a, b) => b.at - a.at || compare(a.recipient, b.recipient))
      .slice(0, clampRecipientsLimit(limit));
  }

  async exportUser(workspaceId: string, user: SmsUserKeys): Promise<SmsUserData> {
    const own = this.records.get(workspaceId);
    const consent = [...new Set(user.phones)].flatMap((phone) => {
      const record = own?.get(phone);
      return record ? [{ ...record }] : [];
    }).sort(byPhone);
    const identities = new Set(user.identities);
    const recipients = [...(this.recipients.get(workspaceId) ?? [])]
      .flatMap(([phone, ofPhone]) => [...ofPhone].filter(([recipient]) => identities.has(recipient)).map(([recipient, at]) => ({ workspaceId, phone, recipient, at })))
      .sort((a, b) => byPhone(a, b) || compare(a.recipient, b.recipient));
    return { consent, recipients };
  }

  async eraseUser(workspaceId: string, user: SmsUserKeys): Promise<number> {
    const own = this.records.get(workspaceId);
    let n = 0;
    for (const phone of new Set(user.phones)) if (own?.delete(phone)) n++;
    const identities = new Set(user.identities);
    const recipients = this.recipients.get(workspaceId);
    for (const [phone, ofPhone] of recipients ?? []) {
      for (const recipient of ofPhone.keys()) if (identities.has(recipient) && ofPhone.delete(recipient)) n++;
      if (ofPhone.size === 0) recipients!.delete(phone);
    }
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
