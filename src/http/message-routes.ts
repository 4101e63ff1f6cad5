/**
 * One message of the outbox under /api/v1, with its content: rendered from its template for the
 * channel it went out on (or its own channel, until delivered), exactly as the dispatcher renders
 * it, with the user's profile as it is now. Content is not stored with the message, so a profile
 * or template changed since the send renders differently.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TemplateFiles } from '../config/template-files.js';
import type { IngestPipeline } from '../engine/ingest-pipeline.js';
import type { EngineStore } from '../ports/engine-store.js';
import { ErrorBody, WorkspaceQuery } from './api-schemas.js';
import type { KeyRing } from './auth.js';
import { HttpError } from './errors.js';
import { presentOutbox } from './trigger-routes.js';

export interface MessageRouteDeps {
  keys: KeyRing;
  pipeline: IngestPipeline;
  engineStore: EngineStore;
  templates: TemplateFiles;
  now: () => number;
}

const errors = { 400: Type.Ref(ErrorBody), 401: Type.Ref(ErrorBody), 404: Type.Ref(ErrorBody) };
const MessageParams = Type.Object({ key: Type.String({ minLength: 1, description: 'The message key (`key` in the outbox listing), URL-encoded.' }) });
type MessageParams = Static<typeof MessageParams>;

export async function messageRoutes(app: FastifyInstance, deps: MessageRouteDeps): Promise<void> {
  const { keys } = deps;
  app.addSchema(ErrorBody);
  app.addHook('onRequest', async (request) => keys.checkAdmin(request));

  app.get<{ Params: MessageParams; Querystring: WorkspaceQuery }>('/outbox/:key', {
    schema: {
      summary: 'One message, with its content rendered for the channel it went out on',
      tags: ['messages'],
      params: MessageParams,
      querystring: WorkspaceQuery,
      response: { 200: Type.Record(Type.String(), Type.Unknown()), ...errors },
    },
  }, async (request) => {
    const w = keys.workspace(request.query.workspace);
    const { key } = request.params;
    const user = userOfKey(key);
    const notFound = new HttpError(404, 'not_found', `key: no message "${key}" in workspace "${w.id}"`);
    if (!user || user.workspaceId !== w.id) throw notFound;
    const entry = (await deps.engineStore.exportUser(user)).outbox.find((e) => e.message.key === key);
    if (!entry) throw notFound;
    const channel = entry.deliveredVia ?? entry.message.channel;
    const profile = (await deps.pipeline.profilesByIds(w.id, [user.profileId])).get(user.profileId) ?? null;
    const rendered = deps.templates.render(entry.message, channel, profile, deps.now());
    return {
      ...presentOutbox(entry),
      content: { channel, parts: rendered.ok ? rendered.content : null, error: rendered.ok ? null : rendered.error },
    };
  });
}

/** The user a message key names: keys are `workspace/profile/run/step` (core/triggers/transition.ts), and only the profile id may hold a slash. */
function userOfKey(key: string): { workspaceId: string; profileId: string } | null {
  const parts = key.split('/');
  if (parts.length < 4) return null;
  return { workspaceId: parts[0]!, profileId: parts.slice(1, -2).join('/') };
}
