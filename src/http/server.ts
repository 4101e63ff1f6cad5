/** Builds the HTTP server: ingestion, management API, OpenAPI document, health and metrics. */
import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Config } from '../config/config.js';
import type { TemplateFiles } from '../config/template-files.js';
import type { TriggerFiles } from '../config/trigger-files.js';
import type { ConsentService } from '../engine/consent.js';
import type { DiscountCodes } from '../engine/discount-codes.js';
import type { IngestPipeline } from '../engine/ingest-pipeline.js';
import { MessageEvent, type MessageEvents } from '../engine/message-events.js';
import type { MessageLinks } from '../engine/message-links.js';
import type { TriggerEngine } from '../engine/trigger-engine.js';
import type { TriggerRegistry } from '../engine/trigger-registry.js';
import type { EngineStore } from '../ports/engine-store.js';
import type { PushSubscriptionStore } from '../ports/push-subscription-store.js';
import type { SmsOptOutStore } from '../ports/sms-opt-out-store.js';
import type { Store } from '../ports/store.js';
import { KeyRing } from './auth.js';
import { backtestRoutes } from './backtest-routes.js';
import { dashboardRoutes } from './dashboard-routes.js';
import { installErrorHandler } from './errors.js';
import { ingestRoutes } from './ingest-routes.js';
import { liveRoutes } from './live-routes.js';
import { managementRoutes, type ChannelData } from './management-routes.js';
import { messageRoutes } from './message-routes.js';
import type { Metrics } from './metrics.js';
import { codeRoutes } from './code-routes.js';
import { pushAdminRoutes, pushRoutes } from './push-routes.js';
import { sdkRoutes } from './sdk-routes.js';
import { smsRoutes, type SmsRouteDeps, type SmsStatusReport } from './sms-routes.js';
import { inboxAdminRoutes, inboxRoutes, type InboxRouteDeps } from './inbox-routes.js';
import { findUser } from './find-user.js';
import { consentRoutes } from './consent-routes.js';
import { templateRoutes } from './template-routes.js';
import { trackingRoutes } from './tracking-routes.js';
import { triggerRoutes } from './trigger-routes.js';

