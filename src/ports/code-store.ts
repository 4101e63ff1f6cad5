/**
 * Personal discount codes: which code each message carries, whose it is, and whether it was used.
 * The lifecycle is core's (src/core/delivery/discount-codes.ts); a store keeps it durably and
 * applies each change atomically.
 *
 * Guarantees
 * - One code per message: `reserve` is idempotent by `messageKey`. A message asking again (a retry,
 *   a restart after a crash) gets the code it already has, whatever its status, and nothing changes.
 * - A code is unique in its workspace: `reserve` with a code the workspace already has stores
 *   nothing and answers `collision`, so the caller generates another.
 * - Codes are matched in normal form (`normaliseCode`): every method normalises the codes it is given.
 * - `settle` and `redeem` read, decide (core's `settleCode`, `redeemCode`) and write in one atomic
 *   step: of two redemptions of one code, racing or not, exactly one is `redeemed`.
 * - Every change is durable (for durable stores) before its promise resolves; a rejected call
 *   changed nothing.
 * - Codes belong to the profile id their message was for: `listFor`, `exportUser` and `eraseUser`
 *   take profile ids. A profile merged into another leaves its id among the other's identity
 *   keys (a profile's id is the key that created it), so a caller passing a profile's id with
 *   its identity keys finds the codes of every profile merged into it.
 */
import { isCodeShaped, normaliseCode, type CodeRecord, type CodeReservation, type RedeemResult, type Settlement } from '../core/delivery/discount-codes.js';
import { ErrorCode, formatIssues, NudgeError, type Issue } from '../core/errors.js';
import type { Page, PageRequest } from './pagination.js';

export type ReserveResult =
  /** The code is now the message's. */
  | { outcome: 'reserved'; record: CodeRecord }
  /** The message had a code already: this one. */
  | { outcome: 'existing'; record: CodeRecord }
  /** The workspace has this code already (another message's): nothing was stored. */
  | { outcome: 'collision' };

export interface CodeStoreCapabilities {
  /** Codes survive a restart of the process. */
  durable: boolean;
}

export interface CodeStore {
  readonly capabilities: CodeStoreCapabilities;
  reserve(reservation: CodeReservation): Promise<ReserveResult>;
  /** Records the outcome of a message: the message's code afterwards, or null when it has none. */
  settle(messageKey: string, outcome: Settlement, at: number): Promise<CodeRecord | null>;
  /** Redeems a code for `profileId` at `at` (see `redeemCode`). */
  redeem(workspaceId: string, code: string, profileId: string, at: number): Promise<RedeemResult>;
  get(workspaceId: string, code: string): Promise<CodeRecord | null>;
  /** A profile's codes, newest reservation first. */
  listFor(workspaceId: string, profileIds: readonly string[], page?: PageRequest): Promise<Page<CodeRecord>>;
  /** Every code of the profiles, newest reservation first. */
  exportUser(workspaceId: string, profileIds: readonly string[]): Promise<CodeRecord[]>;
  /** Deletes every code of the profiles; returns how many. */
  eraseUser(workspaceId: string, profileIds: readonly string[]): Promise<number>;
  close(): Promise<void>;
}

/** Rejects a reservation no store can hold, naming each bad field. */
export function assertReservation(r: CodeReservation): void {
  const issues: Issue[] = [];
  for (const field of ['workspaceId', 'profileId', 'messageKey', 'kind'] as const) {
    if (typeof r[field] !== 'string' || r[field] === '') issues.push({ path: field, message: 'must be a non-empty string' });
  }
  if (typeof r.code !== 'string' || !isCodeShaped(normaliseCode(r.code))) issues.push({ path: 'code', message: 'must be 1-64 letters, digits, - and _' });
  if (!Number.isSafeInteger(r.at)) issues.push({ path: 'at', message: 'must be an integer number of ms' });
  if (!Number.isSafeInteger(r.expiresAt)) issues.push({ path: 'expiresAt', message: 'must be an integer number of ms' });
  else if (r.expiresAt <= r.at) issues.push({ path: 'expiresAt', message: 'must be after `at`' });
  if (issues.length > 0) throw new NudgeError(ErrorCode.invalidInput, `invalid code reservation: ${formatIssues(issues)}`, issues);
}

/** Newest reservation first, then by code (descending): the order of listings, and their cursor `[reservedAt, code]`. */
export const newestFirst = (a: CodeRecord, b: CodeRecord): number => b.reservedAt - a.reservedAt || (a.code < b.code ? 1 : a.code > b.code ? -1 : 0);
