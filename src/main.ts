/**
 * The composition root: the only module that knows every concrete backend. It turns a Config into
 * a running Nudge (store, pipeline, HTTP server) and back down again.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import webPush from 'web-push';
import { MemoryEngineStore } from './backends/memory/memory-engine-store.js';
import { MemoryStore } from './backends/memory/memory-store.js';
import { MemoryCodeStore } from './backends/memory/memory-code-store.js';
import { MemoryPushSubscriptionStore } from './backends/memory/memory-push-subscription-store.js';
import { MemorySmsOptOutStore } from './backends/memory/memory-sms-opt-out-store.js';
import { MemoryInboxStore } from './backends/memory/memory-inbox-store.js';
import { SqliteCodeStore } from './backends/sqlite/sqlite-code-store.js';
import { SqlitePushSubscriptionStore } from './backends/sqlite/sqlite-push-subscription-store.js';
import { SqliteSmsOptOutStore } from './backends/sqlite/sqlite-sms-opt-out-store.js';
import { SqliteInboxStore } from './backends/sqlite/sqlite-inbox-store.js';
import { SqliteEngineStore } from './backends/sqlite/sqlite-engine-store.js';
import { openDatabase } from './backends/sqlite/database.js';
import { WalCheckpointer } from './backends/sqlite/wal-checkpointer.js';
import { SqliteStore } from './backends/sqlite/sqlite-store.js';
import { ThreadedSqliteStore } from './backends/sqlite/threaded-store.js';
import { EmailSmtpChannel } from './channels/email-smtp.js';
import { LogChannel } from './channels/log.js';
import { InAppChannel } from './channels/in-app.js';
import { SmsTwilioChannel } from './channels/sms-twilio.js';
import { WebhookChannel } from './channels/webhook.js';
import { WebPushChannel } from './channels/web-push.js';
import { storedSecret } from './backends/secrets.js';
import type { ChannelConfig, Config } from './config/config.js';
import { TemplateFiles } from './config/template-files.js';
import { TriggerFiles } from './config/trigger-files.js';
import { ConsentService } from './engine/consent.js';
import { DiscountCodes } from './engine/discount-codes.js';
import { Dispatcher } from './engine/dispatcher.js';
import { IngestPipeline } from './engine/ingest-pipeline.js';
import { MessageEvent, MessageEvents } from './engine/message-events.js';
import { InboxHub } from './engine/inbox-hub.js';
import { MessageLinks } from './engine/message-links.js';
import { SmsConsent } from './engine/sms-consent.js';
import { TimerScheduler } from './engine/timer-scheduler.js';
import { TriggerEngine } from './engine/trigger-engine.js';
import { TriggerRegistry } from './engine/trigger-registry.js';
import { Metrics } from './http/metrics.js';
import { presentInboxItem } from './http/inbox-routes.js';
import type { ChannelData } from './http/management-routes.js';
import { presentSubscription } from './http/push-routes.js';
import { buildServer } from './http/server.js';
import { MailCatcher } from './http/demo-mail.js';
import { demoRoutes } from './http/demo-routes.js';
import type { NudgeEvent } from './core/event.js';
import type { Profile } from './core/profile.js';
import type { ChannelProvider } from './ports/channel.js';
import { ScaledClock, systemClock, type Clock } from './ports/clock.js';
import type { CodeStore } from './ports/code-store.js';
import type { PushSubscriptionStore } from './ports/push-subscription-store.js';
import type { SmsOptOutStore } from './ports/sms-opt-out-store.js';
import type { InboxItem, InboxStore, InteractionKind } from './ports/inbox-store.js';
import type { EngineStore } from './ports/engine-store.js';
import type { Store } from './ports/store.js';
import { RealTimeWakeup, type Wakeup } from './ports/wakeup.js';

export interface NudgeOptions {
  config: Config;
  /** Where the embedded database lives. Default ./.nudge */
  dataDir: string;
  clock?: Clock;
  /** Runs `clock` this many times faster from the start (ScaledClock), for demos: 60 = a minute per second. Default 1. */
  timeScale?: number;
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
  /** Tracking and unsubscribe links of messages. */
  links: MessageLinks;
  /** Message outcomes on the users' timelines. */
  messageEvents: MessageEvents;
  consent: ConsentService;
  /** Personal discount codes. */
  codes: DiscountCodes;
  metrics: Metrics;
  /** Listens on the port (0 = any free one) and returns the base URL. */
  listen(port: number, host?: string): Promise<string>;
  /** Stops accepting, commits what was accepted, closes the store. */
  close(): Promise<void>;
}