export interface ServerDeps {
  config: Config;
  store: Store;
  pipeline: IngestPipeline;
  engine: TriggerEngine;
  engineStore: EngineStore;
  registry: TriggerRegistry;
  files: TriggerFiles;
  templates: TemplateFiles;
  links: MessageLinks;
  messageEvents: MessageEvents;
  consent: ConsentService;
  codes: DiscountCodes;
  pushSubscriptions: PushSubscriptionStore;
  /** The web push channel's VAPID public key; null without one. */
  vapidPublicKey: string | null;
  channelData: ChannelData;
  /** Users' in-app inboxes and their live streams. */
  inbox: Pick<InboxRouteDeps, 'store' | 'hub' | 'secretOf' | 'onInteraction'>;
  /** The SMS channel's incoming messages (STOP, START, HELP) and delivery reports; null without one. */
  sms: ({ optOuts: SmsOptOutStore; authToken: string } & Pick<SmsRouteDeps, 'helpText' | 'onOptOut' | 'onOptIn'>) | null;
  metrics: Metrics;
  now: () => number;
  logger?: FastifyServerOptions['logger'];
}

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({ logger: deps.logger ?? false, logController: new LogController({ disableRequestLogging: true }), trustProxy: true, forceCloseConnections: true, routerOptions: { maxParamLength: 2048 } });
  installErrorHandler(app);
  const keys = new KeyRing(deps.config.workspaces, deps.config.adminKeys);

  await app.register(swagger, {
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json['$id'] === 'string' ? json['$id'] : `def-${i}`) },
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Nudge management API',
        version: '1',
        description: 'Profiles, events, triggers, templates, messages and privacy requests. Authenticate with `Authorization: Bearer <admin key>` from nudge.yaml.',
      },
      components: {
        securitySchemes: {
          adminKey: { type: 'http', scheme: 'bearer' },
          userToken: { type: 'http', scheme: 'bearer', description: "A user's signed token (see the README's In-app): for the /v1/inbox routes." },
        },
      },
      security: [{ adminKey: [] }],
    },
  });

  await app.register((scope, _opts, done) => {
    ingestRoutes(scope, { config: deps.config, keys, pipeline: deps.pipeline, metrics: deps.metrics, now: deps.now }).then(() => done(), done);
  });
  await app.register(
    (scope, _opts, done) => {
      managementRoutes(scope, { store: deps.store, keys, pipeline: deps.pipeline, engine: deps.engine, engineStore: deps.engineStore, channelData: deps.channelData, phases: deps.config.profiles.phases, now: deps.now }).then(() => done(), done);
    },
    { prefix: '/api/v1' },
  );
  await app.register(
    (scope, _opts, done) => {
      triggerRoutes(scope, { keys, pipeline: deps.pipeline, engine: deps.engine, engineStore: deps.engineStore, registry: deps.registry, files: deps.files }).then(() => done(), done);
    },
    { prefix: '/api/v1' },
  );
  await app.register(
    (scope, _opts, done) => {
      templateRoutes(scope, { keys, pipeline: deps.pipeline, templates: deps.templates, now: deps.now }).then(() => done(), done);
    },
    { prefix: '/api/v1' },
  );

  await app.register(
    (scope, _opts, done) => {
      consentRoutes(scope, { keys, pipeline: deps.pipeline, consent: deps.consent }).then(() => done(), done);
    },
    { prefix: '/api/v1' },
  );
  await app.register(
    (scope, _opts, done) => {
      codeRoutes(scope, { keys, codes: deps.codes, profileOf: async (ws, id) => (await deps.pipeline.profile(ws, id))?.profileId ?? null }).then(() => done(), done);
    },
    { prefix: '/api/v1' },
  );
  const vapidPublicKey = deps.vapidPublicKey;
  if (vapidPublicKey !== null) {
    await app.register((scope, _opts, done) => {
      pushRoutes(scope, { keys, store: deps.pushSubscriptions, vapidPublicKey, now: deps.now }).then(() => done(), done);
    });
  }
  await app.register((scope, _opts, done) => {
    inboxRoutes(scope, {
      ...deps.inbox,
      keys,
      now: deps.now,
      // The keys of the profile a token's identity belongs to; the identity alone if it has none
      // (or if the id is another user's: `profile` looks user ids up before anonymous ids).
      identitiesOf: async (ws, key) => {
        const profile = await deps.pipeline.profile(ws, key.slice(2));
        const all = profile ? await deps.pipeline.identitiesOf(ws, profile.profileId) : [];
        return all.includes(key) ? all : [key];
      },
    }).then(() => done(), done);
  });
  await app.register(
    (scope, _opts, done) => {
      const identitiesOfUser = async (ws: string, id: string) => {
        const profile = await deps.pipeline.profile(ws, id);
        return profile ? deps.pipeline.identitiesOf(ws, profile.profileId) : null;
      };
      inboxAdminRoutes(scope, { keys, store: deps.inbox.store, identitiesOfUser }).then(() => done(), done);
    },
    { prefix: '/api/v1' },
  );
  await app.register((scope, _opts, done) => {
    sdkRoutes(scope).then(() => done(), done);
  });
  const sms = deps.sms;
  if (sms !== null) {
    const workspaces = new Set(keys.workspaces.map((w) => w.id));
    await app.register((scope, _opts, done) => {
      smsRoutes(scope, {
        publicUrl: () => deps.links.base(),
        authTokenOf: (workspaceId) => (workspaces.has(workspaceId) ? sms.authToken : undefined),
        optOuts: sms.optOuts,
        ...(sms.helpText === undefined ? {} : { helpText: sms.helpText }),
        ...(sms.onOptOut === undefined ? {} : { onOptOut: sms.onOptOut }),
        ...(sms.onOptIn === undefined ? {} : { onOptIn: sms.onOptIn }),
        now: deps.now,
        onStatus: (workspaceId, report, at) => smsStatusEvent(deps.messageEvents, workspaceId, report, at),
      }).then(() => done(), done);
    });
  }
  await app.register(
    (scope, _opts, done) => {
      const identitiesOf = async (ws: string, id: string) => deps.pipeline.identitiesOf(ws, (await findUser(deps.pipeline, ws, id)).profileId);
      pushAdminRoutes(scope, { keys, store: deps.pushSubscriptions, identitiesOf }).then(() => done(), done);
    },
    { prefix: '/api/v1' },
  );
  await app.register((scope, _opts, done) => {
    trackingRoutes(scope, { keys, links: deps.links, events: deps.messageEvents, consent: deps.consent }).then(() => done(), done);
  });

  await app.register(
    (scope, _opts, done) => {
      backtestRoutes(scope, { keys, events: deps.store.events, registry: deps.registry, config: deps.config, now: deps.now }).then(() => done(), done);
    },
    { prefix: '/api/v1' },
  );
  await app.register(
    (scope, _opts, done) => {
      liveRoutes(scope, { keys, metrics: deps.metrics, engine: deps.engine, now: deps.now }).then(() => done(), done);
    },
    { prefix: '/api/v1' },
  );
  await app.register(
    (scope, _opts, done) => {
      messageRoutes(scope, { keys, pipeline: deps.pipeline, engineStore: deps.engineStore, templates: deps.templates, now: deps.now }).then(() => done(), done);
    },
    { prefix: '/api/v1' },
  );
  await app.register((scope, _opts, done) => {
    dashboardRoutes(scope).then(() => done(), done);
  });

  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.header('Content-Type', deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
  return app;
}

/** A carrier's final report of a text, on the user's timeline (the callback URL names the message). */
function smsStatusEvent(events: MessageEvents, workspaceId: string, report: SmsStatusReport, at: number): void {
  const { message: key, profile: profileId, trigger: triggerId } = report.query;
  if (!key || !profileId || !triggerId) return;
  const message = { key, profileId, triggerId, channel: 'sms' };
  if (report.status === 'delivered') events.record(workspaceId, message, MessageEvent.delivered, { providerId: report.providerId }, 'delivered', at);
  else events.record(workspaceId, message, MessageEvent.failed, { reason: 'undelivered', providerId: report.providerId, errorCode: report.errorCode }, 'undelivered', at);
}
