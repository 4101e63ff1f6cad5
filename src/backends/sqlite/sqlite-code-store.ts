/**
 * Discount codes in SQLite (WAL), in a table of their own: by default a file of their own; with
 * `SqliteCodeStore.onDatabase` in a database another store opened.
 *
 * The primary key `(workspace_id, code)` is the unique index that makes a code once per workspace,
 * and a unique index on `message_key` makes it one code per message; a profile's codes are listed
 * through an index on `(workspace_id, profile_id, reserved_at, code)`. `reserve`, `settle` and
 * `redeem` read, decide with core's lifecycle and write in one IMMEDIATE transaction, so two
 * processes on one file cannot both redeem a code.
 */
import Database from 'better-sqlite3';
import { normaliseCode, redeemCode, reserveCode, settleCode, type CodeRecord, type CodeReservation, type CodeStatus, type RedeemResult, type Settlement } from '../../core/delivery/discount-codes.js';
import { assertReservation, newestFirst, type CodeStore, type ReserveResult } from '../../ports/code-store.js';
import { clampLimit, cursorKey, encodeCursor, type Page, type PageRequest } from '../../ports/pagination.js';
import { migrate, openDatabase, type SharedDatabase } from './database.js';

export interface SqliteCodeStoreOptions {
  /** Database file, or ':memory:'. May be another store's file: the tables do not collide. */
  path: string;
  /** `full` fsyncs every change (default); `normal` survives process crashes, not power loss. */
  synchronous?: 'full' | 'normal';
  /** Page cache in MiB. Default 16. */
  cacheMiB?: number;
}

/** Upgrades of the code tables; the version applied is kept in `code_meta`, apart from the other stores'. */
const migrations: readonly string[] = [
  `
  CREATE TABLE discount_codes (
    workspace_id TEXT NOT NULL,
    code TEXT NOT NULL,
    kind TEXT NOT NULL,
    profile_id TEXT NOT NULL,
    message_key TEXT NOT NULL,
    status TEXT NOT NULL,
    reserved_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    settled_at INTEGER,
    redeemed_at INTEGER,
    PRIMARY KEY (workspace_id, code)
  ) WITHOUT ROWID;
  CREATE UNIQUE INDEX discount_codes_message ON discount_codes (message_key);
  CREATE INDEX discount_codes_profile ON discount_codes (workspace_id, profile_id, reserved_at, code);
  `,
];

interface CodeRow {
  workspace_id: string;
  code: string;
  kind: string;
  profile_id: string;
  message_key: string;
  status: CodeStatus;
  reserved_at: number;
  expires_at: number;
  settled_at: number | null;
  redeemed_at: number | null;
}

const columns = 'workspace_id, code, kind, profile_id, message_key, status, reserved_at, expires_at, settled_at, redeemed_at';

const toRecord = (r: CodeRow): CodeRecord => ({
  workspaceId: r.workspace_id,
  code: r.code,
  kind: r.kind,
  profileId: r.profile_id,
  messageKey: r.message_key,
  status: r.status,
  reservedAt: r.reserved_at,
  expiresAt: r.expires_at,
  settledAt: r.settled_at,
  redeemedAt: r.redeemed_at,
});

export class SqliteCodeStore implements CodeStore {
  readonly capabilities = { durable: true };
  private readonly db: Database.Database;
  /** False on a shared database: its owner closes it, once. */
  private readonly ownsDatabase: boolean;
  private readonly stmt;
  private readonly reserveTx: { immediate: (r: CodeReservation) => ReserveResult };
  private readonly settleTx: { immediate: (messageKey: string, outcome: Settlement, at: number) => CodeRecord | null };
  private readonly redeemTx: { immediate: (workspaceId: string, code: string, profileId: string, at: number) => RedeemResult };
  private readonly eraseTx: (workspaceId: string, profileIds: readonly string[]) => number;

  /** Codes in the tables of `db`, created if missing. The caller keeps the database: `close` here leaves it open. */
  static onDatabase(db: Database.Database): SqliteCodeStore {
    return new SqliteCodeStore({ database: db });
  }

