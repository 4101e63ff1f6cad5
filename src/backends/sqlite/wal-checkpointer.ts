/**
 * WAL checkpoints on a thread of their own. SQLite copies the write-ahead log back into the
 * database file in the commit that crosses `wal_autocheckpoint`: on the event loop, 25–55 ms of
 * I/O in a commit of a few rows, late for every timer due meanwhile. A database handed to `add`
 * stops checkpointing in its commits; a worker thread with its own connection to the same file
 * runs `wal_checkpoint(PASSIVE)` every `intervalMs` instead. A passive checkpoint takes no lock a
 * writer waits for: it copies what is committed and leaves the rest for the next round, and once
 * it has copied everything the next writer starts the log from its beginning again, so the file
 * stays as small as before.
 *
 * Durability does not change: a commit is in the log (fsynced per the database's `synchronous`)
 * before it returns, wherever the checkpoint later runs. Should the thread fail, every database
 * still open checkpoints in its commits again (`onError` is told); `close` does the same.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

export interface WalCheckpointerOptions {
  /** How often the thread checkpoints each file. Default 100 ms. */
  intervalMs?: number;
  /** Told when the thread fails; the databases checkpoint in their commits from then on. */
  onError?: (error: Error) => void;
}

type ToThread = { add: string; synchronous: number } | { stop: true };

/** The thread's body: plain CommonJS, so it runs the same from the sources and from dist/. */
const threadSource = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.betterSqlite3);
const files = [];
const round = () => {
  for (const db of files) db.pragma('wal_checkpoint(PASSIVE)');
};
const timer = setInterval(round, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m.add !== undefined) {
    const db = new Database(m.add);
    db.pragma('synchronous = ' + m.synchronous);
    db.pragma('cache_size = -1024');
    files.push(db);
  } else if (m.stop) {
    clearInterval(timer);
    round();
    for (const db of files) db.close();
    parentPort.postMessage('stopped');
    parentPort.close();
  }
});
`;

export class WalCheckpointer {
  private readonly worker: Worker;
  /** The databases whose checkpoints the thread runs, with the auto-checkpoint they had. */
  private readonly databases = new Map<Database.Database, number>();
  private failed = false;

  constructor(options: WalCheckpointerOptions = {}) {
    const betterSqlite3 = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(threadSource, { eval: true, workerData: { betterSqlite3, intervalMs: options.intervalMs ?? 100 } });
    this.worker.unref();
    const fail = (error: Error): void => {
      if (this.failed) return;
      this.failed = true;
      this.restore();
      options.onError?.(error);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the WAL checkpoint thread exited (${code})`)));
  }

  /** Moves the checkpoints of `db` (open on `file`, in WAL mode) to the thread. */
  add(db: Database.Database, file: string): void {
    if (this.failed || file === ':memory:') return;
    this.databases.set(db, db.pragma('wal_autocheckpoint', { simple: true }) as number);
    db.pragma('wal_autocheckpoint = 0');
    this.worker.postMessage({ add: file, synchronous: db.pragma('synchronous', { simple: true }) as number } satisfies ToThread);
  }

  /** Runs a last round, stops the thread and gives each database still open its own checkpoints back. */
  async close(): Promise<void> {
    if (this.failed) return;
    this.failed = true; // the thread's exit is expected from here on
    const stopped = new Promise<void>((resolve) => {
      this.worker.once('message', () => resolve());
      this.worker.once('exit', () => resolve());
    });
    this.worker.postMessage({ stop: true } satisfies ToThread);
    await stopped;
    this.restore();
  }

  private restore(): void {
    for (const [db, autoCheckpoint] of this.databases) if (db.open) db.pragma(`wal_autocheckpoint = ${autoCheckpoint}`);
    this.databases.clear();
  }
}
