/**
 * The management API under /api/v1, authenticated by an admin key (Bearer). Everything the
 * dashboard shows comes from here, so everything is scriptable.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { withPhaseAt, type PhaseRules } from '../core/phases.js';
import type { Profile } from '../core/profile.js';
import type { IngestPipeline } from '../engine/ingest-pipeline.js';
import type { TriggerEngine } from '../engine/trigger-engine.js';
import type { EngineStore } from '../ports/engine-store.js';
import { clampLimit } from '../ports/pagination.js';
import type { Store } from '../ports/store.js';
import {
  ErasureBody,
  ErrorBody,
  EventBody,
  EventsQuery,
  Page,
  PageQuery,
  ProfileBody,
  UserParams,
  UsersQuery,
  WorkspaceBody,
  WorkspaceQuery,
  profileScanLimit,
} from './api-schemas.js';
import type { KeyRing } from './auth.js';
import { HttpError } from './errors.js';
import { filteredPage } from './filtered-page.js';
import { findUser } from './find-user.js';
import { presentEvent, presentProfile } from './present.js';
import { presentOutbox } from './trigger-routes.js';

export interface ManagementDeps {
  store: Store;
  keys: KeyRing;
  pipeline: IngestPipeline;
  engine: TriggerEngine;
  engineStore: EngineStore;
  channelData: ChannelData;
  /** Behavioral phases: a profile is shown with its phase as of now. */
  phases: PhaseRules | null;
  now: () => number;
}

/** What the channels keep about a user beside the outbox (inbox, push subscriptions, SMS opt-outs, codes). */
export interface ChannelData {
  exportUser(workspaceId: string, profile: Profile, identities: readonly string[]): Promise<Record<string, unknown[]>>;
  /** Counts erased, by kind. */
  eraseUser(workspaceId: string, profile: Profile, identities: readonly string[]): Promise<Record<string, number>>;
}

const errors = { 400: Type.Ref(ErrorBody), 401: Type.Ref(ErrorBody), 404: Type.Ref(ErrorBody) };