  constructor(options: SqliteCodeStoreOptions | SharedDatabase) {
    this.ownsDatabase = !('database' in options);
    const db = 'database' in options ? options.database : openDatabase(options);
    this.db = db;
    migrate(db, 'code_meta', migrations);

    const s = {
      byCode: db.prepare(`SELECT ${columns} FROM discount_codes WHERE workspace_id = ? AND code = ?`),
      byMessage: db.prepare(`SELECT ${columns} FROM discount_codes WHERE message_key = ?`),
      insert: db.prepare(
        `INSERT INTO discount_codes (${columns}) VALUES (@workspaceId, @code, @kind, @profileId, @messageKey, @status, @reservedAt, @expiresAt, @settledAt, @redeemedAt) ON CONFLICT DO NOTHING`,
      ),
      update: db.prepare('UPDATE discount_codes SET status = ?, settled_at = ?, redeemed_at = ? WHERE workspace_id = ? AND code = ?'),
      firstOf: db.prepare(
        `SELECT ${columns} FROM discount_codes WHERE workspace_id = ? AND profile_id IN (SELECT value FROM json_each(?)) ORDER BY reserved_at DESC, code DESC LIMIT ?`,
      ),
      nextOf: db.prepare(
        `SELECT ${columns} FROM discount_codes WHERE workspace_id = ? AND profile_id IN (SELECT value FROM json_each(?))
           AND (reserved_at < ? OR (reserved_at = ? AND code < ?)) ORDER BY reserved_at DESC, code DESC LIMIT ?`,
      ),
      allOf: db.prepare(`SELECT ${columns} FROM discount_codes WHERE workspace_id = ? AND profile_id = ?`),
      eraseOf: db.prepare('DELETE FROM discount_codes WHERE workspace_id = ? AND profile_id = ?'),
    };
    this.stmt = s;
    const write = (r: CodeRecord) => s.update.run(r.status, r.settledAt, r.redeemedAt, r.workspaceId, r.code);

    this.reserveTx = db.transaction((r: CodeReservation): ReserveResult => {
      const existing = s.byMessage.get(r.messageKey) as CodeRow | undefined;
      if (existing) return { outcome: 'existing', record: toRecord(existing) };
      const record = reserveCode(r);
      // The message has no code (just read, in this transaction): a conflict can only be the code's.
      return s.insert.run(record).changes === 1 ? { outcome: 'reserved', record } : { outcome: 'collision' };
    });
    this.settleTx = db.transaction((messageKey: string, outcome: Settlement, at: number) => {
      const row = s.byMessage.get(messageKey) as CodeRow | undefined;
      if (!row) return null;
      const before = toRecord(row);
      const after = settleCode(before, outcome, at);
      if (after !== before) write(after);
      return after;
    });
    this.redeemTx = db.transaction((workspaceId: string, code: string, profileId: string, at: number) => {
      const row = s.byCode.get(workspaceId, code) as CodeRow | undefined;
      const result = redeemCode(row ? toRecord(row) : null, profileId, at);
      if (result.outcome === 'redeemed') write(result.record!);
      return result;
    });
    this.eraseTx = db.transaction((workspaceId: string, profileIds: readonly string[]) => {
      let n = 0;
      for (const id of new Set(profileIds)) n += s.eraseOf.run(workspaceId, id).changes;
      return n;
    });
  }

  async reserve(reservation: CodeReservation): Promise<ReserveResult> {
    assertReservation(reservation);
    return this.reserveTx.immediate(reservation);
  }

  async settle(messageKey: string, outcome: Settlement, at: number): Promise<CodeRecord | null> {
    return this.settleTx.immediate(messageKey, outcome, at);
  }

  async redeem(workspaceId: string, code: string, profileId: string, at: number): Promise<RedeemResult> {
    return this.redeemTx.immediate(workspaceId, normaliseCode(code), profileId, at);
  }

  async get(workspaceId: string, code: string): Promise<CodeRecord | null> {
    const row = this.stmt.byCode.get(workspaceId, normaliseCode(code)) as CodeRow | undefined;
    return row ? toRecord(row) : null;
  }

  async listFor(workspaceId: string, profileIds: readonly string[], page: PageRequest = {}): Promise<Page<CodeRecord>> {
    const limit = clampLimit(page.limit);
    const after = page.cursor ? cursorKey(page.cursor, ['number', 'string']) : null;
    const ids = JSON.stringify([...new Set(profileIds)]);
    const rows = (after ? this.stmt.nextOf.all(workspaceId, ids, after[0], after[0], after[1], limit + 1) : this.stmt.firstOf.all(workspaceId, ids, limit + 1)) as CodeRow[];
    const items = rows.slice(0, limit).map(toRecord);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? encodeCursor([last.reservedAt, last.code]) : null };
  }

  async exportUser(workspaceId: string, profileIds: readonly string[]): Promise<CodeRecord[]> {
    const rows = [...new Set(profileIds)].flatMap((id) => this.stmt.allOf.all(workspaceId, id) as CodeRow[]);
    return rows.map(toRecord).sort(newestFirst);
  }

  async eraseUser(workspaceId: string, profileIds: readonly string[]): Promise<number> {
    return this.eraseTx(workspaceId, profileIds);
  }

  async close(): Promise<void> {
    if (this.ownsDatabase && this.db.open) this.db.close();
  }
}

