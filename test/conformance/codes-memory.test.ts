import { MemoryCodeStore } from '../../src/backends/memory/memory-code-store.js';
import { codeStoreConformance } from './code-store-conformance.js';

codeStoreConformance('memory', async () => {
  const store = new MemoryCodeStore();
  return { store, cleanup: () => store.close() };
});
