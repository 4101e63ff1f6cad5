/** Builds the HTTP server: ingestion, management API, OpenAPI document, health and metrics. */
import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Config } from '../config/config.js';
import type { TemplateFiles } from '../config/template-files.js';
import type { TriggerFiles } from '../config/trigger-files.js';
import type { IngestPipeline } from '../engine/ingest-pipeline.js';
import type { TriggerEngine } from '../engine/trigger-engine.js';
import type { TriggerRegistry } from '../engine/trigger-registry.js';
import type { EngineStore } from '../ports/engine-store.js';
import type { Store } from '../ports/store.js';
import { KeyRing } from './auth.js';
import { installErrorHandler } from './errors.js';
import { ingestRoutes } from './ingest-routes.js';
import { managementRoutes } from './management-routes.js';
import type { Metrics } from './metrics.js';
import { templateRoutes } from './template-routes.js';
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
  metrics: Metrics;
  now: () => number;
  logger?: FastifyServerOptions['logger'];
}

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({ logger: deps.logger ?? false, logController: new LogController({ disableRequestLogging: true }), trustProxy: true, forceCloseConnections: true });
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
      components: { securitySchemes: { adminKey: { type: 'http', scheme: 'bearer' } } },
      security: [{ adminKey: [] }],
    },
  });

  await app.register((scope, _opts, done) => {
    ingestRoutes(scope, { config: deps.config, keys, pipeline: deps.pipeline, metrics: deps.metrics, now: deps.now }).then(() => done(), done);
  });
  await app.register(
    (scope, _opts, done) => {
      managementRoutes(scope, { store: deps.store, keys, pipeline: deps.pipeline, engine: deps.engine, engineStore: deps.engineStore }).then(() => done(), done);
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

  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.header('Content-Type', deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
  return app;
}
