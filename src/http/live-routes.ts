/**
 * Live rates under /api/v1: events accepted and messages decided per second, sampled once a
 * second from counters the process already keeps (the ingestion metrics and the trigger engine's
 * statistics), so a request never reads a table. The last `keptSamples` seconds are kept in
 * memory; the counts are of this process since it started, over all workspaces.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TriggerEngine } from '../engine/trigger-engine.js';
import { ErrorBody } from './api-schemas.js';
import type { KeyRing } from './auth.js';
import type { Metrics } from './metrics.js';

/** Running totals since the process started. */
interface LiveTotals {
  events: number;
  sends: number;
}

export interface LiveRouteDeps {
  keys: KeyRing;
  metrics: Pick<Metrics, 'eventsAccepted'>;
  engine: Pick<TriggerEngine, 'stats'>;
  now: () => number;
  /** Default 1000. */
  intervalMs?: number;
}

const keptSamples = 300;
const LiveQuery = Type.Object({
  seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: keptSamples, default: 120, description: 'How far back.' })),
});
type LiveQuery = Static<typeof LiveQuery>;
const LiveBody = Type.Object({
  intervalMs: Type.Integer({ description: 'Time between points.' }),
  totals: Type.Object({ events: Type.Integer({ description: 'Events accepted.' }), sends: Type.Integer({ description: 'Messages decided by triggers.' }) }),
  points: Type.Array(
    Type.Object({
      at: Type.String({ format: 'date-time' }),
      eventsPerSecond: Type.Number(),
      sendsPerSecond: Type.Number(),
    }),
    { description: 'Oldest first; each is the rate over the interval that ends at `at`.' },
  ),
});

interface Sample extends LiveTotals {
  at: number;
  /** Monotonic time of the sample, for the rate: the wall clock may jump. */
  tick: number;
}

interface Point {
  at: number;
  eventsPerSecond: number;
  sendsPerSecond: number;
}

export async function liveRoutes(app: FastifyInstance, deps: LiveRouteDeps): Promise<void> {
  const { keys } = deps;
  const intervalMs = deps.intervalMs ?? 1000;
  app.addSchema(ErrorBody);
  app.addHook('onRequest', async (request) => keys.checkAdmin(request));

  const totals = async (): Promise<LiveTotals> => ({
    events: (await deps.metrics.eventsAccepted.get()).values.reduce((sum, v) => sum + v.value, 0),
    sends: deps.engine.stats().sends,
  });
  const points: Point[] = [];
  const sample = async (): Promise<Sample> => ({ ...(await totals()), at: deps.now(), tick: performance.now() });
  let last = await sample();
  const timer = setInterval(() => {
    void sample().then((next) => {
      const seconds = Math.max(next.tick - last.tick, 1) / 1000;
      points.push({ at: next.at, eventsPerSecond: rate(next.events - last.events, seconds), sendsPerSecond: rate(next.sends - last.sends, seconds) });
      if (points.length > keptSamples) points.splice(0, points.length - keptSamples);
      last = next;
    });
  }, intervalMs);
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));

  app.get<{ Querystring: LiveQuery }>('/stats/live', {
    schema: {
      summary: 'Events accepted and messages decided per second, over the last minutes (this process, all workspaces)',
      tags: ['stats'],
      querystring: LiveQuery,
      response: { 200: LiveBody, 400: Type.Ref(ErrorBody), 401: Type.Ref(ErrorBody) },
    },
  }, async (request) => {
    const seconds = request.query.seconds ?? 120;
    const recent = points.slice(-Math.ceil((seconds * 1000) / intervalMs));
    return {
      intervalMs,
      totals: await totals(),
      points: recent.map((p) => ({ ...p, at: new Date(p.at).toISOString() })),
    };
  });
}

const rate = (delta: number, seconds: number): number => Math.round((Math.max(delta, 0) / seconds) * 100) / 100;
