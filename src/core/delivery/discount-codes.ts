/**
 * Personal discount codes, pure: the kind of a code (nudge.yaml `codes.<kind>`) and its checks,
 * the generator, how a typed code is matched, and the lifecycle of one code.
 *
 * Glossary
 * - kind: a recipe for codes: `pattern` (each `X` becomes a random character of `alphabet`, every
 *   other character is kept), `ttl` (validity from the reservation), `redeemedBy` (the track event
 *   and property that carry a used code).
 * - code: the text a user types, in its normal form: upper case, no surrounding space. Codes are
 *   matched after `normaliseCode`, so ` cart-ab3d-k9q2 ` is `CART-AB3D-K9Q2`.
 * - owner: the profile the code's message was for. A code is personal: only its owner redeems it.
 *
 * Lifecycle (stored status; `expired` is derived from the time, never stored)
 *
 *   reserved --message delivered----------------------> issued --redeem--> redeemed
 *   reserved --send failed / suppressed / cancelled---> released (never usable)
 *   reserved --redeem---------------------------------> redeemed
 *   reserved | issued, at or after expiresAt: expired (redeem refused)
 *
 * - A reserved code can be redeemed: the user may have read the message before its outcome was
 *   recorded (the provider took it, the answer was lost, the dispatcher retries). Refusing would
 *   turn away a customer holding a code we sent.
 * - Only a reserved code is settled; the first outcome wins. A redeemed code stays redeemed
 *   whatever outcome is recorded after it: it reached the user, and it was used once.
 * - A code is valid from its reservation until `expiresAt` (exclusive).
 * - Redeeming checks, in order: known, owner, not released, not redeemed, not expired.
 */
import { Type, type Static } from '@sinclair/typebox';
import { parseDuration } from '../duration.js';

export const defaultCodeAlphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
/** Fewest `X`s a pattern may have: 6 over the default alphabet is 2^30 codes per kind. */
export const minRandomChars = 6;
/** Fewest characters an alphabet may have. */
export const minAlphabetChars = 10;
/** Longest code (and pattern). */
export const maxCodeChars = 64;

const kindName = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const patternChars = /^[A-Z0-9_-]+$/;
const alphabetChars = /^[A-Z0-9]+$/;
const codeChars = new RegExp(`^[A-Z0-9_-]{1,${maxCodeChars}}$`);

export const CodeKindSchema = Type.Object(
  {
    pattern: Type.String({
      minLength: 1,
      maxLength: maxCodeChars,
      description: `The shape of a code: each X becomes a random character of the alphabet; other characters (A-Z, 0-9, - and _) are kept. At least ${minRandomChars} X's. Example: CART-XXXX-XXXX.`,
    }),
    alphabet: Type.Optional(
      Type.String({
        description: `The characters an X may become: at least ${minAlphabetChars} distinct upper-case letters and digits. Default ${defaultCodeAlphabet} (no 0/O or 1/I look-alikes).`,
      }),
    ),
    ttl: Type.String({
      pattern: '^\\d+(\\.\\d+)?\\s*(ms|s|m|h|d|w)$',
      description: 'How long a code is valid, from the moment it is reserved for its message (e.g. "48h").',
    }),
    redeemedBy: Type.Optional(
      Type.Object(
        {
          event: Type.String({ minLength: 1, description: 'The track event that redeems a code, e.g. "Order Completed".' }),
          property: Type.String({ minLength: 1, description: 'Its top-level property holding the code, e.g. "coupon".' }),
        },
        {
          additionalProperties: false,
          description: 'An event of the code\'s owner whose property equals the code (matched case-insensitively) redeems it. Default: none; codes are then redeemed only through the API.',
        },
      ),
    ),
  },
  { additionalProperties: false },
);

export type CodeKindDefinition = Static<typeof CodeKindSchema>;

/** A kind of code, checked. */
export interface CodeKind {
  readonly name: string;
  readonly pattern: string;
  readonly alphabet: string;
  /** How many X's the pattern has. */
  readonly randomChars: number;
  readonly ttlMs: number;
  readonly redeemedBy: { readonly event: string; readonly property: string } | null;
}

