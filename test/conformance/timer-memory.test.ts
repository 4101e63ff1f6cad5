import { MemoryTimerStore } from '../../src/backends/memory/memory-timer-store.js';
import { timerStoreConformance } from './timer-store-conformance.js';

timerStoreConformance('memory', async () => {
  const store = new MemoryTimerStore();
  return { store, cleanup: () => store.close() };
});
