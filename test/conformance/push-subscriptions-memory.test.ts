import { MemoryPushSubscriptionStore } from '../../src/backends/memory/memory-push-subscription-store.js';
import { pushSubscriptionStoreConformance } from './push-subscription-store-conformance.js';

pushSubscriptionStoreConformance('memory', async () => {
  const store = new MemoryPushSubscriptionStore();
  return { store, cleanup: () => store.close() };
});