export async function openStore(config: Config, dataDir: string, checkpointer?: WalCheckpointer): Promise<Store> {
  if (config.storage.driver === 'memory') return new MemoryStore();
  mkdirSync(dataDir, { recursive: true });
  const options = { path: path.resolve(dataDir, config.storage.file), synchronous: config.storage.synchronous, cacheMiB: config.storage.cacheMiB };
  // The writer thread checkpoints in its own commits, off the event loop already.
  return config.storage.writerThread ? ThreadedSqliteStore.open(options) : new SqliteStore({ ...options, checkpointer });
}

export async function openEngineStore(config: Config, dataDir: string, clock: Clock, checkpointer?: WalCheckpointer): Promise<EngineStore> {
  if (config.storage.driver === 'memory') return new MemoryEngineStore({ clock });
  mkdirSync(dataDir, { recursive: true });
  const file = config.storage.file.replace(/(\.db)?$/, '-engine.db');
  return new SqliteEngineStore({ path: path.resolve(dataDir, file), synchronous: config.storage.synchronous, cacheMiB: Math.max(2, config.storage.cacheMiB >> 2), clock, checkpointer });
}

/** What the channels keep beside the outbox: inboxes, discount codes, push subscriptions, SMS opt-outs; one SQLite file. */
interface DeliveryStores {
  inbox: InboxStore;
  codes: CodeStore;
  pushSubscriptions: PushSubscriptionStore;
  smsOptOuts: SmsOptOutStore;
  close(): Promise<void>;
}

function openDeliveryStores(config: Config, dataDir: string, checkpointer?: WalCheckpointer): DeliveryStores {
  const closing = (stores: Omit<DeliveryStores, 'close'>, after = (): void => {}): DeliveryStores => ({
    ...stores,
    async close() {
      for (const store of Object.values(stores)) await store.close();
      after();
    },
  });
  if (config.storage.driver === 'memory') {
    return closing({ inbox: new MemoryInboxStore(), codes: new MemoryCodeStore(), pushSubscriptions: new MemoryPushSubscriptionStore(), smsOptOuts: new MemorySmsOptOutStore() });
  }
  mkdirSync(dataDir, { recursive: true });
  const db = openDatabase({ path: path.resolve(dataDir, config.storage.file.replace(/(\.db)?$/, '-delivery.db')), synchronous: config.storage.synchronous, cacheMiB: 8, checkpointer });
  return closing(
    { inbox: SqliteInboxStore.onDatabase(db), codes: SqliteCodeStore.onDatabase(db), pushSubscriptions: SqlitePushSubscriptionStore.onDatabase(db), smsOptOuts: SqliteSmsOptOutStore.onDatabase(db) },
    () => db.close(),
  );
}

