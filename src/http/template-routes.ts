/**
 * Message templates under /api/v1: the templates in force, and a preview that renders one for a
 * real user exactly as a send would (same data, same strictness), to check copy before it goes out.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TemplateFiles } from '../config/template-files.js';
import type { JsonObject } from '../core/event.js';
import { renderMessage } from '../core/templates/render.js';
import { channels } from '../core/trigger-definition.js';
import type { IngestPipeline } from '../engine/ingest-pipeline.js';
import { ErrorBody, WorkspaceQuery } from './api-schemas.js';
import type { KeyRing } from './auth.js';
import { HttpError } from './errors.js';
import { findUser } from './find-user.js';

export interface TemplateRouteDeps {
  keys: KeyRing;
  pipeline: IngestPipeline;
  templates: TemplateFiles;
  now: () => number;
}

const errors = { 400: Type.Ref(ErrorBody), 401: Type.Ref(ErrorBody), 404: Type.Ref(ErrorBody) };
const TemplateParams = Type.Object({ id: Type.String({ description: 'Template id.' }) });
type TemplateParams = Static<typeof TemplateParams>;
const Issues = Type.Array(Type.Object({ path: Type.String(), message: Type.String() }));
const TemplateSummary = Type.Object({
  id: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  file: Type.String(),
  channels: Type.Array(Type.String(), { description: 'Channels it has parts for.' }),
});
const PreviewBody = Type.Object(
  {
    userId: Type.String({ minLength: 1, description: 'A user id, an anonymous id or a profile id.' }),
    channel: Type.Union(channels.map((c) => Type.Literal(c))),
    event: Type.Optional(
      Type.Object(
        {
          name: Type.String({ minLength: 1 }),
          properties: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
          timestamp: Type.Optional(Type.String({ format: 'date-time', description: 'Default: now.' })),
        },
        { additionalProperties: false, description: "The run's entry event, as `event` in the template. Default: none (the template may not use `event`)." },
      ),
    ),
  },
  { additionalProperties: false },
);
type PreviewBody = Static<typeof PreviewBody>;

/** What `message.code` is in a preview of a template that asks for a discount code. */
export const previewCode = 'PREVIEW-CODE';

export async function templateRoutes(app: FastifyInstance, deps: TemplateRouteDeps): Promise<void> {
  const { keys, templates } = deps;
  app.addSchema(ErrorBody);
  app.addHook('onRequest', async (request) => keys.checkAdmin(request));

  app.get('/templates', {
    schema: { summary: 'The message templates in force', tags: ['templates'], response: { 200: Type.Object({ items: Type.Array(TemplateSummary), issues: Issues }), ...errors } },
  }, async () => ({
    items: templates.list().map((t) => ({ id: t.id, description: t.definition.description ?? null, file: t.file, channels: [...t.channels.keys()] })),
    issues: templates.issues(),
  }));

  app.post<{ Params: TemplateParams; Querystring: WorkspaceQuery; Body: PreviewBody }>('/templates/:id/preview', {
    schema: {
      summary: "Render a template's parts for one channel and one user",
      tags: ['templates'],
      params: TemplateParams,
      querystring: WorkspaceQuery,
      body: PreviewBody,
      response: { 200: Type.Object({ id: Type.String(), channel: Type.String(), content: Type.Record(Type.String(), Type.String()) }), 422: Type.Ref(ErrorBody), ...errors },
    },
  }, async (request) => {
    const { id } = request.params;
    const w = keys.workspace(request.query.workspace);
    const template = templates.get(id);
    if (!template) throw new HttpError(404, 'not_found', `id: no template "${id}"`);
    const { userId, channel, event } = request.body;
    const user = await findUser(deps.pipeline, w.id, userId);
    const now = deps.now();
    const result = renderMessage(template, channel, {
      user,
      event: event ? { messageId: 'preview', type: 'track', name: event.name, properties: (event.properties ?? {}) as JsonObject, timestamp: event.timestamp ? Date.parse(event.timestamp) : now } : null,
      message: {
        triggerId: 'preview',
        runId: 'preview',
        stepId: 'preview',
        channel,
        template: id,
        variants: {},
        // A stand-in: a preview reserves no real code.
        ...(template.definition.code ? { code: previewCode, code_expires_at: new Date(now + 86_400_000).toISOString() } : {}),
      },
    }, now);
    if (!result.ok) throw new HttpError(422, result.error.code, result.error.message);
    return { id, channel, content: result.content };
  });
}
