/**
 * Triggers, their runs and their messages under /api/v1. Triggers stay files: creating or
 * changing one through the API writes its file in the project's trigger folder (so it can be
 * committed to git) and applies it at once.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, parseDocument, stringify } from 'yaml';
import type { TriggerFiles } from '../config/trigger-files.js';
import { parseTrigger } from '../config/triggers.js';
import { channels } from '../core/trigger-definition.js';
import { compileTrigger } from '../core/triggers/program.js';
import type { IngestPipeline } from '../engine/ingest-pipeline.js';
import type { TriggerEngine } from '../engine/trigger-engine.js';
import { emptyReport, reportsOf, type TriggerReport } from '../engine/trigger-report.js';
import type { TriggerRegistry } from '../engine/trigger-registry.js';
import { OutboxStatus, type CounterKey, type EngineStore, type OutboxEntry } from '../ports/engine-store.js';
import { clampLimit } from '../ports/pagination.js';
import { ErrorBody, PageQuery, TriggerDetailBody, TriggerSummaryBody, UserParams, WorkspaceQuery } from './api-schemas.js';
import type { KeyRing } from './auth.js';
import { HttpError } from './errors.js';
import { filteredPage } from './filtered-page.js';
import { findUser } from './find-user.js';
import { presentIssue } from './present.js';

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
const PutQuery = Type.Object({
  dryRun: Type.Optional(Type.Boolean({ description: 'Only check the trigger: nothing is written or applied (`applied` is false).' })),
});
type PutQuery = Static<typeof PutQuery>;
const TriggerPatch = Type.Object({ enabled: Type.Boolean({ description: 'false: no new runs start.' }) }, { additionalProperties: false });
type TriggerPatch = Static<typeof TriggerPatch>;
const Json = Type.Record(Type.String(), Type.Unknown());
const ReloadBody = Type.Object({
  applied: Type.Boolean({ description: 'False when a file had problems: the triggers in force did not change.' }),
  issues: Type.Array(Type.Object({ path: Type.String(), message: Type.String() })),
  added: Type.Array(Type.String()),
  changed: Type.Array(Type.String()),
  removed: Type.Array(Type.String()),
});
/** Most outbox entries read for one page of a listing filtered by channel or end time. */
const outboxScanLimit = 5000;
const OutboxQuery = Type.Composite([
  WorkspaceQuery,
  PageQuery,
  Type.Object({
    status: Type.Optional(Type.Union(Object.values(OutboxStatus).map((s) => Type.Literal(s)))),
    triggerId: Type.Optional(Type.String()),
    userId: Type.Optional(Type.String()),
    channel: Type.Optional(Type.Union(channels.map((c) => Type.Literal(c)), { description: 'The step\'s channel, or the channel that delivered it (a fallback).' })),
    since: Type.Optional(Type.String({ format: 'date-time', description: 'Decided at or after this time.' })),
    until: Type.Optional(Type.String({ format: 'date-time', description: 'Decided before this time.' })),
  }),
], {
  description: `With channel or until, the filter is applied as the messages are read: a page reads at most ${outboxScanLimit} messages, so it may hold fewer than limit (even none) and still have a nextCursor.`,
});
type OutboxQuery = Static<typeof OutboxQuery>;

