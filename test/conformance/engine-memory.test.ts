/** The memory engine store against the EngineStore suite, and its timers against the TimerStore suite. */
import { MemoryEngineStore } from '../../src/backends/memory/memory-engine-store.js';
import { engineStoreConformance } from './engine-store-conformance.js';
import { timerStoreConformance } from './timer-store-conformance.js';

engineStoreConformance('memory', async (clock) => {
  const store = new MemoryEngineStore({ clock });
  return { store, cleanup: () => store.close() };
});

// The engine store's timers keep their own contract too.
timerStoreConformance('memory engine store', async () => {
  const store = new MemoryEngineStore();
  return { store: store.timers, cleanup: () => store.close() };
});
