/** nudge-sw.js: the web push service worker (see service-worker.ts). */
import { installServiceWorker, type ServiceWorkerScope } from './service-worker.js';

installServiceWorker(self as unknown as ServiceWorkerScope);