export async function triggerRoutes(app: FastifyInstance, deps: TriggerRouteDeps): Promise<void> {
  const { keys, registry, engineStore, files } = deps;
  app.addSchema(ErrorBody);
  app.addSchema(TriggerSummaryBody);
  app.addHook('onRequest', async (request) => keys.checkAdmin(request));
  app.addContentTypeParser(['application/yaml', 'application/x-yaml', 'text/yaml'], { parseAs: 'string' }, (_request, body, done) => done(null, body));

  const summary = (id: string) => {
    const t = registry.get(id);
    if (!t) throw new HttpError(404, 'not_found', `id: no trigger "${id}"`);
    const p = t.program;
    return { id: p.id, name: p.name, version: p.version, enabled: p.enabled, priority: p.priority, file: t.file, entry: p.definition.entry.event };
  };

  /** What a PUT would say, without writing or applying anything. */
  const check = (id: string, text: string) => {
    const file = path.join(files.dir, `${id}.yaml`);
    const { trigger, issues } = parseTrigger(text, file);
    if (trigger && trigger.id !== id) issues.push({ path: `${file}: id`, message: `the trigger's id is "${trigger.id}", but it is being written as "${id}"` });
    if (!trigger || issues.length > 0) throw new HttpError(422, 'invalid_trigger', `trigger "${id}" is not valid`, issues.map(presentIssue));
    return { id, version: compileTrigger(trigger).version, applied: false, issues: [], added: [], changed: [], removed: [] };
  };

  const applied = async (id: string) => {
    const result = await registry.reload();
    if (!result.applied) throw new HttpError(422, 'invalid_trigger', 'the trigger folder has problems; nothing was applied', result.issues.map(presentIssue));
    return { id, version: registry.get(id)!.program.version, ...result };
  };

  app.get<{ Querystring: WorkspaceQuery }>('/triggers', {
    schema: {
      summary: 'The triggers in force, with their numbers (per trigger and per step: sent, outcomes, runs waiting now)',
      description: 'Read from counters the engine keeps, whatever the number of users.',
      tags: ['triggers'],
      querystring: WorkspaceQuery,
      response: { 200: Type.Object({ items: Type.Array(Type.Ref(TriggerSummaryBody)), issues: Type.Array(Json) }), ...errors },
    },
  }, async (request) => {
    const w = keys.workspace(request.query.workspace);
    const counters = await engineStore.counters(w.id);
    const reports = reportsOf(counters);
    const steps = stepCountsOf(counters);
    return {
      items: registry.list().map((t) => numbered(summary(t.program.id), reports.get(t.program.id), steps.get(t.program.id))),
      issues: registry.issues().map(presentIssue),
    };
  });

  app.get<{ Params: TriggerParams; Querystring: WorkspaceQuery }>('/triggers/:id', {
    schema: { summary: 'One trigger: definition, its file as written, and numbers', tags: ['triggers'], params: TriggerParams, querystring: WorkspaceQuery, response: { 200: TriggerDetailBody, ...errors } },
  }, async (request) => {
    const w = keys.workspace(request.query.workspace);
    const head = summary(request.params.id);
    const counters = await engineStore.counters(w.id, head.id);
    return {
      ...numbered(head, reportsOf(counters).get(head.id), stepCountsOf(counters).get(head.id)),
      definition: registry.get(head.id)!.program.definition,
      source: sourceOf(head.file),
    };
  });

  app.put<{ Params: TriggerParams; Querystring: PutQuery; Body: unknown }>('/triggers/:id', {
    schema: {
      summary: 'Create or replace a trigger (YAML or JSON body); writes its file and applies it',
      description: 'Problems come back as a 422 whose issues give the line, column and field of each.',
      tags: ['triggers'],
      params: TriggerParams,
      querystring: PutQuery,
      response: { 200: Type.Composite([Type.Object({ id: Type.String(), version: Type.String() }), ReloadBody]), 422: Type.Ref(ErrorBody), ...errors },
    },
  }, async (request) => {
    const { id } = request.params;
    const text = typeof request.body === 'string' ? request.body : stringify(request.body);
    if (request.query.dryRun) return check(id, text);
    const written = files.write(id, text);
    if (written.issues.length > 0) throw new HttpError(422, 'invalid_trigger', `trigger "${id}" is not valid`, written.issues.map(presentIssue));
    return applied(id);
  });

  app.patch<{ Params: TriggerParams; Body: TriggerPatch }>('/triggers/:id', {
    schema: {
      summary: 'Switch a trigger on or off: sets `enabled` in its file (comments and layout kept) and applies it',
      description: 'A disabled trigger starts no new runs; runs in flight go on to their end on their version.',
      tags: ['triggers'],
      params: TriggerParams,
      body: TriggerPatch,
      response: { 200: Type.Composite([Type.Object({ id: Type.String(), version: Type.String() }), ReloadBody]), 422: Type.Ref(ErrorBody), ...errors },
    },
  }, async (request) => {
    const { id } = request.params;
    const { file } = summary(id);
    const text = sourceOf(file);
    if (text === null) throw new HttpError(404, 'not_found', `id: the file of trigger "${id}" is gone`);
    const written = files.write(id, withEnabled(text, request.body.enabled));
    if (written.issues.length > 0) throw new HttpError(422, 'invalid_trigger', `trigger "${id}" is not valid`, written.issues.map(presentIssue));
    return applied(id);
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
    const since = q.since === undefined ? undefined : Date.parse(q.since);
    const until = q.until === undefined ? undefined : Date.parse(q.until);
    const read = (limit: number, cursor: string | undefined) => engineStore.listOutbox(w.id, { status: q.status, triggerId: q.triggerId, profileId, limit, cursor });
    const page = await filteredPage({
      read,
      // Newest first: past `since` nothing more can match.
      keep: (e: OutboxEntry) =>
        since !== undefined && e.createdAt < since ? 'stop' : (until === undefined || e.createdAt < until) && (q.channel === undefined || e.message.channel === q.channel || e.deliveredVia === q.channel),
      limit: clampLimit(q.limit),
      cursor: q.cursor,
      scanLimit: outboxScanLimit,
    });
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

/** A trigger's report (runs waiting per step included), runs in flight, and what each of its send steps sent and what became of it. */
function numbered<T extends object>(head: T, report: TriggerReport | undefined, steps: Record<string, StepCounts> | undefined) {
  const r = report ?? emptyReport();
  const exited = Object.values(r.exited).reduce((a, b) => a + b, 0);
  return { ...head, report: r, inFlight: Math.max(0, r.entered - r.completed - exited), steps: steps ?? {} };
}

interface StepCounts {
  /** By channel. */
  sent: Record<string, number>;
  /** By outcome: `delivered:<channel>`, `failed`. */
  outcomes: Record<string, number>;
}

/** Per trigger id, per step id: the `sent` and `delivery` counters summed over variants. */
function stepCountsOf(counters: readonly { key: CounterKey; count: number }[]): Map<string, Record<string, StepCounts>> {
  const byTrigger = new Map<string, Record<string, StepCounts>>();
  for (const { key, count } of counters) {
    if (key.kind !== 'sent' && key.kind !== 'delivery') continue;
    let steps = byTrigger.get(key.triggerId);
    if (!steps) byTrigger.set(key.triggerId, (steps = {}));
    const step = (steps[key.stepId] ??= { sent: {}, outcomes: {} });
    const [into, label] = key.kind === 'sent' ? [step.sent, key.channel] : [step.outcomes, key.variant];
    into[label] = (into[label] ?? 0) + count;
  }
  return byTrigger;
}

/** A trigger file's text; null if it is gone. */
function sourceOf(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/**
 * The file's text with `enabled` set, all else as written (comments, layout): an `enabled` already
 * there has its value replaced; otherwise (disabling: enabled is the default) a line is added after `id`.
 */
function withEnabled(text: string, enabled: boolean): string {
  const doc = parseDocument(text);
  const value = doc.get('enabled', true);
  if (isScalar(value) && value.range) return `${text.slice(0, value.range[0])}${enabled}${text.slice(value.range[1])}`;
  if (enabled) return text;
  const id = isMap(doc.contents) && !doc.contents.flow ? doc.contents.items.find((p) => isScalar(p.key) && p.key.value === 'id') : undefined;
  if (!id || !isScalar(id.key) || !id.key.range || !isScalar(id.value) || !id.value.range) {
    doc.set('enabled', false);
    return doc.toString();
  }
  const indent = id.key.range[0] - (text.lastIndexOf('\n', id.key.range[0] - 1) + 1);
  const lineEnd = text.indexOf('\n', id.value.range[1]);
  const line = `${' '.repeat(indent)}enabled: false\n`;
  return lineEnd === -1 ? `${text}\n${line}` : `${text.slice(0, lineEnd + 1)}${line}${text.slice(lineEnd + 1)}`;
}
