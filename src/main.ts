/**
 * The composition root: the only module that knows every concrete backend. It turns a Config into
 * a running Nudge (store, pipeline, HTTP server) and back down again.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { MemoryEngineStore } from './backends/memory/memory-engine-store.js';
import { MemoryStore } from './backends/memory/memory-store.js';
import { SqliteEngineStore } from './backends/sqlite/sqlite-engine-store.js';
import { SqliteStore } from './backends/sqlite/sqlite-store.js';
import { ThreadedSqliteStore } from './backends/sqlite/threaded-store.js';
import { EmailSmtpChannel } from './channels/email-smtp.js';
import { LogChannel } from './channels/log.js';
import { WebhookChannel } from './channels/webhook.js';
import type { ChannelConfig, Config } from './config/config.js';
import { TemplateFiles } from './config/template-files.js';
import { TriggerFiles } from './config/trigger-files.js';
import { Dispatcher } from './engine/dispatcher.js';
import { IngestPipeline } from './engine/ingest-pipeline.js';
import { TimerScheduler } from './engine/timer-scheduler.js';
import { TriggerEngine } from './engine/trigger-engine.js';
import { TriggerRegistry } from './engine/trigger-registry.js';
import { Metrics } from './http/metrics.js';
import { buildServer } from './http/server.js';
import type { ChannelProvider } from './ports/channel.js';
import { systemClock, type Clock } from './ports/clock.js';
import type { EngineStore } from './ports/engine-store.js';
import type { Store } from './ports/store.js';
import { RealTimeWakeup, type Wakeup } from './ports/wakeup.js';

export interface NudgeOptions {
  config: Config;
  /** Where the embedded database lives. Default ./.nudge */
  dataDir: string;
  clock?: Clock;
  /** How the timer scheduler and the dispatcher sleep. Default: real timers on `clock`. */
  wakeups?: { timers: Wakeup; outbox: Wakeup };
  logger?: FastifyServerOptions['logger'];
}

export interface Nudge {
  app: FastifyInstance;
  store: Store;
  pipeline: IngestPipeline;
  engineStore: EngineStore;
  engine: TriggerEngine;
  scheduler: TimerScheduler;
  dispatcher: Dispatcher;
  registry: TriggerRegistry;
  /** The message templates in force. */
  templates: TemplateFiles;
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

export async function openEngineStore(config: Config, dataDir: string, clock: Clock): Promise<EngineStore> {
  if (config.storage.driver === 'memory') return new MemoryEngineStore({ clock });
  mkdirSync(dataDir, { recursive: true });
  const file = config.storage.file.replace(/(\.db)?$/, '-engine.db');
  return new SqliteEngineStore({ path: path.resolve(dataDir, file), synchronous: config.storage.synchronous, cacheMiB: Math.max(2, config.storage.cacheMiB >> 2), clock });
}

function channelProviders(config: Config, emailOf: (workspaceId: string, profileId: string) => Promise<string | null>): Map<string, ChannelProvider> {
  const provider = (c: ChannelConfig): ChannelProvider => {
    switch (c.kind) {
      case 'webhook':
        return new WebhookChannel(c);
      case 'smtp':
        return new EmailSmtpChannel({ ...c, recipientOf: (d) => emailOf(d.workspaceId, d.message.profileId) });
      case 'log':
        return new LogChannel((line) => console.log(line));
    }
  };
  return new Map(Object.entries(config.channels).map(([name, c]) => [name, provider(c)]));
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
  const engineStore = await openEngineStore(config, options.dataDir, clock);
  // One process owns the embedded stores: claims left by a previous process are released now.
  if (!store.capabilities.sharedWriters) await engineStore.releaseAllClaims();
  const reportError = (error: unknown): void => console.error(error);
  const files = new TriggerFiles(config.triggers.dir);
  let engine: TriggerEngine | null = null;
  const registry = new TriggerRegistry(files, engineStore, clock, (catalog) => engine?.setCatalog(catalog));
  const loaded = await registry.start();
  for (const issue of loaded.issues) console.error(`${issue.path}: ${issue.message}`);
  const templates = new TemplateFiles(config.templates.dir);
  for (const issue of templates.reload().issues) console.error(`${issue.path}: ${issue.message}`);

  const scheduler = new TimerScheduler({
    store: engineStore.timers,
    clock,
    wakeup: options.wakeups?.timers ?? new RealTimeWakeup(clock),
    onFire: (firing) => {
      metrics.timerLateness.observe(firing.latenessMs / 1000);
      return engine!.fire(firing);
    },
    onError: reportError,
  });
  const providers = channelProviders(config, async (workspaceId, profileId) => {
    const email = (await pipeline.profilesByIds(workspaceId, [profileId])).get(profileId)?.traits['email'];
    return typeof email === 'string' ? email : null;
  });
  const dispatcher = new Dispatcher({
    store: engineStore,
    clock,
    wakeup: options.wakeups?.outbox ?? new RealTimeWakeup(clock),
    providerOf: (channel) => providers.get(channel),
    onOutcome: (workspaceId, message, outcome, at) => void engine!.delivered(workspaceId, message, outcome, at).catch(reportError),
    onError: reportError,
    maxAttempts: config.delivery.maxAttempts,
    backoffMs: config.delivery.backoffMs,
    policy: config.delivery.policy,
    usersOf: (workspaceId, ids) => pipeline.profilesByIds(workspaceId, ids),
    render: (entry, channel, user) => templates.render(entry.message, channel, user, clock.now()),
  });
  engine = new TriggerEngine({
    store: engineStore,
    clock,
    catalog: registry.catalog,
    profiles: (workspaceId, ids) => pipeline.profilesByIds(workspaceId, ids),
    timers: scheduler,
    onSends: () => dispatcher.kick(),
    handoff: dispatcher,
    onError: reportError,
  });
  const triggerEngine = engine;

  pipeline.onCommit((changes, stats) => {
    metrics.recordCommit(stats);
    if (changes.events.length > 0) triggerEngine.applyCommitted(changes, stats.position).catch(reportError);
  });
  await pipeline.start();
  await triggerEngine.start(store.events);
  await scheduler.start();
  dispatcher.start();
  if (config.triggers.watch) files.watch(() => void registry.reload().then((r) => {
    for (const issue of r.issues) console.error(`${issue.path}: ${issue.message}`);
  }, reportError));
  if (config.templates.watch) templates.watch((r) => {
    for (const issue of r.issues) console.error(`${issue.path}: ${issue.message}`);
  });

  const app = await buildServer({ config, store, pipeline, metrics, engine: triggerEngine, engineStore, registry, files, templates, now: () => clock.now(), logger: options.logger });

  return {
    app,
    store,
    pipeline,
    engineStore,
    engine: triggerEngine,
    scheduler,
    dispatcher,
    registry,
    templates,
    metrics,
    async listen(port, host = '127.0.0.1') {
      const address = await app.listen({ port, host });
      metrics.up.set(1);
      return address.replace('[::1]', '127.0.0.1');
    },
    async close() {
      metrics.up.set(0);
      files.close();
      templates.close();
      await app.close();
      await pipeline.close();
      await triggerEngine.idle();
      await scheduler.stop();
      await dispatcher.stop();
      await triggerEngine.close();
      for (const provider of providers.values()) await provider.close?.();
      await engineStore.close();
      await store.close();
    },
  };
}
