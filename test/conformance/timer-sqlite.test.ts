import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { SqliteTimerStore } from '../../src/backends/sqlite/sqlite-timer-store.js';
import type { TimerStore } from '../../src/ports/timer-store.js';
import { timerStoreConformance } from './timer-store-conformance.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nudge-timer-sqlite-conformance-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

timerStoreConformance('sqlite', async () => {
  const file = path.join(dir, `timers-${++n}.db`);
  let current: TimerStore = new SqliteTimerStore({ path: file });
  return {
    store: current,
    async reopen() {
      await current.close();
      current = new SqliteTimerStore({ path: file });
      return current;
    },
    cleanup: () => current.close(),
  };
});
