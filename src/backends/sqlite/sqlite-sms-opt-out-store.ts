/**
 * SMS consent records in SQLite (WAL, one writing process), in tables of their own: by default a
 * file of its own, or, through `onDatabase`, a database another store opened. One row per
 * workspace and number, keyed by both (a WITHOUT ROWID table: the send-time check is one lookup in
 * the primary key); opt-outs are listed through a partial index. Each change is one statement, and
 * "not older than the record" is the upsert's own condition, so no read precedes the write.
 * Recipients are one row per workspace, number and recipient (`recipientsOf` reads one range of
 * the primary key), the later time kept by the upsert's condition; an index by recipient serves
 * export and erasure.
 */
import Database from 'better-sqlite3';
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
import { migrate, openDatabase, type SharedDatabase } from './database.js';

export interface SqliteSmsOptOutStoreOptions {
  /** Database file, or ':memory:'. May be another store's file: the table does not collide. */
  path: string;
  /** `full` fsyncs every change (default); `normal` survives process crashes, not power loss. */
  synchronous?: 'full' | 'normal';
}

/** Upgrades of the table; the version applied is kept in `sms_consent_meta`, apart from other stores'. */
const migrations: readonly string[] = [
  `
  CREATE TABLE sms_consent (
    workspace_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    opted_out INTEGER NOT NULL,
    at INTEGER NOT NULL,
    keyword TEXT,
    PRIMARY KEY (workspace_id, phone)
  ) WITHOUT ROWID;
  CREATE INDEX sms_consent_opted_out ON sms_consent (workspace_id, phone) WHERE opted_out = 1;
  `,
  `
  CREATE TABLE sms_recipients (
    workspace_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    recipient TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, phone, recipient)
  ) WITHOUT ROWID;
  CREATE INDEX sms_recipients_by_recipient ON sms_recipients (workspace_id, recipient);
  `,
];

interface ConsentRow {
  workspace_id: string;
  phone: string;
  opted_out: number;
  at: number;
  keyword: string | null;
}

const columns = 'workspace_id, phone, opted_out, at, keyword';

interface RecipientRow {
  workspace_id: string;
  phone: string;
  recipient: string;
  at: number;
}

function toRecipient(r: RecipientRow): SmsRecipient {
  return { workspaceId: r.workspace_id, phone: r.phone, recipient: r.recipient, at: r.at };
}

function toRecord(r: ConsentRow): SmsConsentRecord {
  return { workspaceId: r.workspace_id, phone: r.phone, optedOut: r.opted_out === 1, at: r.at, keyword: r.keyword };
}

export class SqliteSmsOptOutStore implements SmsOptOutStore {
  readonly capabilities = { durable: true };
  private readonly db: Database.Database;
  /** False on a shared database: its owner closes it, once. */
  private readonly ownsDatabase: boolean;
  private readonly stmt;
  private readonly eraseTx: (workspaceId: string, phones: readonly string[], identities: readonly string[]) => number;

  /** The table in `db`, created if missing. The caller keeps the database: `close` here leaves it open. */
  static onDatabase(db: Database.Database): SqliteSmsOptOutStore {
    return new SqliteSmsOptOutStore({ database: db });
  }

