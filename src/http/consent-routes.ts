/**
 * A user's consent under /api/v1 (admin key): read it, and change it at once — for a preference
 * centre in the customer's own app, a support agent, or an import. Changes are committed before
 * the answer (see engine/consent.ts), so a message decided afterwards respects them.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { consentChangesProblem, consentOf, type ConsentChanges, type ConsentService } from '../engine/consent.js';
import type { IngestPipeline } from '../engine/ingest-pipeline.js';
import { ErrorBody, UserParams, WorkspaceQuery } from './api-schemas.js';
import type { KeyRing } from './auth.js';
import { HttpError } from './errors.js';
import { findUser } from './find-user.js';

export interface ConsentRouteDeps {
  keys: KeyRing;
  pipeline: IngestPipeline;
  consent: ConsentService;
}

const errors = { 400: Type.Ref(ErrorBody), 401: Type.Ref(ErrorBody), 404: Type.Ref(ErrorBody) };
const ConsentBody = Type.Record(Type.String(), Type.Boolean(), {
  description: 'Keyed by `<channel>`, `<topic>` or `<channel>:<topic>`; the most specific key wins. Topics without a key follow `delivery.consent` (transactional is always allowed).',
});
const ChangeBody = Type.Object(
  {
    // Values are checked by consentChangesProblem: a schema union of null and boolean would be coerced.
    changes: Type.Record(Type.String(), Type.Unknown(), {
      description: 'true or false sets a key, null removes it. Turning a channel or topic off also drops narrower keys that allowed it.',
    }),
    source: Type.Optional(Type.String({ maxLength: 64, description: 'Where the change comes from, shown on the timeline. Default api.' })),
  },
  { additionalProperties: false },
);
type ChangeBody = Static<typeof ChangeBody>;

export async function consentRoutes(app: FastifyInstance, deps: ConsentRouteDeps): Promise<void> {
  const { keys } = deps;
  app.addSchema(ErrorBody);
  app.addHook('onRequest', async (request) => keys.checkAdmin(request));

  app.get<{ Params: UserParams; Querystring: WorkspaceQuery }>('/users/:userId/consent', {
    schema: { summary: "A user's consent", tags: ['users'], params: UserParams, querystring: WorkspaceQuery, response: { 200: Type.Object({ consent: ConsentBody }), ...errors } },
  }, async (request) => {
    const w = keys.workspace(request.query.workspace);
    return { consent: consentOf(await findUser(deps.pipeline, w.id, request.params.userId)) };
  });

  app.patch<{ Params: UserParams; Querystring: WorkspaceQuery; Body: ChangeBody }>('/users/:userId/consent', {
    schema: {
      summary: "Change a user's consent, at once",
      tags: ['users'],
      params: UserParams,
      querystring: WorkspaceQuery,
      body: ChangeBody,
      response: { 200: Type.Object({ consent: ConsentBody }), ...errors },
    },
  }, async (request) => {
    const w = keys.workspace(request.query.workspace);
    const problem = consentChangesProblem(request.body.changes);
    if (problem) throw new HttpError(400, 'invalid_request', problem);
    const profile = await findUser(deps.pipeline, w.id, request.params.userId);
    const consent = await deps.consent.update(w.id, profile.profileId, { changes: request.body.changes as ConsentChanges, source: request.body.source ?? 'api' });
    return { consent };
  });
}