/** A problem of a kind's definition, at a field relative to `codes.<kind>` (`[]`: the kind's name). */
export interface CodeKindProblem {
  path: string[];
  message: string;
}

/** Checks what a schema cannot: the name, the pattern's characters and randomness, the alphabet, the ttl. */
export function compileCodeKind(name: string, definition: CodeKindDefinition): { ok: true; kind: CodeKind } | { ok: false; problems: CodeKindProblem[] } {
  const problems: CodeKindProblem[] = [];
  if (!kindName.test(name)) problems.push({ path: [], message: `a kind's name is 1-64 letters, digits, - and _, starting with a letter or digit; got ${JSON.stringify(name)}` });

  const { pattern } = definition;
  const randomChars = [...pattern].filter((c) => c === 'X').length;
  if (pattern.length > maxCodeChars) problems.push({ path: ['pattern'], message: `at most ${maxCodeChars} characters, got ${pattern.length}` });
  if (!patternChars.test(pattern)) {
    problems.push({ path: ['pattern'], message: 'only X (a random character) and the fixed characters A-Z, 0-9, - and _ (codes are matched case-insensitively, so write them in upper case)' });
  } else if (randomChars < minRandomChars) {
    problems.push({ path: ['pattern'], message: `has ${randomChars} X's: at least ${minRandomChars} are needed, or codes run out and can be guessed (e.g. CART-XXXX-XXXX)` });
  }

  const alphabet = definition.alphabet ?? defaultCodeAlphabet;
  const distinct = new Set(alphabet);
  if (!alphabetChars.test(alphabet)) problems.push({ path: ['alphabet'], message: 'only upper-case letters A-Z and digits (codes are matched case-insensitively)' });
  else if (distinct.size !== alphabet.length) problems.push({ path: ['alphabet'], message: `has ${[...distinct].filter((c) => alphabet.indexOf(c) !== alphabet.lastIndexOf(c)).join(', ')} more than once` });
  else if (alphabet.length < minAlphabetChars) problems.push({ path: ['alphabet'], message: `has ${alphabet.length} characters: at least ${minAlphabetChars} are needed` });

  const ttl = parseDuration(definition.ttl);
  if (!ttl.ok) problems.push({ path: ['ttl'], message: ttl.message });
  else if (ttl.ms <= 0) problems.push({ path: ['ttl'], message: 'must be longer than 0' });

  const by = definition.redeemedBy;
  if (by && by.event.trim() === '') problems.push({ path: ['redeemedBy', 'event'], message: 'must name an event' });
  if (by && by.property.trim() === '') problems.push({ path: ['redeemedBy', 'property'], message: 'must name a property' });

  if (problems.length > 0 || !ttl.ok) return { ok: false, problems };
  return { ok: true, kind: { name, pattern, alphabet, randomChars, ttlMs: ttl.ms, redeemedBy: by ? { event: by.event, property: by.property } : null } };
}

/** How many random bytes to offer `generateCode`: one per X, and a margin for the bytes it rejects. */
export const randomBytesFor = (kind: CodeKind): number => kind.randomChars + 8;

/**
 * A code of the kind from the caller's random bytes, or null when the bytes ran out first (call
 * again with more). Unbiased: a byte at or above the largest multiple of the alphabet's size that
 * fits in 256 is skipped (rejection sampling), so every character is equally likely.
 */
export function generateCode(kind: CodeKind, randomBytes: Uint8Array): string | null {
  const n = kind.alphabet.length;
  const limit = 256 - (256 % n);
  let next = 0;
  let code = '';
  for (const c of kind.pattern) {
    if (c !== 'X') {
      code += c;
      continue;
    }
    while (next < randomBytes.length && randomBytes[next]! >= limit) next++;
    if (next === randomBytes.length) return null;
    code += kind.alphabet[randomBytes[next++]! % n];
  }
  return code;
}