  constructor(options: SqliteSmsOptOutStoreOptions | SharedDatabase) {
    this.ownsDatabase = !('database' in options);
    const db = 'database' in options ? options.database : openDatabase(options);
    this.db = db;
    migrate(db, 'sms_consent_meta', migrations);
    const s = {
      change: db.prepare(
        `INSERT INTO sms_consent (${columns}) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (workspace_id, phone) DO UPDATE SET opted_out = excluded.opted_out, at = excluded.at, keyword = excluded.keyword
         WHERE excluded.at >= sms_consent.at`,
      ),
      optedOut: db.prepare('SELECT opted_out FROM sms_consent WHERE workspace_id = ? AND phone = ?').pluck(),
      list: db.prepare(`SELECT ${columns} FROM sms_consent WHERE workspace_id = ? AND opted_out = 1 AND phone > ? ORDER BY phone LIMIT ?`),
      one: db.prepare(`SELECT ${columns} FROM sms_consent WHERE workspace_id = ? AND phone = ?`),
      erase: db.prepare('DELETE FROM sms_consent WHERE workspace_id = ? AND phone = ?'),
      recordRecipient: db.prepare(
        `INSERT INTO sms_recipients (workspace_id, phone, recipient, at) VALUES (?, ?, ?, ?)
         ON CONFLICT (workspace_id, phone, recipient) DO UPDATE SET at = excluded.at WHERE excluded.at > sms_recipients.at`,
      ),
      recipientsOf: db.prepare('SELECT workspace_id, phone, recipient, at FROM sms_recipients WHERE workspace_id = ? AND phone = ? ORDER BY at DESC, recipient LIMIT ?'),
      recipientEntries: db.prepare('SELECT workspace_id, phone, recipient, at FROM sms_recipients WHERE workspace_id = ? AND recipient = ?'),
      eraseRecipient: db.prepare('DELETE FROM sms_recipients WHERE workspace_id = ? AND recipient = ?'),
    };
    this.stmt = s;
    this.eraseTx = db.transaction((workspaceId: string, phones: readonly string[], identities: readonly string[]) => {
      let n = 0;
      for (const phone of phones) n += s.erase.run(workspaceId, phone).changes;
      for (const recipient of identities) n += s.eraseRecipient.run(workspaceId, recipient).changes;
      return n;
    });
  }

  async optOut(workspaceId: string, phone: string, at: number, keyword: string): Promise<boolean> {
    assertConsentChange({ workspaceId, phone, at, keyword });
    return this.stmt.change.run(workspaceId, phone, 1, at, keyword).changes > 0;
  }

  async optIn(workspaceId: string, phone: string, at: number): Promise<boolean> {
    assertConsentChange({ workspaceId, phone, at });
    return this.stmt.change.run(workspaceId, phone, 0, at, null).changes > 0;
  }

  async isOptedOut(workspaceId: string, phone: string): Promise<boolean> {
    return this.stmt.optedOut.get(workspaceId, phone) === 1;
  }

  async list(workspaceId: string, page: PageRequest = {}): Promise<Page<SmsConsentRecord>> {
    const limit = clampLimit(page.limit);
    // '' sorts before every number: the first page starts at the beginning.
    const after = page.cursor ? cursorKey(page.cursor, ['string'])[0] : '';
    const rows = this.stmt.list.all(workspaceId, after, limit + 1) as ConsentRow[];
    const items = rows.slice(0, limit).map(toRecord);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? encodeCursor([last.phone]) : null };
  }

  async recordRecipient(workspaceId: string, phone: string, recipient: string, at: number): Promise<void> {
    assertConsentChange({ workspaceId, phone, at, recipient });
    this.stmt.recordRecipient.run(workspaceId, phone, recipient, at);
  }

  async recipientsOf(workspaceId: string, phone: string, limit?: number): Promise<SmsRecipient[]> {
    return (this.stmt.recipientsOf.all(workspaceId, phone, clampRecipientsLimit(limit)) as RecipientRow[]).map(toRecipient);
  }

  async exportUser(workspaceId: string, user: SmsUserKeys): Promise<SmsUserData> {
    const consent = [...new Set(user.phones)]
      .sort()
      .flatMap((phone) => {
        const row = this.stmt.one.get(workspaceId, phone) as ConsentRow | undefined;
        return row ? [toRecord(row)] : [];
      });
    const recipients = [...new Set(user.identities)]
      .flatMap((recipient) => (this.stmt.recipientEntries.all(workspaceId, recipient) as RecipientRow[]).map(toRecipient))
      .sort((a, b) => (a.phone < b.phone ? -1 : a.phone > b.phone ? 1 : a.recipient < b.recipient ? -1 : a.recipient > b.recipient ? 1 : 0));
    return { consent, recipients };
  }

  async eraseUser(workspaceId: string, user: SmsUserKeys): Promise<number> {
    if (user.phones.length === 0 && user.identities.length === 0) return 0;
    return this.eraseTx(workspaceId, [...new Set(user.phones)], [...new Set(user.identities)]);
  }

  async close(): Promise<void> {
    if (this.ownsDatabase && this.db.open) this.db.close();
  }
}


