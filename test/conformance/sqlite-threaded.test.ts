import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { ThreadedSqliteStore } from '../../src/backends/sqlite/threaded-store.js';
import type { Store } from '../../src/ports/store.js';
import { storeConformance } from './store-conformance.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nudge-sqlite-threaded-conformance-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

storeConformance('sqlite with a writer thread', async () => {
  const file = path.join(dir, `store-${++n}.db`);
  let current: Store = await ThreadedSqliteStore.open({ path: file });
  return {
    store: current,
    async reopen() {
      await current.close();
      current = await ThreadedSqliteStore.open({ path: file });
      return current;
    },
    cleanup: () => current.close(),
  };
});
