/**
 * SQLite with its writes on a thread of their own. Inserting, indexing and fsyncing a group of
 * events then runs on another core while the main thread parses and folds the next group. Reads
 * use a read-only connection on the main thread; WAL mode lets them run beside the writer, and a
 * read started after a write resolved sees it.
 */
import { Worker } from 'node:worker_threads';
import type { Commit, CommitReceipt, ErasureReport, Store, UserExport } from '../../ports/store.js';
import { encodeCommit, SqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
import type { WriterReply, WriterRequest } from './writer-thread.js';

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void };
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

export class ThreadedSqliteStore implements Store {
  readonly capabilities = { sharedWriters: false, durable: true };
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | null = null;

  private constructor(
    private readonly worker: Worker,
    private readonly reader: SqliteStore,
  ) {
    worker.on('message', (reply: WriterReply) => {
      const waiting = this.pending.get(reply.id);
      if (!waiting) return;
      this.pending.delete(reply.id);
      if ('error' in reply) waiting.reject(Object.assign(new Error(reply.error.message), { name: reply.error.name }));
      else waiting.resolve(reply.result);
    });
    worker.on('error', (error) => this.fail(error));
    worker.on('exit', (code) => this.fail(new Error(`the SQLite writer thread exited (code ${code})`)));
  }

  /** Starts the writer (which creates or upgrades the schema), then opens the reader. */
  static async open(options: SqliteStoreOptions): Promise<ThreadedSqliteStore> {
    // Under a TypeScript loader the sources are .ts; compiled, they are .js.
    const worker = import.meta.url.endsWith('.ts')
      ? // Run from TypeScript sources (tests): the thread registers the same loader first.
        new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./writer-thread.ts', import.meta.url).href)}); })`, {
          eval: true,
          workerData: options,
        })
      : new Worker(new URL('./writer-thread.js', import.meta.url), { workerData: options });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    return new ThreadedSqliteStore(worker, new SqliteStore({ ...options, readonly: true }));
  }

  get events() {
    return this.reader.events;
  }

  get profiles() {
    return this.reader.profiles;
  }

  async commit(changes: Commit): Promise<CommitReceipt> {
    // Encoding here (JSON bodies, flat rows) is cheaper than cloning the objects to the thread.
    return (await this.call({ op: 'commit', commit: encodeCommit(changes) })) as CommitReceipt;
  }

  checkpoint(): Promise<number> {
    return this.reader.checkpoint();
  }

  exportUser(workspaceId: string, profileId: string): Promise<UserExport | null> {
    return this.reader.exportUser(workspaceId, profileId);
  }

  async eraseUser(workspaceId: string, profileId: string): Promise<ErasureReport> {
    return (await this.call({ op: 'erase', workspaceId, profileId })) as ErasureReport;
  }

  async close(): Promise<void> {
    if (!this.failure) await this.call({ op: 'close' });
    this.failure ??= new Error('the store is closed');
    await this.worker.terminate();
    await this.reader.close();
  }

  private call(request: WithoutId<WriterRequest>): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...request, id });
    });
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }
}
