import { MemoryStore } from '../../src/backends/memory/memory-store.js';
import { storeConformance } from './store-conformance.js';

storeConformance('memory', async () => {
  const store = new MemoryStore();
  return { store, cleanup: () => store.close() };
});
