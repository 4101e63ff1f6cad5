import { MemorySmsOptOutStore } from '../../src/backends/memory/memory-sms-opt-out-store.js';
import { smsOptOutStoreConformance } from './sms-opt-out-store-conformance.js';

smsOptOutStoreConformance('memory', async () => {
  const store = new MemorySmsOptOutStore();
  return { store, cleanup: () => store.close() };
});