/** An interaction with an in-app message (the page reports it) on the user's timeline. */
async function inboxInteraction(
  pipeline: IngestPipeline,
  events: MessageEvents,
  workspaceId: string,
  identityKey: string,
  item: InboxItem,
  kind: InteractionKind,
  detail: string | undefined,
  at: number,
): Promise<void> {
  const profile = await pipeline.profile(workspaceId, identityKey.slice(2));
  if (!profile) return;
  const message = { key: item.messageKey, profileId: profile.profileId, triggerId: item.triggerId, channel: 'in_app' };
  const as: Record<InteractionKind, [string, string]> = {
    shown: [MessageEvent.delivered, 'delivered'],
    read: [MessageEvent.opened, 'opened'],
    clicked: [MessageEvent.clicked, 'clicked'],
    dismissed: [MessageEvent.dismissed, 'dismissed'],
    feedback: [MessageEvent.feedback, `feedback:${detail ?? ''}`],
  };
  const [name, outcome] = as[kind];
  events.record(workspaceId, message, name, kind === 'feedback' ? { value: detail ?? '' } : {}, outcome, at);
}

/** The delivery stores as one source of what is kept about a user, for export and erasure. */
function channelData(stores: DeliveryStores): ChannelData {
  const phonesOf = (profile: Profile): string[] => (typeof profile.traits['phone'] === 'string' ? [profile.traits['phone']] : []);
  return {
    async exportUser(workspaceId, profile, identities) {
      const sms = await stores.smsOptOuts.exportUser(workspaceId, { phones: phonesOf(profile), identities });
      return {
        inbox: (await stores.inbox.exportUser(workspaceId, identities)).map(presentInboxItem),
        pushSubscriptions: (await stores.pushSubscriptions.exportUser(workspaceId, identities)).map(presentSubscription),
        smsConsent: sms.consent,
        smsRecipients: sms.recipients,
        // A profile's codes, and those of the profiles merged into it (their ids are its identity keys).
        discountCodes: await stores.codes.exportUser(workspaceId, [profile.profileId, ...identities]),
      };
    },
    async eraseUser(workspaceId, profile, identities) {
      return {
        inbox: await stores.inbox.eraseUser(workspaceId, identities),
        pushSubscriptions: await stores.pushSubscriptions.eraseUser(workspaceId, identities),
        // The numbers' consent records and the entries naming the user as a number's recipient.
        smsConsent: await stores.smsOptOuts.eraseUser(workspaceId, { phones: phonesOf(profile), identities }),
        discountCodes: await stores.codes.eraseUser(workspaceId, [profile.profileId, ...identities]),
      };
    },
  };
}

/** The configured VAPID key pair, else the one made for this data directory. */
function vapidKeys(c: Extract<ChannelConfig, { kind: 'web-push' }>, dataDir: string): { publicKey: string; privateKey: string } {
  return c.vapid ?? (JSON.parse(storedSecret(dataDir, 'vapid-keys.json', () => JSON.stringify(webPush.generateVAPIDKeys()))) as { publicKey: string; privateKey: string });
}

interface ChannelDeps {
  /** A trait of the user's profile, if it is a non-empty string (`email`, `phone`). */
  traitOf: (workspaceId: string, profileId: string, trait: string) => Promise<string | null>;
  publicUrl: string | null;
  identitiesOf: (workspaceId: string, profileId: string) => Promise<string[]>;
  links: MessageLinks;
  stores: DeliveryStores;
  inboxHub: InboxHub;
  smsConsent: SmsConsent;
  dataDir: string;
  clock: Clock;
  reportError: (error: unknown) => void;
}