export async function managementRoutes(app: FastifyInstance, deps: ManagementDeps): Promise<void> {
  const { store, keys } = deps;
  for (const schema of [ErrorBody, EventBody, ProfileBody]) app.addSchema(schema);
  app.addHook('onRequest', async (request) => keys.checkAdmin(request));

  const findProfile = (workspaceId: string, id: string): Promise<Profile> => findUser(deps.pipeline, workspaceId, id);

  app.get('/workspaces', {
    schema: { summary: 'Workspaces with their event and profile counts', tags: ['workspaces'], response: { 200: Type.Array(WorkspaceBody), ...errors } },
  }, async () =>
    deps.pipeline.readCheckpointed(() =>
      Promise.all(keys.workspaces.map(async (w) => ({ id: w.id, name: w.name, events: await store.events.count(w.id), profiles: await store.profiles.count(w.id) }))),
    ),
  );

  app.get<{ Querystring: UsersQuery }>('/users', {
    schema: { summary: 'Search profiles, most recently active first', tags: ['users'], querystring: UsersQuery, response: { 200: Page(Type.Ref(ProfileBody)), ...errors } },
  }, async (request) => {
    const w = keys.workspace(request.query.workspace);
    const { query, trait, value, limit, cursor } = request.query;
    if (value !== undefined && trait === undefined) throw new HttpError(400, 'invalid_request', 'value: needs trait, the name of the trait to compare');
    const read = (limit: number, cursor: string | undefined) => store.profiles.search(w.id, { query, limit, cursor });
    const page = await deps.pipeline.readCheckpointed(() =>
      trait === undefined ? read(clampLimit(limit), cursor) : filteredPage({ read, keep: hasTrait(trait, value), limit: clampLimit(limit), cursor, scanLimit: profileScanLimit }),
    );
    return { items: page.items.map((p) => presentProfile(withPhaseAt(p, deps.phases, deps.now()))), nextCursor: page.nextCursor };
  });

  app.get<{ Params: UserParams; Querystring: WorkspaceQuery }>('/users/:userId', {
    schema: { summary: "A user's live profile", tags: ['users'], params: UserParams, querystring: WorkspaceQuery, response: { 200: Type.Ref(ProfileBody), ...errors } },
  }, async (request) => {
    const w = keys.workspace(request.query.workspace);
    const profile = await findProfile(w.id, request.params.userId);
    return presentProfile(withPhaseAt(profile, deps.phases, deps.now()), await deps.pipeline.identitiesOf(w.id, profile.profileId));
  });

  app.get<{ Params: UserParams; Querystring: WorkspaceQuery & PageQuery }>('/users/:userId/events', {
    schema: {
      summary: "A user's timeline, newest first",
      tags: ['users'],
      params: UserParams,
      querystring: Type.Composite([WorkspaceQuery, PageQuery]),
      response: { 200: Page(Type.Ref(EventBody)), ...errors },
    },
  }, async (request) => {
    const w = keys.workspace(request.query.workspace);
    const profile = await findProfile(w.id, request.params.userId);
    const page = await store.events.query(w.id, { profileId: profile.profileId, limit: request.query.limit, cursor: request.query.cursor });
    return { items: page.items.map(presentEvent), nextCursor: page.nextCursor };
  });

  app.get<{ Params: UserParams; Querystring: WorkspaceQuery }>('/users/:userId/export', {
    schema: {
      summary: 'Everything stored about a user (GDPR/CCPA access request)',
      tags: ['privacy'],
      params: UserParams,
      querystring: WorkspaceQuery,
      response: {
        200: Type.Object({
          profile: Type.Ref(ProfileBody),
          events: Type.Array(Type.Ref(EventBody)),
          triggerState: Type.Unknown({ description: 'Runs in flight and what the engine remembers of the user.' }),
          messages: Type.Array(Type.Record(Type.String(), Type.Unknown())),
          channels: Type.Record(Type.String(), Type.Array(Type.Unknown()), { description: 'Inbox items, push subscriptions, SMS opt-outs, discount codes.' }),
        }),
        ...errors,
      },
    },
  }, async (request) => {
    const w = keys.workspace(request.query.workspace);
    const profile = await findProfile(w.id, request.params.userId);
    const data = await deps.pipeline.readCheckpointed(() => store.exportUser(w.id, profile.profileId));
    if (!data) throw new HttpError(404, 'not_found', `userId: no user "${request.params.userId}"`);
    await deps.engine.idle();
    const engineData = await deps.engineStore.exportUser({ workspaceId: w.id, profileId: profile.profileId });
    return {
      profile: presentProfile(data.profile, data.identities),
      events: data.events.map(presentEvent),
      triggerState: engineData.state,
      messages: engineData.outbox.map(presentOutbox),
      channels: await deps.channelData.exportUser(w.id, data.profile, data.identities),
    };
  });

  app.delete<{ Params: UserParams; Querystring: WorkspaceQuery }>('/users/:userId', {
    schema: {
      summary: 'Erase a user: profile, identities and events (GDPR/CCPA erasure)',
      tags: ['privacy'],
      params: UserParams,
      querystring: WorkspaceQuery,
      response: { 200: ErasureBody, ...errors },
    },
  }, async (request) => {
    const w = keys.workspace(request.query.workspace);
    const profile = await findProfile(w.id, request.params.userId);
    // Read before the erasure, which removes the identity links.
    const identities = await deps.pipeline.identitiesOf(w.id, profile.profileId);
    const erased = await deps.pipeline.eraseUser(w.id, profile.profileId);
    const user = { workspaceId: w.id, profileId: profile.profileId };
    const engineErased = await deps.engine.eraseUser(user);
    const channels = await deps.channelData.eraseUser(w.id, profile, identities);
    return { ...erased, triggerStates: engineErased.states, messages: engineErased.outbox, timers: engineErased.timers, channels };
  });

  app.get<{ Querystring: EventsQuery }>('/events', {
    schema: { summary: 'Query events, newest first', tags: ['events'], querystring: EventsQuery, response: { 200: Page(Type.Ref(EventBody)), ...errors } },
  }, async (request) => {
    const q = request.query;
    const w = keys.workspace(q.workspace);
    let profileId: string | undefined;
    if (q.userId !== undefined) profileId = (await findProfile(w.id, q.userId)).profileId;
    const page = await store.events.query(w.id, {
      profileId,
      type: q.type,
      name: q.name,
      since: q.since === undefined ? undefined : Date.parse(q.since),
      until: q.until === undefined ? undefined : Date.parse(q.until),
      limit: q.limit,
      cursor: q.cursor,
    });
    return { items: page.items.map(presentEvent), nextCursor: page.nextCursor };
  });
}

/** Whether a profile has the trait at `path` (dotted), equal to `value` if given (strings without case). */
function hasTrait(path: string, value: string | undefined): (profile: Profile) => boolean {
  const keys = path.split('.');
  const wanted = value?.toLowerCase();
  return (profile) => {
    let at: unknown = profile.traits;
    for (const key of keys) at = typeof at === 'object' && at !== null && !Array.isArray(at) ? (at as Record<string, unknown>)[key] : undefined;
    if (at === undefined || at === null) return false;
    return wanted === undefined || (typeof at === 'object' ? JSON.stringify(at) : String(at)).toLowerCase() === wanted;
  };
}
