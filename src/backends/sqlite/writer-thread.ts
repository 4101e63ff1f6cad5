/**
 * The body of the SQLite writer thread: owns the only writing connection and runs the writes
 * that `ThreadedSqliteStore` sends it, one at a time, in order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteStore, type EncodedCommit, type SqliteStoreOptions } from './sqlite-store.js';

export type WriterRequest =
  | { id: number; op: 'commit'; commit: EncodedCommit }
  | { id: number; op: 'erase'; workspaceId: string; profileId: string }
  | { id: number; op: 'close' };

export type WriterReply = { id: number; result: unknown } | { id: number; error: { name: string; message: string } };

const port = parentPort!;
const store = new SqliteStore(workerData as SqliteStoreOptions);
port.postMessage({ id: 0, result: 'ready' } satisfies WriterReply);

port.on('message', (request: WriterRequest) => {
  void run(request).then(
    (result) => port.postMessage({ id: request.id, result } satisfies WriterReply),
    (error: unknown) => {
      const e = error instanceof Error ? error : new Error(String(error));
      port.postMessage({ id: request.id, error: { name: e.name, message: e.message } } satisfies WriterReply);
    },
  );
});

async function run(request: WriterRequest): Promise<unknown> {
  switch (request.op) {
    case 'commit':
      return store.commitEncoded(request.commit);
    case 'erase':
      return store.eraseUser(request.workspaceId, request.profileId);
    case 'close':
      await store.close();
      return null;
  }
}