function channelProviders(config: Config, deps: ChannelDeps): Map<string, ChannelProvider> {
  const provider = (c: ChannelConfig): ChannelProvider => {
    switch (c.kind) {
      case 'webhook':
        return new WebhookChannel(c);
      case 'smtp':
        return new EmailSmtpChannel({
          ...c,
          recipientOf: (d) => deps.traitOf(d.workspaceId, d.message.profileId, 'email'),
          unsubscribeUrl: (d) => (d.message.topic === 'transactional' ? undefined : deps.links.unsubscribeUrl(d.workspaceId, d.message, d.channel)),
        });
      case 'web-push': {
        const { pushSubscriptions } = deps.stores;
        return new WebPushChannel({
          vapid: { ...vapidKeys(c, deps.dataDir), subject: c.subject },
          subscriptionsOf: async (ws, profileId) => pushSubscriptions.listFor(ws, await deps.identitiesOf(ws, profileId)),
          removeSubscription: async (ws, endpoint) => void (await pushSubscriptions.remove(ws, endpoint)),
          ttlSeconds: c.ttlSeconds,
          urgency: c.urgency,
          timeoutMs: c.timeoutMs,
          allowPrivateNetworks: c.allowPrivateNetworks,
          ...(c.caFile === null ? {} : { trustedCertificates: [readFileSync(c.caFile, 'utf8')] }),
        });
      }
      case 'twilio':
        return new SmsTwilioChannel({
          baseUrl: c.baseUrl,
          accountSid: c.accountSid,
          authToken: c.authToken,
          ...(c.from === undefined ? {} : { from: c.from }),
          ...(c.messagingServiceSid === undefined ? {} : { messagingServiceSid: c.messagingServiceSid }),
          ...(c.statusCallback && deps.publicUrl !== null
            ? { statusCallback: `${deps.publicUrl}/v1/sms/{workspaceId}/status?message={messageKey}&profile={profileId}&trigger={triggerId}` }
            : {}),
          maxSegments: c.maxSegments,
          timeoutMs: c.timeoutMs,
          recipientOf: (d) => deps.traitOf(d.workspaceId, d.message.profileId, 'phone'),
          optOuts: deps.stores.smsOptOuts,
          // The webhooks' clock: opt-outs from either side are ordered by one time.
          now: () => deps.clock.now(),
          // Who each number was texted for, so that its STOP reaches their consent (engine/sms-consent.ts).
          // Recorded as Twilio accepts the text, because only the channel knows the exact number it
          // went to (the dispatcher's outcome does not, and the trait may change meanwhile); kept
          // here rather than in the channel, which stays a provider that reports what it did.
          onSent: (d, to, at) => deps.smsConsent.texted(d.workspaceId, d.message.profileId, to, at).catch(deps.reportError),
          onOptOut: async (d, to, keyword) => void (await deps.smsConsent.reportedOptOut(d.workspaceId, to, keyword, d.message.profileId)),
        });
      case 'in-app':
        return new InAppChannel({
          inbox: deps.stores.inbox,
          published: (item) => deps.inboxHub.publish(item),
          identitiesOf: deps.identitiesOf,
          ttlMs: c.ttlMs,
          now: () => deps.clock.now(),
        });
      case 'log':
        return new LogChannel((line) => console.log(line));
    }
  };
  return new Map(Object.entries(config.channels).map(([name, c]) => [name, provider(c)]));
}

