/**
 * Who said STOP: SMS consent as the phone numbers themselves gave it, per workspace and E.164
 * number, from keywords texted back (STOP, START …) and from the provider reporting a number as
 * unsubscribed (Twilio's error 21610). The SMS channel checks it before every send. Beside it, who
 * each number was texted for, so that a STOP can be put on the right users' consent and timelines
 * (engine/sms-consent.ts): a number says STOP, not a user id.
 *
 * Glossary
 * - record: the latest change of one number in one workspace: opted out (with the keyword that
 *   did it) or opted in, and when (`at`, ms since the epoch, as the caller observed it).
 * - keyword: what opted the number out, upper-cased as received (`STOP`, `UNSUBSCRIBE` …), or
 *   `<provider>:<code>` when the provider reported it (`twilio:21610`).
 * - recipient: a user a text to the number was accepted for, by identity key (`u:<userId>`, or
 *   `a:<anonymousId>` for a user without one: keys survive profile merges, profile ids do not),
 *   with the time of the latest such text.
 *
 * Guarantees
 * - A change applies only if it is not older than the number's record: webhooks arrive out of
 *   order, and a STOP must not be undone by an earlier START that arrives late (nor the other way
 *   round). Equal times: the later call wins. `optOut` and `optIn` say whether they applied.
 * - `isOptedOut` is true exactly when the number's record is an opt-out; a number never seen is not.
 * - `list` pages through the opted-out numbers of a workspace, by number.
 * - `recordRecipient` keeps one entry per number and recipient, with the latest time recorded (an
 *   older time arriving late does not move it back). `recipientsOf` gives a number's recipients,
 *   the most recently texted first (equal times by recipient), at most `limit` (default 10,
 *   clamped to 1..100). Opting out or in leaves a number's recipients as they are.
 * - `exportUser` gives the records (opt-outs and opt-ins) of the user's numbers and the recipient
 *   entries naming the user's identities (on any number); `eraseUser` deletes both and counts
 *   them. Erasing forgets an opt-out: the provider still refuses numbers that opted out at it
 *   (21610), and the channel then records the opt-out again.
 * - Writes are durable before they resolve (for durable stores); reads see every write that
 *   resolved before them. A number that is not E.164 (`+` and 2 to 15 digits, no leading 0), a
 *   time that is not an integer or a recipient that is not an identity key is refused with an
 *   input error naming the field.
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

/** Who a number was texted for, and when last. */
export interface SmsRecipient {
  workspaceId: string;
  /** E.164. */
  phone: string;
  /** The user's identity key: `u:<userId>`, or `a:<anonymousId>`. */
  recipient: string;
  /** When the latest text to the number for this recipient was accepted, in ms since the epoch. */
  at: number;
}

/** What a user's SMS data is found by: the numbers of their `phone` traits and their identity keys. */
export interface SmsUserKeys {
  phones: readonly string[];
  /** `u:<userId>`, `a:<anonymousId>`, as `ProfileStore.identitiesOf` gives them. */
  identities: readonly string[];
}

/** A user's SMS data, for an export. */
export interface SmsUserData {
  /** The records of the user's numbers, ordered by number. */
  consent: SmsConsentRecord[];
  /** The entries naming the user's identities, ordered by number, then recipient. */
  recipients: SmsRecipient[];
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
  /** A text to `phone` for `recipient` was accepted at `at`; keeps the later of this and the time recorded. */
  recordRecipient(workspaceId: string, phone: string, recipient: string, at: number): Promise<void>;
  /** Who the number was texted for, the most recent first, at most `limit` (default 10, 1..100). */
  recipientsOf(workspaceId: string, phone: string, limit?: number): Promise<SmsRecipient[]>;
  /** The records of the user's numbers and the recipient entries naming the user; unknown keys ignored. */
  exportUser(workspaceId: string, user: SmsUserKeys): Promise<SmsUserData>;
  /** Deletes what `exportUser` gives. Returns how many records and entries there were. */
  eraseUser(workspaceId: string, user: SmsUserKeys): Promise<number>;
  close(): Promise<void>;
}

const e164 = /^\+[1-9]\d{1,14}$/;
const identityKey = /^[ua]:./s;

/** `+` and the country code first, 2 to 15 digits in all, nothing else: `+14155550100`. */
export function isE164(phone: string): boolean {
  return e164.test(phone);
}

export const defaultRecipientsLimit = 10;
export const maxRecipientsLimit = 100;

/** `recipientsOf`'s limit, clamped to 1..100; default 10. */
export function clampRecipientsLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return defaultRecipientsLimit;
  return Math.min(maxRecipientsLimit, Math.max(1, Math.floor(limit)));
}

/** Rejects a change no store can hold, naming each bad field. */
export function assertConsentChange(change: { workspaceId: string; phone: string; at: number; keyword?: string; recipient?: string }): void {
  const issues: Issue[] = [];
  if (typeof change.workspaceId !== 'string' || change.workspaceId === '') issues.push({ path: 'workspaceId', message: 'must be a non-empty string' });
  if (typeof change.phone !== 'string' || !isE164(change.phone)) issues.push({ path: 'phone', message: 'must be an E.164 number such as +14155550100' });
  if (!Number.isSafeInteger(change.at)) issues.push({ path: 'at', message: 'must be an integer number of ms' });
  if ('keyword' in change && (typeof change.keyword !== 'string' || change.keyword === '')) issues.push({ path: 'keyword', message: 'must be a non-empty string' });
  if ('recipient' in change && (typeof change.recipient !== 'string' || !identityKey.test(change.recipient))) issues.push({ path: 'recipient', message: 'must be an identity key: u:<userId> or a:<anonymousId>' });
  if (issues.length > 0) throw new NudgeError(ErrorCode.invalidInput, `invalid SMS ${'recipient' in change ? 'recipient' : 'consent change'}: ${formatIssues(issues)}`, issues);
}
