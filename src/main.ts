/**
 * The composition root: the only module that knows every concrete backend. It turns a Config into
 * a running Nudge (store, pipeline, HTTP server) and back down again.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { MemoryStore } from './backends/memory/memory-store.js';
import { SqliteStore } from './backends/sqlite/sqlite-store.js';
import { ThreadedSqliteStore } from './backends/sqlite/threaded-store.js';
import type { Config } from './config/config.js';
import { IngestPipeline } from './engine/ingest-pipeline.js';
import { Metrics } from './http/metrics.js';
import { buildServer } from './http/server.js';
import { systemClock, type Clock } from './ports/clock.js';
import type { Store } from './ports/store.js';

export interface NudgeOptions {
  config: Config;
  /** Where the embedded database lives. Default ./.nudge */
  dataDir: string;
  clock?: Clock;
  logger?: FastifyServerOptions['logger'];
}

export interface Nudge {
  app: FastifyInstance;
  store: Store;
  pipeline: IngestPipeline;
  metrics: Metrics;
  /** Listens on the port (0 = any free one) and returns the base URL. */
  listen(port: number, host?: string): Promise<string>;
  /** Stops accepting, commits what was accepted, closes the store. */
  close(): Promise<void>;
}

export async function openStore(config: Config, dataDir: string): Promise<Store> {
  if (config.storage.driver === 'memory') return new MemoryStore();
  mkdirSync(dataDir, { recursive: true });
  const options = { path: path.resolve(dataDir, config.storage.file), synchronous: config.storage.synchronous, cacheMiB: config.storage.cacheMiB };
  return config.storage.writerThread ? ThreadedSqliteStore.open(options) : new SqliteStore(options);
}

export async function createNudge(options: NudgeOptions): Promise<Nudge> {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const store = await openStore(config, options.dataDir);
  const metrics = new Metrics();
  const pipeline = new IngestPipeline(store, clock, {
    profile: config.profiles,
    dedupWindowMs: config.ingest.dedupWindowMs,
    dedupMaxEntries: config.ingest.dedupMaxEntries,
    cacheMaxProfiles: config.profiles.cacheMaxProfiles,
    checkpointIntervalMs: config.profiles.checkpointIntervalMs,
  });
  pipeline.onCommit((_changes, stats) => metrics.recordCommit(stats));
  await pipeline.start();
  const app = await buildServer({ config, store, pipeline, metrics, now: () => clock.now(), logger: options.logger });

  return {
    app,
    store,
    pipeline,
    metrics,
    async listen(port, host = '127.0.0.1') {
      const address = await app.listen({ port, host });
      metrics.up.set(1);
      return address.replace('[::1]', '127.0.0.1');
    },
    async close() {
      metrics.up.set(0);
      await app.close();
      await pipeline.close();
      await store.close();
    },
  };
}
