/**
 * Personal discount codes for messages: a fresh code when a message that needs one is about to be
 * rendered, its release when the message does not go out, and its redemption by the owner's events
 * or the API.
 *
 * - `codeFor` is idempotent by message key: a retry of the message, or a process that renders it
 *   again after a crash, gets the same code. A code already taken in the workspace is generated
 *   again, up to `maxAttempts` times; then it throws (the pattern has too few X's for the volume).
 * - `settled` is to be called once the message's final outcome is durably recorded (in the outbox):
 *   delivered issues the code, anything else releases it for good. If it is never called (a crash
 *   in between), the code stays reserved, known to no one, until it expires.
 * - `redeemFrom` scans committed events for each kind's `redeemedBy` event; an event redeems only a
 *   code of a kind that names that event and property, at the event's (skew-corrected) time. Events
 *   no kind names cost one Map lookup.
 */
import { randomBytes } from 'node:crypto';
import {
  codeStateAt,
  generateCode,
  isCodeShaped,
  normaliseCode,
  randomBytesFor,
  type CodeKind,
  type CodeRecord,
  type CodeState,
  RedeemOutcome,
  type RedeemResult,
} from '../core/delivery/discount-codes.js';
import { EventType, type StoredEvent } from '../core/event.js';
import type { Clock } from '../ports/clock.js';
import type { CodeStore } from '../ports/code-store.js';
import type { Page, PageRequest } from '../ports/pagination.js';

export interface DiscountCodesOptions {
  store: CodeStore;
  /** The kinds in force, by name (nudge.yaml `codes`, each through `compileCodeKind`). */
  kinds: ReadonlyMap<string, CodeKind>;
  /** `n` random bytes. Default: node:crypto's `randomBytes`. */
  random?: (n: number) => Uint8Array;
  clock: Clock;
  /** Codes generated for one message before giving up on collisions. Default 5. */
  maxAttempts?: number;
  /**
   * A profile's identity keys. A profile merged into another leaves its id among them (a profile's
   * id is the key that created it), so codes reserved for a visitor before they signed up are
   * theirs after it: listed, and redeemable by them. Default: the profile id alone.
   */
  identitiesOf?: (workspaceId: string, profileId: string) => Promise<readonly string[]>;
}

export const DiscountCodeErrorCode = {
  unknownKind: 'unknown_kind',
  /** Every code generated was taken: the pattern has too few random characters for the codes issued. */
  exhausted: 'codes_exhausted',
  /** The message's code was released: a settled message is not sent again. */
  released: 'code_released',
} as const;
export type DiscountCodeErrorCode = (typeof DiscountCodeErrorCode)[keyof typeof DiscountCodeErrorCode];

