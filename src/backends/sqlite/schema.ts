/**
 * The SQLite schema, upgraded in place through `PRAGMA user_version`.
 *
 * `events` is append-only and indexed only by values that grow with time, so an append touches
 * the last pages of each B-tree. The per-user `timeline` is the index that would scatter writes
 * across the file; it is filled behind the log, in key order, by each checkpoint commit. Events
 * after the last indexed position (`meta.indexed`) are found by scanning that short tail.
 * `profiles.folded_through` is the log position a stored profile holds every event of, up to.
 */
export const migrations: readonly string[] = [
  `
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, even after erasure: replay relies on it
    workspace_id TEXT NOT NULL,
    profile_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    ts INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    body TEXT NOT NULL
  );
  CREATE INDEX events_by_time ON events (workspace_id, ts, seq);
  CREATE INDEX events_by_received ON events (received_at);

  CREATE TABLE timeline (
    workspace_id TEXT NOT NULL,
    profile_id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, profile_id, ts, seq)
  ) WITHOUT ROWID;

  CREATE TABLE profiles (
    workspace_id TEXT NOT NULL,
    profile_id TEXT NOT NULL,
    user_id TEXT,
    email TEXT,
    updated_at INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (workspace_id, profile_id)
  );
  CREATE INDEX profiles_by_update ON profiles (workspace_id, updated_at, profile_id);
  CREATE INDEX profiles_by_email ON profiles (workspace_id, email) WHERE email IS NOT NULL;

  CREATE TABLE identities (
    workspace_id TEXT NOT NULL,
    key TEXT NOT NULL,
    profile_id TEXT NOT NULL,
    PRIMARY KEY (workspace_id, key)
  ) WITHOUT ROWID;
  CREATE INDEX identities_by_profile ON identities (workspace_id, profile_id);

  CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
  INSERT INTO meta (key, value) VALUES ('checkpoint', 0), ('indexed', 0);
  `,
  // 2: profiles are written behind the log in slices, each with the log position it is folded up
  // to, so a replay skips the events a stored profile already holds. Profiles written before were
  // written by whole checkpoints and hold nothing past the recorded checkpoint, where replay
  // starts: 0 claims no more than that, and adding the column rewrites no row.
  `
  ALTER TABLE profiles ADD COLUMN folded_through INTEGER NOT NULL DEFAULT 0;
  `,
];
