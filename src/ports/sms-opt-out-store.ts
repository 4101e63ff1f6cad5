/**
 * Who said STOP: SMS consent as the phone numbers themselves gave it, per workspace and E.164
 * number, from keywords texted back (STOP, START …) and from the provider reporting a number as
 * unsubscribed (Twilio's error 21610). The SMS channel checks it before every send.
 *
 * Glossary
 * - record: the latest change of one number in one workspace: opted out (with the keyword that
 *   did it) or opted in, and when (`at`, ms since the epoch, as the caller observed it).
 * - keyword: what opted the number out, upper-cased as received (`STOP`, `UNSUBSCRIBE` …), or
 *   `<provider>:<code>` when the provider reported it (`twilio:21610`).
 *
 * Guarantees
 * - A change applies only if it is not older than the number's record: webhooks arrive out of
 *   order, and a STOP must not be undone by an earlier START that arrives late (nor the other way
 *   round). Equal times: the later call wins. `optOut` and `optIn` say whether they applied.
 * - `isOptedOut` is true exactly when the number's record is an opt-out; a number never seen is not.
 * - `list` pages through the opted-out numbers of a workspace, by number.
 * - `exportUser` gives the records (opt-outs and opt-ins) of the user's numbers, `eraseUser`
 *   deletes them. Erasing forgets an opt-out: the provider still refuses numbers that opted out
 *   at it (21610), and the channel then records the opt-out again.
 * - Writes are durable before they resolve (for durable stores); reads see every write that
 *   resolved before them. A number that is not E.164 (`+` and 2 to 15 digits, no leading 0) or a
 *   time that is not an integer is refused with an input error naming the field.
 */
import { ErrorCode, formatIssues, NudgeError, type Issue } from '../core/errors.js';
import type { Page, PageRequest } from './pagination.js';

export interface SmsConsentRecord {
  workspaceId: string;
  /** E.164, e.g. `+14155550100`. */
  phone: string;
  optedOut: boolean;
  /** When the change happened, in ms since the epoch. */
  at: number;
  /** What opted the number out; null for an opt-in. */
  keyword: string | null;
}

export interface SmsOptOutStoreCapabilities {
  /** Records survive a restart of the process. */
  durable: boolean;
}

export interface SmsOptOutStore {
  readonly capabilities: SmsOptOutStoreCapabilities;
  /** Records an opt-out unless the number has a newer record. Returns whether it applied. */
  optOut(workspaceId: string, phone: string, at: number, keyword: string): Promise<boolean>;
  /** Records an opt-in unless the number has a newer record. Returns whether it applied. */
  optIn(workspaceId: string, phone: string, at: number): Promise<boolean>;
  isOptedOut(workspaceId: string, phone: string): Promise<boolean>;
  /** The workspace's opted-out numbers, ordered by number. */
  list(workspaceId: string, page?: PageRequest): Promise<Page<SmsConsentRecord>>;
  /** The records of these numbers (a user's `phone` traits), ordered by number; others ignored. */
  exportUser(workspaceId: string, phones: readonly string[]): Promise<SmsConsentRecord[]>;
  /** Deletes the records of these numbers. Returns how many there were. */
  eraseUser(workspaceId: string, phones: readonly string[]): Promise<number>;
  close(): Promise<void>;
}

const e164 = /^\+[1-9]\d{1,14}$/;

/** `+` and the country code first, 2 to 15 digits in all, nothing else: `+14155550100`. */
export function isE164(phone: string): boolean {
  return e164.test(phone);
}

/** Rejects a change no store can hold, naming each bad field. */
export function assertConsentChange(change: { workspaceId: string; phone: string; at: number; keyword?: string }): void {
  const issues: Issue[] = [];
  if (typeof change.workspaceId !== 'string' || change.workspaceId === '') issues.push({ path: 'workspaceId', message: 'must be a non-empty string' });
  if (typeof change.phone !== 'string' || !isE164(change.phone)) issues.push({ path: 'phone', message: 'must be an E.164 number such as +14155550100' });
  if (!Number.isSafeInteger(change.at)) issues.push({ path: 'at', message: 'must be an integer number of ms' });
  if ('keyword' in change && (typeof change.keyword !== 'string' || change.keyword === '')) issues.push({ path: 'keyword', message: 'must be a non-empty string' });
  if (issues.length > 0) throw new NudgeError(ErrorCode.invalidInput, `invalid SMS consent change: ${formatIssues(issues)}`, issues);
}
