import { MemoryInboxStore } from '../../src/backends/memory/memory-inbox-store.js';
import { inboxStoreConformance } from './inbox-store-conformance.js';

inboxStoreConformance('memory', async () => {
  const store = new MemoryInboxStore();
  return { store, cleanup: () => store.close() };
});
