/**
 * The backtest of one trigger over the workspace's stored events, under /api/v1: the events of a
 * time range are replayed, oldest first, through the same transition as the live engine on a
 * simulated clock (engine/backtest.ts), and the answer says what the trigger would have sent.
 *
 * Bounded: at most `maxEvents` events are read, through the event log's time index, a window of
 * at most `windowEvents` at a time (a window holding more is halved until it fits), so memory
 * does not grow with the history. Profiles start empty at `since`: what users did before it is
 * not known to the replay.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { setImmediate } from 'node:timers/promises';
import type { Config } from '../config/config.js';
import { parseTrigger } from '../config/triggers.js';
import type { StoredEvent } from '../core/event.js';
import type { TriggerDefinition } from '../core/trigger-definition.js';
import { buildCatalog } from '../core/triggers/catalog.js';
import { compileTrigger } from '../core/triggers/program.js';
import type { OutboundMessage } from '../core/triggers/state.js';
import { runBacktest } from '../engine/backtest.js';
import type { TriggerRegistry } from '../engine/trigger-registry.js';
import type { EventLog } from '../ports/event-log.js';
import { BacktestBody, BacktestResult, defaultBacktestEvents, defaultSampleMessages, ErrorBody, WorkspaceQuery } from './api-schemas.js';
import type { KeyRing } from './auth.js';
import { HttpError } from './errors.js';
import { presentIssue } from './present.js';

export interface BacktestRouteDeps {
  keys: KeyRing;
  events: EventLog;
  registry: TriggerRegistry;
  config: Pick<Config, 'profiles' | 'ingest'>;
  now: () => number;
}

const errors = { 400: Type.Ref(ErrorBody), 401: Type.Ref(ErrorBody), 404: Type.Ref(ErrorBody) };
const TriggerParams = Type.Object({ id: Type.String({ description: 'Trigger id.' }) });
type TriggerParams = Static<typeof TriggerParams>;

const hourMs = 3_600_000;
const dayMs = 24 * hourMs;
/** Events read from the log at once. */
const windowEvents = 1000;
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export async function backtestRoutes(app: FastifyInstance, deps: BacktestRouteDeps): Promise<void> {
  const { keys, registry } = deps;
  app.addSchema(ErrorBody);
  app.addHook('onRequest', async (request) => keys.checkAdmin(request));

  app.post<{ Params: TriggerParams; Querystring: WorkspaceQuery; Body: BacktestBody }>('/triggers/:id/backtest', {
    schema: {
      summary: 'Backtest a trigger (or a draft of it) over the stored events of a time range: what it would have sent',
      description:
        'Replays the events oldest first through the trigger alone on a simulated clock. Caps, quiet hours and consent apply when sending and are not simulated. A disabled trigger is backtested as if enabled.',
      tags: ['triggers'],
      params: TriggerParams,
      querystring: WorkspaceQuery,
      body: BacktestBody,
      response: { 200: BacktestResult, 422: Type.Ref(ErrorBody), ...errors },
    },
  }, async (request) => {
    const w = keys.workspace(request.query.workspace);
    const { id } = request.params;
    const body = request.body;
    const definition = body.source === undefined ? inForce(registry, id) : draft(id, body.source);
    const until = body.until === undefined ? deps.now() : Date.parse(body.until);
    const since = body.since === undefined ? until - 7 * dayMs : Date.parse(body.since);
    if (since >= until) throw new HttpError(400, 'invalid_request', 'since: must be before until', [{ path: 'body.since', message: 'must be before until' }]);

    const read = { count: 0, truncated: false };
    const sample: OutboundMessage[] = [];
    const started = performance.now();
    const report = await runBacktest({
      events: oldestFirst(deps.events, w.id, since, until, body.maxEvents ?? defaultBacktestEvents, read),
      catalog: buildCatalog([compileTrigger({ ...definition, enabled: true })]),
      profileOptions: deps.config.profiles,
      workspaceId: w.id,
      dedupWindowMs: deps.config.ingest.dedupWindowMs,
      order: 'stream',
      // Read when the replay ends: cut short, the history goes on after the last event read, so
      // the clock stops there rather than fire timers that later events might have cancelled.
      get until() {
        return read.truncated ? undefined : until;
      },
      onSend: (m) => void (sample.length < (body.sampleMessages ?? defaultSampleMessages) && sample.push(m)),
    });
    const trigger = report.triggers.find((t) => t.id === definition.id)!;
    return {
      trigger,
      since: iso(since)!,
      until: iso(until)!,
      truncated: read.truncated,
      events: report.events,
      firstEventAt: iso(report.firstEventAt),
      lastEventAt: iso(report.lastEventAt),
      clockStoppedAt: iso(report.until),
      profiles: report.profiles,
      timersFired: report.timersFired,
      timersPending: report.timersPending,
      messages: report.messages,
      sample: sample.map((m) => ({
        profileId: m.profileId,
        runId: m.runId,
        stepId: m.stepId,
        channel: m.channel,
        template: m.template,
        variants: m.variants,
        dueAt: iso(m.at)!,
      })),
      seconds: Number(((performance.now() - started) / 1000).toFixed(3)),
    };
  });
}

function inForce(registry: TriggerRegistry, id: string): TriggerDefinition {
  const t = registry.get(id);
  if (!t) throw new HttpError(404, 'not_found', `id: no trigger "${id}"`);
  return t.program.definition;
}

/** A draft's YAML (or JSON) text, validated as its file would be; a 422 locates each problem. */
function draft(id: string, source: string): TriggerDefinition {
  const { trigger, issues } = parseTrigger(source, `${id}.yaml`);
  if (!trigger) throw new HttpError(422, 'invalid_trigger', `source: the draft of trigger "${id}" is not valid`, issues.map(presentIssue));
  return trigger;
}

/**
 * The events of [since, until), oldest first (by time, then as stored), at most `max`. The log
 * answers newest first, so a window is read whole and handed out backwards; windows grow while
 * they hold little and halve while they hold more than `windowEvents`. Between windows other work
 * (ingestion) gets its turn.
 */
async function* oldestFirst(log: EventLog, workspaceId: string, since: number, until: number, max: number, read: { count: number; truncated: boolean }): AsyncGenerator<StoredEvent> {
  let from = since;
  let span = Math.min(until - since, hourMs);
  while (from < until) {
    const to = Math.min(until, from + span);
    const page = await log.query(workspaceId, { since: from, until: to, limit: windowEvents });
    if (page.nextCursor !== null && to - from > 1) {
      span = Math.ceil((to - from) / 2);
      continue;
    }
    const events = page.items;
    // More than a window's worth within one millisecond: only then is it read in several pages.
    for (let cursor = page.nextCursor; cursor !== null; ) {
      const more = await log.query(workspaceId, { since: from, until: to, limit: windowEvents, cursor });
      events.push(...more.items);
      cursor = more.nextCursor;
    }
    for (let i = events.length - 1; i >= 0; i--) {
      if (read.count === max) {
        read.truncated = true;
        return;
      }
      read.count++;
      yield events[i]!;
    }
    from = to;
    if (events.length < windowEvents / 4) span *= 2;
    await setImmediate();
  }
}
