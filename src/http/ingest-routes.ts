/**
 * The ingestion endpoints: thin adapters from each protocol to `IngestPipeline.submit`.
 * A 200 is sent only after the events are committed. A payload with some invalid events stores
 * the valid ones and answers 422 naming each refused event's index and field.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/config.js';
import { formatIssues, type Issue } from '../core/errors.js';
import type { IngestPipeline } from '../engine/ingest-pipeline.js';
import { basicAuthUser, type KeyRing } from './auth.js';
import { installIngestBodyParsing } from './body.js';
import { installCors } from './cors.js';
import { HttpError } from './errors.js';
import type { Metrics } from './metrics.js';
import type { TranslateContext, Translation } from './protocols/common.js';
import { translatePosthog } from './protocols/posthog.js';
import { segmentTypeOfPath, translateSegmentBatch, translateSegmentCall } from './protocols/segment.js';

export interface IngestDeps {
  config: Config;
  keys: KeyRing;
  pipeline: IngestPipeline;
  metrics: Metrics;
  now: () => number;
}

type Protocol = 'segment' | 'posthog';
type Translate = (body: unknown, ctx: TranslateContext) => Translation;

/**
 * Most problems listed in one answer: enough to find the mistake, and bounded, so that a body
 * of many tiny bad events cannot be answered with a response many times its size.
 */
export const maxIssuesReported = 100;

function reported(issues: readonly Issue[]): { message: string; issues: readonly Issue[] } {
  const shown = issues.slice(0, maxIssuesReported);
  const more = issues.length - shown.length;
  return { message: formatIssues(shown) + (more > 0 ? `; and ${more} more` : ''), issues: shown };
}

export async function ingestRoutes(app: FastifyInstance, deps: IngestDeps): Promise<void> {
  installCors(app);
  installIngestBodyParsing(app);
  const bodyLimit = deps.config.ingest.maxBatchBytes;

  const handle = (protocol: Protocol, translate: Translate) => async (request: FastifyRequest, reply: FastifyReply) => {
    const started = performance.now();
    const receivedAt = deps.now();
    const basicKey = basicAuthUser(request);
    // Find the workspace first when the key is in a header, so a bad key fails before translation.
    let workspace = basicKey ? deps.keys.workspaceOfWriteKey(basicKey) : null;
    const ctx: TranslateContext = {
      workspaceId: workspace?.id ?? '',
      receivedAt,
      newId: randomUUID,
      maxEventBytes: deps.config.ingest.maxEventBytes,
      maxFutureMs: deps.config.ingest.maxFutureMs,
    };
    const result = translate(request.body, ctx);
    if (!workspace) {
      workspace = deps.keys.workspaceOfWriteKey(result.writeKey);
      for (const e of result.events) e.workspaceId = workspace.id;
    }
    deps.metrics.eventsRefused.inc({ protocol }, result.refused);
    if (result.fatal || (result.events.length === 0 && result.issues.length > 0)) {
      const refused = reported(result.issues);
      throw new HttpError(result.fatal ? 400 : 422, 'invalid_events', refused.message, refused.issues);
    }
    const outcome = await deps.pipeline.submit(workspace.id, result.events);
    deps.metrics.eventsAccepted.inc({ protocol }, outcome.accepted);
    deps.metrics.eventsDuplicate.inc({ protocol }, outcome.duplicates);
    deps.metrics.requestSeconds.observe({ protocol }, (performance.now() - started) / 1000);
    if (result.issues.length > 0) {
      const refused = reported(result.issues);
      return reply.status(422).send({
        success: false,
        error: 'invalid_events',
        message: `${result.refused} event(s) refused, ${outcome.accepted} stored: ${refused.message}`,
        issues: refused.issues,
        ...outcome,
      });
    }
    return protocol === 'posthog' ? { status: 1, ...outcome } : { success: true, ...outcome };
  };

  const post = (url: string, protocol: Protocol, translate: Translate) =>
    app.route({ method: ['POST', 'OPTIONS'], url, bodyLimit, handler: handle(protocol, translate), schema: { hide: true } });

  post('/v1/batch', 'segment', translateSegmentBatch);
  post('/v1/b', 'segment', translateSegmentBatch);
  for (const [segment, type] of Object.entries(segmentTypeOfPath)) {
    post(`/v1/${segment}`, 'segment', (body, ctx) => translateSegmentCall(body, type, ctx));
  }
  for (const url of ['/batch', '/batch/', '/capture', '/capture/', '/e', '/e/', '/i/v0/e', '/i/v0/e/', '/track', '/track/']) {
    post(url, 'posthog', translatePosthog);
  }

  // analytics.js (browser) reads its settings first and then sends to `apiHost`.
  app.get<{ Params: { writeKey: string } }>('/v1/projects/:writeKey/settings', { schema: { hide: true } }, async (request) => {
    deps.keys.workspaceOfWriteKey(request.params.writeKey);
    const host = request.headers.host ?? `127.0.0.1`;
    return {
      integrations: { 'Segment.io': { apiKey: request.params.writeKey, apiHost: `${host}/v1`, protocol: request.protocol, unbundledIntegrations: [], addBundledMetadata: false } },
      plan: { track: { __default: { enabled: true, integrations: {} } }, identify: { __default: { enabled: true } }, group: { __default: { enabled: true } } },
      edgeFunction: {},
      analyticsNextEnabled: true,
      middlewareSettings: {},
      enabledMiddleware: {},
      metrics: { sampleRate: 0 },
      legacyVideoPluginsEnabled: false,
      remotePlugins: [],
    };
  });
}