export async function createNudge(options: NudgeOptions): Promise<Nudge> {
  const { config } = options;
  const clock = (options.timeScale ?? 1) === 1 ? (options.clock ?? systemClock) : new ScaledClock(options.timeScale!, options.clock);
  // The demo's stand-in mail server, first: a port in use stops the start before anything opens.
  let mailCatcher: MailCatcher | null = null;
  if (config.demo?.mail) {
    const { host, port } = config.demo.mail;
    mailCatcher = new MailCatcher({ now: () => clock.now() });
    await mailCatcher.listen(host, port).catch((error: Error) => {
      throw new Error(`demo.mail: the demo's mail server cannot listen on ${host}:${port} (${error.message}); give the email channel another port`);
    });
  }
  // SQLite's WAL checkpoints run on a thread of their own, not inside commits on the event loop.
  const checkpointer = config.storage.driver === 'sqlite' ? new WalCheckpointer({ onError: (error) => console.error('WAL checkpoints are back in the commits:', error) }) : undefined;
  const store = await openStore(config, options.dataDir, checkpointer);
  const metrics = new Metrics();
  const pipeline = new IngestPipeline(store, clock, {
    profile: config.profiles,
    dedupWindowMs: config.ingest.dedupWindowMs,
    dedupMaxEntries: config.ingest.dedupMaxEntries,
    cacheMaxProfiles: config.profiles.cacheMaxProfiles,
    checkpointIntervalMs: config.profiles.checkpointIntervalMs,
  });
  const engineStore = await openEngineStore(config, options.dataDir, clock, checkpointer);
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
  const deliveryStores = openDeliveryStores(config, options.dataDir, checkpointer);
  const purgeInboxes = setInterval(() => void deliveryStores.inbox.purgeExpired(clock.now()).catch(reportError), 3_600_000).unref();
  const pushChannel = Object.values(config.channels).find((c): c is Extract<ChannelConfig, { kind: 'web-push' }> => c.kind === 'web-push');
  const smsChannel = Object.values(config.channels).find((c): c is Extract<ChannelConfig, { kind: 'twilio' }> => c.kind === 'twilio');
  const codes = new DiscountCodes({ store: deliveryStores.codes, kinds: config.codes, clock, identitiesOf: (workspaceId, profileId) => pipeline.identitiesOf(workspaceId, profileId) });
  const links = new MessageLinks({
    publicUrl: config.publicUrl,
    secret: config.tracking.secret ?? storedSecret(options.dataDir, 'link-signing-key'),
    clicks: config.tracking.clicks,
    opens: config.tracking.opens,
    utm: config.tracking.utm,
  });
  const submit = (workspaceId: string, events: readonly NudgeEvent[]) => pipeline.submit(workspaceId, events);
  const profilesOf = (workspaceId: string, ids: readonly string[]) => pipeline.profilesByIds(workspaceId, ids);
  const messageEvents = new MessageEvents({ submit, profilesOf, clock, onError: reportError });
  const consent = new ConsentService({ submit, profile: (workspaceId, id) => pipeline.profile(workspaceId, id), events: messageEvents, clock });
  const smsChannelName = Object.entries(config.channels).find(([, c]) => c.kind === 'twilio')?.[0];
  const smsConsent = new SmsConsent({ optOuts: deliveryStores.smsOptOuts, consent, profile: (workspaceId, id) => pipeline.profile(workspaceId, id), channel: smsChannelName });
  const inboxHub = new InboxHub();
  // Made at start, so the key a backend needs to sign its users' tokens is there to be read.
  const inboxSecrets = new Map(config.workspaces.map((w) => [w.id, w.inboxSecret ?? storedSecret(options.dataDir, `inbox-${w.id}`)]));
  const providers = channelProviders(config, {
    links,
    stores: deliveryStores,
    inboxHub,
    smsConsent,
    clock,
    reportError,
    dataDir: options.dataDir,
    identitiesOf: (workspaceId, profileId) => pipeline.identitiesOf(workspaceId, profileId),
    publicUrl: config.publicUrl,
    traitOf: async (workspaceId, profileId, trait) => {
      const value = (await pipeline.profilesByIds(workspaceId, [profileId])).get(profileId)?.traits[trait];
      return typeof value === 'string' && value !== '' ? value : null;
    },
  });
  const dispatcher = new Dispatcher({
    store: engineStore,
    clock,
    wakeup: options.wakeups?.outbox ?? new RealTimeWakeup(clock),
    providerOf: (channel) => providers.get(channel),
    onOutcome: (workspaceId, message, outcome, at, result) => {
      void engine!.delivered(workspaceId, message, outcome, at).catch(reportError);
      messageEvents.outcome(workspaceId, message, outcome, at, result);
      if (result.status === 'delivered' || result.status === 'failed' || result.status === 'suppressed') {
        void codes.settled(message.key, result.status).catch(reportError);
      }
    },
    onError: reportError,
    maxAttempts: config.delivery.maxAttempts,
    backoffMs: config.delivery.backoffMs,
    policy: config.delivery.policy,
    usersOf: profilesOf,
    render: async (entry, channel, user) => {
      const { message } = entry;
      const kind = templates.codeKindOf(message);
      let code = null;
      if (kind !== null) {
        try {
          code = await codes.codeFor(entry.workspaceId, message.profileId, message.key, kind);
        } catch (error) {
          return { ok: false, error: (error as Error).message };
        }
      }
      const rendered = templates.render(message, channel, user, clock.now(), code);
      if (!rendered.ok) return rendered;
      // The inbox reports its clicks itself: its links get UTM parameters, not a redirect.
      const clicks = providers.get(channel)?.kind !== 'in-app';
      return { ok: true, content: links.decorate(entry.workspaceId, message, channel, rendered.content, { clicks }) };
    },
  });
  engine = new TriggerEngine({
    store: engineStore,
    clock,
    catalog: registry.catalog,
    profiles: (workspaceId, ids) => pipeline.profilesByIds(workspaceId, ids),
    phases: config.profiles.phases,
    timers: scheduler,
    onSends: () => dispatcher.kick(),
    handoff: dispatcher,
    onError: reportError,
  });
  const triggerEngine = engine;

  pipeline.onCommit((changes, stats) => {
    metrics.recordCommit(stats);
    if (changes.events.length === 0) return;
    triggerEngine.applyCommitted(changes, stats.position).catch(reportError);
    codes.redeemFrom(changes.events).catch(reportError);
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

  const app = await buildServer({
    config,
    store,
    pipeline,
    metrics,
    engine: triggerEngine,
    engineStore,
    registry,
    files,
    templates,
    links,
    messageEvents,
    consent,
    codes,
    pushSubscriptions: deliveryStores.pushSubscriptions,
    channelData: channelData(deliveryStores),
    inbox: {
      store: deliveryStores.inbox,
      hub: inboxHub,
      secretOf: (workspaceId) => inboxSecrets.get(workspaceId),
      onInteraction: (workspaceId, identityKey, item, kind, detail, at) => inboxInteraction(pipeline, messageEvents, workspaceId, identityKey, item, kind, detail, at),
    },
    sms: smsChannel
      ? {
          optOuts: deliveryStores.smsOptOuts,
          authToken: smsChannel.authToken,
          ...(smsChannel.helpText === undefined ? {} : { helpText: smsChannel.helpText }),
          // STOP and START reach the consent of the number's users before Twilio gets its answer.
          onOptOut: async (workspaceId, phone, keyword) => void (await smsConsent.optedOut(workspaceId, phone, keyword)),
          onOptIn: async (workspaceId, phone, keyword) => void (await smsConsent.optedIn(workspaceId, phone, keyword)),
        }
      : null,
    vapidPublicKey: pushChannel ? vapidKeys(pushChannel, options.dataDir).publicKey : null,
    now: () => clock.now(),
    logger: options.logger,
  });
  const demo = config.demo;
  if (demo) {
    await app.register((scope, _opts, done) => {
      demoRoutes(scope, { siteDir: demo.siteDir, timeScale: clock.rate ?? 1, mail: mailCatcher }).then(() => done(), done);
    });
  }

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
    links,
    messageEvents,
    consent,
    codes,
    metrics,
    async listen(port, host = '127.0.0.1') {
      const address = (await app.listen({ port, host })).replace('[::1]', '127.0.0.1');
      links.setPublicUrl(address);
      metrics.up.set(1);
      return address;
    },
    async close() {
      metrics.up.set(0);
      files.close();
      templates.close();
      await app.close();
      // Outcomes of the last deliveries still go onto the timelines, before ingestion closes.
      await scheduler.stop();
      await dispatcher.stop();
      await mailCatcher?.close();
      await messageEvents.flush();
      await pipeline.close();
      await triggerEngine.idle();
      await triggerEngine.close();
      for (const provider of providers.values()) await provider.close?.();
      // First, so that each store's last connection checkpoints and removes its log as it closes.
      await checkpointer?.close();
      await engineStore.close();
      clearInterval(purgeInboxes);
      await deliveryStores.close();
      await store.close();
    },
  };
}