/** The form codes are stored and matched in: surrounding space removed, ASCII letters in upper case. */
export const normaliseCode = (text: string): string => text.trim().replace(/[a-z]+/g, (s) => s.toUpperCase());

/** Whether a normalised text can be a code at all (a cheap test before a lookup). */
export const isCodeShaped = (code: string): boolean => codeChars.test(code);

export const CodeStatus = {
  /** Generated for a message about to go out; held by that message. */
  reserved: 'reserved',
  /** Its message was delivered. */
  issued: 'issued',
  /** Its message was not sent (failed, suppressed, cancelled): never usable. */
  released: 'released',
  redeemed: 'redeemed',
} as const;
export type CodeStatus = (typeof CodeStatus)[keyof typeof CodeStatus];

/** What a code is at a given time: its status, or `expired` for a reserved or issued code past `expiresAt`. */
export const CodeState = { ...CodeStatus, expired: 'expired' } as const;
export type CodeState = (typeof CodeState)[keyof typeof CodeState];

export interface CodeRecord {
  workspaceId: string;
  /** Normal form (see `normaliseCode`); unique in the workspace. */
  code: string;
  kind: string;
  /** The owner: the profile the message was for. */
  profileId: string;
  /** The message the code was reserved for; one code per message. */
  messageKey: string;
  status: CodeStatus;
  reservedAt: number;
  expiresAt: number;
  /** When the message's outcome was recorded (issued or released); null before. */
  settledAt: number | null;
  redeemedAt: number | null;
}

export interface CodeReservation {
  workspaceId: string;
  profileId: string;
  messageKey: string;
  kind: string;
  code: string;
  expiresAt: number;
  at: number;
}

export function reserveCode(r: CodeReservation): CodeRecord {
  return {
    workspaceId: r.workspaceId,
    code: normaliseCode(r.code),
    kind: r.kind,
    profileId: r.profileId,
    messageKey: r.messageKey,
    status: CodeStatus.reserved,
    reservedAt: r.at,
    expiresAt: r.expiresAt,
    settledAt: null,
    redeemedAt: null,
  };
}

export function codeStateAt(record: CodeRecord, now: number): CodeState {
  const live = record.status === CodeStatus.reserved || record.status === CodeStatus.issued;
  return live && now >= record.expiresAt ? CodeState.expired : record.status;
}

/** The outcome of a code's message: `issued` when delivered, `released` when it will not go out. */
export type Settlement = typeof CodeStatus.issued | typeof CodeStatus.released;

/** The record after its message's outcome; the same record when only a reserved code would change and this one is not. */
export function settleCode(record: CodeRecord, outcome: Settlement, at: number): CodeRecord {
  return record.status === CodeStatus.reserved ? { ...record, status: outcome, settledAt: at } : record;
}

export const RedeemOutcome = {
  redeemed: 'redeemed',
  alreadyRedeemed: 'already_redeemed',
  expired: 'expired',
  released: 'released',
  notFound: 'not_found',
  notOwner: 'not_owner',
} as const;
export type RedeemOutcome = (typeof RedeemOutcome)[keyof typeof RedeemOutcome];

/** What a redemption did; `record` is the code after it (null when there is none). */
export interface RedeemResult {
  outcome: RedeemOutcome;
  record: CodeRecord | null;
}

/** Redeems a code for `profileId` at `at`, once; refuses (leaving the record as it was) with the first reason that applies. */
export function redeemCode(record: CodeRecord | null, profileId: string, at: number): RedeemResult {
  if (record === null) return { outcome: RedeemOutcome.notFound, record: null };
  if (record.profileId !== profileId) return { outcome: RedeemOutcome.notOwner, record };
  if (record.status === CodeStatus.released) return { outcome: RedeemOutcome.released, record };
  if (record.status === CodeStatus.redeemed) return { outcome: RedeemOutcome.alreadyRedeemed, record };
  if (at >= record.expiresAt) return { outcome: RedeemOutcome.expired, record };
  return { outcome: RedeemOutcome.redeemed, record: { ...record, status: CodeStatus.redeemed, redeemedAt: at } };
}