export class DiscountCodeError extends Error {
  override readonly name = 'DiscountCodeError';
  constructor(
    readonly code: DiscountCodeErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** What a message's template gets. */
export interface IssuedCode {
  code: string;
  expiresAt: number;
}

export type MessageOutcome = 'delivered' | 'failed' | 'suppressed';

/** One code an event carried, and what became of it. `other_kind`: the code is of a kind this event does not redeem. */
export interface EventRedemption {
  workspaceId: string;
  messageId: string;
  profileId: string;
  code: string;
  outcome: RedeemOutcome | 'other_kind';
  /** The code's kind, when it exists. */
  kind: string | null;
}

/** A code as the API shows it: its record and its state now. */
export interface CodeView extends CodeRecord {
  state: CodeState;
}

/** Random bytes appended when a generation ran out of usable bytes, at most this many times. */
const maxRefills = 8;

export class DiscountCodes {
  private readonly store: CodeStore;
  private readonly kinds: ReadonlyMap<string, CodeKind>;
  private readonly random: (n: number) => Uint8Array;
  private readonly clock: Clock;
  private readonly maxAttempts: number;
  private readonly identitiesOf: DiscountCodesOptions['identitiesOf'];
  /** Event name -> the kinds it redeems. */
  private readonly redeemers = new Map<string, CodeKind[]>();

  constructor(options: DiscountCodesOptions) {
    this.store = options.store;
    this.kinds = options.kinds;
    this.random = options.random ?? randomBytes;
    this.clock = options.clock;
    this.maxAttempts = options.maxAttempts ?? 5;
    this.identitiesOf = options.identitiesOf;
    for (const kind of options.kinds.values()) {
      if (!kind.redeemedBy) continue;
      const list = this.redeemers.get(kind.redeemedBy.event) ?? [];
      this.redeemers.set(kind.redeemedBy.event, [...list, kind]);
    }
  }

  /** The code of a message about to be rendered: the one it has, or a new reservation. */
  async codeFor(workspaceId: string, profileId: string, messageKey: string, kindName: string): Promise<IssuedCode> {
    const kind = this.kinds.get(kindName);
    if (!kind) throw new DiscountCodeError(DiscountCodeErrorCode.unknownKind, `code: no kind "${kindName}" in nudge.yaml codes (known: ${[...this.kinds.keys()].join(', ') || 'none'})`);
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const at = this.clock.now();
      const result = await this.store.reserve({ workspaceId, profileId, messageKey, kind: kind.name, code: this.generate(kind), expiresAt: at + kind.ttlMs, at });
      if (result.outcome === 'collision') continue;
      const { record } = result;
      if (record.status === 'released') {
        throw new DiscountCodeError(DiscountCodeErrorCode.released, `message ${messageKey}: its code ${record.code} was released when the message was settled; a settled message is not sent again`);
      }
      return { code: record.code, expiresAt: record.expiresAt };
    }
    throw new DiscountCodeError(
      DiscountCodeErrorCode.exhausted,
      `codes.${kind.name}: ${this.maxAttempts} codes generated in a row for message ${messageKey} were already taken in workspace "${workspaceId}": the pattern ${kind.pattern} has too few X's for the codes issued`,
    );
  }

  /** Records a message's final outcome: delivered issues its code, failed or suppressed releases it. Null when it has none. */
  async settled(messageKey: string, outcome: MessageOutcome): Promise<CodeRecord | null> {
    // Without code kinds no message has a code: no transaction per message to find that out.
    if (this.kinds.size === 0) return null;
    return this.store.settle(messageKey, outcome === 'delivered' ? 'issued' : 'released', this.clock.now());
  }

  /** Redeems the codes the events carry in their kinds' `redeemedBy` properties; one entry per code found. */
  async redeemFrom(events: readonly StoredEvent[]): Promise<EventRedemption[]> {
    const done: EventRedemption[] = [];
    for (const event of events) {
      if (event.type !== EventType.track) continue;
      const kinds = this.redeemers.get(event.name);
      if (!kinds) continue;
      const carried = new Map<string, Set<string>>();
      for (const kind of kinds) {
        const code = codeIn(event.properties[kind.redeemedBy!.property]);
        if (code !== null) carried.set(code, (carried.get(code) ?? new Set()).add(kind.name));
      }
      for (const [code, redeemable] of carried) {
        const base = { workspaceId: event.workspaceId, messageId: event.messageId, profileId: event.profileId, code };
        const record = await this.store.get(event.workspaceId, code);
        if (record && !redeemable.has(record.kind)) {
          done.push({ ...base, outcome: 'other_kind', kind: record.kind });
          continue;
        }
        const result = record
          ? await this.store.redeem(event.workspaceId, code, await this.redeemerOf(event.workspaceId, event.profileId, record), event.timestamp)
          : { outcome: 'not_found' as const, record: null };
        done.push({ ...base, outcome: result.outcome, kind: record?.kind ?? null });
      }
    }
    return done;
  }

  /** Check-and-burn for a shop's checkout: redeems now, for the owner only (or a profile it was merged into). */
  async redeem(workspaceId: string, code: string, profileId: string): Promise<RedeemResult> {
    const result = await this.store.redeem(workspaceId, code, profileId, this.clock.now());
    if (result.outcome !== RedeemOutcome.notOwner || !result.record) return result;
    const owner = await this.redeemerOf(workspaceId, profileId, result.record);
    return owner === profileId ? result : this.store.redeem(workspaceId, code, owner, this.clock.now());
  }

  /** The profile ids whose codes are `profileId`'s: its own and those of the profiles merged into it. */
  private async ownIds(workspaceId: string, profileId: string): Promise<string[]> {
    const keys = (await this.identitiesOf?.(workspaceId, profileId)) ?? [];
    return [...new Set([profileId, ...keys])];
  }

  /**
   * Who redeems `record` for `profileId`: the code's owner when that is the profile or one merged
   * into it (the store's owner check then passes), else the profile itself (and the store refuses).
   */
  private async redeemerOf(workspaceId: string, profileId: string, record: CodeRecord): Promise<string> {
    if (record.profileId === profileId) return profileId;
    return (await this.ownIds(workspaceId, profileId)).includes(record.profileId) ? record.profileId : profileId;
  }

  async get(workspaceId: string, code: string): Promise<CodeView | null> {
    const record = await this.store.get(workspaceId, code);
    return record && this.view(record);
  }

  async listFor(workspaceId: string, profileId: string, page?: PageRequest): Promise<Page<CodeView>> {
    const found = await this.store.listFor(workspaceId, await this.ownIds(workspaceId, profileId), page);
    return { items: found.items.map((r) => this.view(r)), nextCursor: found.nextCursor };
  }

  view(record: CodeRecord): CodeView {
    return { ...record, state: codeStateAt(record, this.clock.now()) };
  }

  private generate(kind: CodeKind): string {
    let bytes = this.random(randomBytesFor(kind));
    for (let refill = 0; refill <= maxRefills; refill++) {
      const code = generateCode(kind, bytes);
      if (code !== null) return code;
      bytes = new Uint8Array([...bytes, ...this.random(kind.randomChars)]);
    }
    throw new Error(`codes.${kind.name}: the random source gave no usable bytes for ${kind.alphabet.length} characters`);
  }
}

/** The code an event property holds, in normal form; null when it cannot be one. */
function codeIn(value: unknown): string | null {
  const text = typeof value === 'string' ? value : typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : null;
  if (text === null) return null;
  const code = normaliseCode(text);
  return isCodeShaped(code) ? code : null;
}
