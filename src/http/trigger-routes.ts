/**
 * Triggers, their runs and their messages under /api/v1. Triggers stay files: creating or
 * changing one through the API writes its file in the project's trigger folder (so it can be
 * committed to git) and applies it at once.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { stringify } from 'yaml';
import type { TriggerFiles } from '../config/trigger-files.js';
import type { IngestPipeline } from '../engine/ingest-pipeline.js';
import type { TriggerEngine } from '../engine/trigger-engine.js';
import { emptyReport, reportsOf } from '../engine/trigger-report.js';
import type { TriggerRegistry } from '../engine/trigger-registry.js';
import { OutboxStatus, type EngineStore, type OutboxEntry } from '../ports/engine-store.js';
import { ErrorBody, PageQuery, UserParams, WorkspaceQuery } from './api-schemas.js';
import type { KeyRing } from './auth.js';
import { HttpError } from './errors.js';
import { findUser } from './find-user.js';

export interface TriggerRouteDeps {
  keys: KeyRing;
  pipeline: IngestPipeline;
  engine: TriggerEngine;
  engineStore: EngineStore;
  registry: TriggerRegistry;
  files: TriggerFiles;
}

const errors = { 400: Type.Ref(ErrorBody), 401: Type.Ref(ErrorBody), 404: Type.Ref(ErrorBody) };
const TriggerParams = Type.Object({ id: Type.String({ description: 'Trigger id.' }) });
type TriggerParams = Static<typeof TriggerParams>;
const Json = Type.Record(Type.String(), Type.Unknown());
const ReloadBody = Type.Object({
  applied: Type.Boolean({ description: 'False when a file had problems: the triggers in force did not change.' }),
  issues: Type.Array(Type.Object({ path: Type.String(), message: Type.String() })),
  added: Type.Array(Type.String()),
  changed: Type.Array(Type.String()),
  removed: Type.Array(Type.String()),
});
const OutboxQuery = Type.Composite([
  WorkspaceQuery,
  PageQuery,
  Type.Object({
    status: Type.Optional(Type.Union(Object.values(OutboxStatus).map((s) => Type.Literal(s)))),
    triggerId: Type.Optional(Type.String()),
    userId: Type.Optional(Type.String()),
  }),
]);
type OutboxQuery = Static<typeof OutboxQuery>;

export async function triggerRoutes(app: FastifyInstance, deps: TriggerRouteDeps): Promise<void> {
  const { keys, registry, engineStore, files } = deps;
  app.addSchema(ErrorBody);
  app.addHook('onRequest', async (request) => keys.checkAdmin(request));
  app.addContentTypeParser(['application/yaml', 'application/x-yaml', 'text/yaml'], { parseAs: 'string' }, (_request, body, done) => done(null, body));

  const summary = (id: string) => {
    const t = registry.get(id);
    if (!t) throw new HttpError(404, 'not_found', `id: no trigger "${id}"`);
    const p = t.program;
    return { id: p.id, name: p.name, version: p.version, enabled: p.enabled, priority: p.priority, file: t.file, entry: p.definition.entry.event };
  };

  app.get<{ Querystring: WorkspaceQuery }>('/triggers', {
    schema: { summary: 'The triggers in force, with their numbers', tags: ['triggers'], querystring: WorkspaceQuery, response: { 200: Type.Object({ items: Type.Array(Json), issues: Type.Array(Json) }), ...errors } },
  }, async (request) => {
    const w = keys.workspace(request.query.workspace);
    const reports = reportsOf(await engineStore.counters(w.id));
    return {
      items: registry.list().map((t) => ({ ...summary(t.program.id), report: reports.get(t.program.id) ?? emptyReport() })),
      issues: registry.issues(),
    };
  });

  app.get<{ Params: TriggerParams; Querystring: WorkspaceQuery }>('/triggers/:id', {
    schema: { summary: 'One trigger: definition and numbers', tags: ['triggers'], params: TriggerParams, querystring: WorkspaceQuery, response: { 200: Json, ...errors } },
  }, async (request) => {
    const w = keys.workspace(request.query.workspace);
    const head = summary(request.params.id);
    const report = reportsOf(await engineStore.counters(w.id, head.id)).get(head.id) ?? emptyReport();
    return { ...head, definition: registry.get(head.id)!.program.definition, report };
  });

  app.put<{ Params: TriggerParams; Body: unknown }>('/triggers/:id', {
    schema: {
      summary: 'Create or replace a trigger (YAML or JSON body); writes its file and applies it',
      tags: ['triggers'],
      params: TriggerParams,
      response: { 200: Type.Composite([Type.Object({ id: Type.String(), version: Type.String() }), ReloadBody]), 422: Type.Ref(ErrorBody), ...errors },
    },
  }, async (request) => {
    const { id } = request.params;
    const text = typeof request.body === 'string' ? request.body : stringify(request.body);
    const written = files.write(id, text);
    if (written.issues.length > 0) throw new HttpError(422, 'invalid_trigger', `trigger "${id}" is not valid`, written.issues);
    const result = await registry.reload();
    if (!result.applied) throw new HttpError(422, 'invalid_trigger', 'the trigger folder has problems; nothing was applied', result.issues);
    return { id, version: registry.get(id)!.program.version, ...result };
  });

  app.delete<{ Params: TriggerParams }>('/triggers/:id', {
    schema: { summary: "Delete a trigger's file; runs in flight finish on their version", tags: ['triggers'], params: TriggerParams, response: { 200: ReloadBody, ...errors } },
  }, async (request) => {
    if (!files.remove(request.params.id)) throw new HttpError(404, 'not_found', `id: no trigger file defines "${request.params.id}"`);
    return registry.reload();
  });

  app.post('/triggers/reload', {
    schema: { summary: 'Apply the trigger files as they are now', tags: ['triggers'], response: { 200: ReloadBody, ...errors } },
  }, async () => registry.reload());

  app.get<{ Querystring: OutboxQuery }>('/outbox', {
    schema: { summary: 'Messages decided by triggers, newest first, with their delivery status', tags: ['messages'], querystring: OutboxQuery, response: { 200: Json, ...errors } },
  }, async (request) => {
    const q = request.query;
    const w = keys.workspace(q.workspace);
    const profileId = q.userId === undefined ? undefined : await profileIdOf(deps, w.id, q.userId);
    const page = await engineStore.listOutbox(w.id, { status: q.status, triggerId: q.triggerId, profileId, limit: q.limit, cursor: q.cursor });
    return { items: page.items.map(presentOutbox), nextCursor: page.nextCursor };
  });

  app.get<{ Params: UserParams; Querystring: WorkspaceQuery }>('/users/:userId/runs', {
    schema: { summary: "A user's trigger runs in flight and open conversion windows", tags: ['users', 'triggers'], params: UserParams, querystring: WorkspaceQuery, response: { 200: Json, ...errors } },
  }, async (request) => {
    const w = keys.workspace(request.query.workspace);
    const profileId = await profileIdOf(deps, w.id, request.params.userId);
    const state = await deps.engine.stateOf({ workspaceId: w.id, profileId });
    return {
      profileId,
      runs: Object.values(state?.runs ?? {}).map((r) => ({
        runId: r.id,
        triggerId: r.triggerId,
        version: r.version,
        startedAt: new Date(r.startedAt).toISOString(),
        waiting: r.waiting && { step: r.waiting.node, until: new Date(r.waiting.dueAt).toISOString() },
        variants: r.variants,
        sent: r.sent,
        goalReached: r.goalReached,
      })),
      goalWindows: Object.entries(state?.goalWatches ?? {}).map(([triggerId, g]) => ({ triggerId, runId: g.runId, until: new Date(g.until).toISOString() })),
    };
  });
}

async function profileIdOf(deps: TriggerRouteDeps, workspaceId: string, userId: string): Promise<string> {
  return (await findUser(deps.pipeline, workspaceId, userId)).profileId;
}

export function presentOutbox(e: OutboxEntry) {
  const m = e.message;
  return {
    key: m.key,
    status: e.status,
    channel: m.channel,
    fallback: m.fallback,
    deliveredVia: e.deliveredVia,
    template: m.template,
    profileId: m.profileId,
    triggerId: m.triggerId,
    runId: m.runId,
    stepId: m.stepId,
    variants: m.variants,
    attempts: e.attempts,
    lastError: e.lastError,
    dueAt: new Date(m.at).toISOString(),
    createdAt: new Date(e.createdAt).toISOString(),
    updatedAt: new Date(e.updatedAt).toISOString(),
  };
}
