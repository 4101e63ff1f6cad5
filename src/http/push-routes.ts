/**
 * Web push subscriptions over HTTP. For browsers, authenticated by a write key as ingestion is
 * (Basic auth user, or `writeKey` in the body or, for GET, the query), with the same CORS:
 * - `GET /v1/push/vapid-public-key`: `{ publicKey }`, the application server key (base64url) to
 *   give `pushManager.subscribe({ userVisibleOnly: true, applicationServerKey })`.
 * - `POST /v1/push/subscriptions`: `{ userId | anonymousId, subscription }`, the subscription
 *   exactly as `PushSubscription.toJSON()` gives it, kept under `u:<userId>` when a user id is
 *   given, else `a:<anonymousId>`; 201 `{ created: true }` for a new endpoint, 200
 *   `{ created: false }` for one already held (refreshed, and moved to this user).
 * - `DELETE /v1/push/subscriptions`: `{ endpoint }`; 200 `{ removed }`, false when not held.
 * For the management API (admin key, under /api/v1): `GET /users/{userId}/push-subscriptions`.
 *
 * A subscription is checked before it is stored: `endpoint` an https URL, `keys.p256dh` base64url
 * of a 65-byte uncompressed point on P-256, `keys.auth` base64url of 16 bytes; anything else is a
 * 400 naming the field. Whether the endpoint's address is public is checked when sending (the
 * answer of a DNS lookup now says nothing about the address connected to later).
 */
import { ECDH } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Workspace } from '../config/config.js';
import type { Issue } from '../core/errors.js';
import { anonKey, userKey } from '../core/ingest-fold.js';
import type { PushSubscription, PushSubscriptionRecord, PushSubscriptionStore } from '../ports/push-subscription-store.js';
import { ErrorBody, UserParams, WorkspaceQuery } from './api-schemas.js';
import { basicAuthUser, type KeyRing } from './auth.js';
import { installIngestBodyParsing } from './body.js';
import { installCors } from './cors.js';
import { HttpError } from './errors.js';
import { idOf, isObject } from './protocols/common.js';

export interface PushRouteDeps {
  keys: KeyRing;
  store: PushSubscriptionStore;
  /** The application server (VAPID) public key, base64url. */
  vapidPublicKey: string;
  now: () => number;
}

export interface PushAdminRouteDeps {
  keys: KeyRing;
  store: PushSubscriptionStore;
  /** The identity keys of the user a request names (user, anonymous or profile id); 404s for none. */
  identitiesOf: (workspaceId: string, userId: string) => Promise<string[]>;
}

/** Far above any real subscription (a few hundred bytes), far below what could burden the store. */
const bodyLimit = 8 * 1024;
const maxEndpointChars = 2048;
const maxUserAgentChars = 512;
const base64url = /^[A-Za-z0-9_-]+={0,2}$/;

export async function pushRoutes(app: FastifyInstance, deps: PushRouteDeps): Promise<void> {
  installCors(app, 'GET, POST, DELETE, OPTIONS');
  installIngestBodyParsing(app);
  const { keys, store } = deps;

  // OPTIONS is routed too, so that preflights reach the CORS hook of this scope.
  app.route<{ Querystring: { writeKey?: string } }>({
    method: ['GET', 'OPTIONS'],
    url: '/v1/push/vapid-public-key',
    schema: { hide: true },
    handler: async (request) => {
      keys.workspaceOfWriteKey(basicAuthUser(request) ?? request.query.writeKey ?? null);
      return { publicKey: deps.vapidPublicKey };
    },
  });

  app.route({
    method: ['POST', 'OPTIONS'],
    url: '/v1/push/subscriptions',
    bodyLimit,
    schema: { hide: true },
    handler: async (request, reply) => {
      const workspace = workspaceOf(keys, request);
      const { identityKey, subscription } = registrationOf(request.body);
      const userAgent = request.headers['user-agent']?.slice(0, maxUserAgentChars) ?? null;
      const { created } = await store.register({ workspaceId: workspace.id, identityKey, subscription, userAgent, at: deps.now() });
      return reply.status(created ? 201 : 200).send({ created });
    },
  });

  app.delete('/v1/push/subscriptions', { bodyLimit, schema: { hide: true } }, async (request) => {
    const workspace = workspaceOf(keys, request);
    const endpoint = isObject(request.body) ? request.body['endpoint'] : undefined;
    if (typeof endpoint !== 'string' || endpoint === '') throw invalid([{ path: 'endpoint', message: 'expected the subscription endpoint, a URL' }]);
    return { removed: await store.remove(workspace.id, endpoint) };
  });
}

const Time = Type.String({ format: 'date-time' });
export const PushSubscriptionBody = Type.Object({
  endpoint: Type.String({ description: "The push service's URL for this browser." }),
  identity: Type.String({ description: 'The identity it was registered under: `u:<userId>` or `a:<anonymousId>`.' }),
  userAgent: Type.Union([Type.String(), Type.Null()], { description: 'User-Agent of the browser that registered it.' }),
  expirationTime: Type.Union([Time, Type.Null()]),
  createdAt: Time,
  updatedAt: Time,
});
export type PushSubscriptionBody = Static<typeof PushSubscriptionBody>;

export async function pushAdminRoutes(app: FastifyInstance, deps: PushAdminRouteDeps): Promise<void> {
  app.addSchema(ErrorBody);
  app.addHook('onRequest', async (request) => deps.keys.checkAdmin(request));

  app.get<{ Params: UserParams; Querystring: WorkspaceQuery }>('/users/:userId/push-subscriptions', {
    schema: {
      summary: "A user's web push subscriptions (their browsers), most recently registered first",
      tags: ['users'],
      params: UserParams,
      querystring: WorkspaceQuery,
      response: { 200: Type.Object({ items: Type.Array(PushSubscriptionBody) }), 401: Type.Ref(ErrorBody), 404: Type.Ref(ErrorBody) },
    },
  }, async (request) => {
    const w = deps.keys.workspace(request.query.workspace);
    const identities = await deps.identitiesOf(w.id, request.params.userId);
    return { items: (await deps.store.listFor(w.id, identities)).map(presentSubscription) };
  });
}

/** A stored subscription for the API (listing, user export): without its keys, which only the sender needs. */
export function presentSubscription(s: PushSubscriptionRecord): PushSubscriptionBody {
  return {
    endpoint: s.endpoint,
    identity: s.identityKey,
    userAgent: s.userAgent,
    expirationTime: s.expirationTime === null ? null : new Date(s.expirationTime).toISOString(),
    createdAt: new Date(s.createdAt).toISOString(),
    updatedAt: new Date(s.updatedAt).toISOString(),
  };
}

function workspaceOf(keys: KeyRing, request: FastifyRequest): Workspace {
  const bodyKey = isObject(request.body) && typeof request.body['writeKey'] === 'string' ? request.body['writeKey'] : null;
  return keys.workspaceOfWriteKey(basicAuthUser(request) ?? bodyKey);
}

/** The identity and subscription a registration names, or a 400 naming every bad field. */
function registrationOf(body: unknown): { identityKey: string; subscription: PushSubscription } {
  if (!isObject(body)) throw invalid([{ path: 'body', message: 'expected a JSON object' }]);
  const issues: Issue[] = [];
  const userId = idOf(body['userId']);
  const anonymousId = idOf(body['anonymousId']);
  if (userId === null && anonymousId === null) issues.push({ path: 'userId', message: 'either userId or anonymousId is required' });

  const raw = body['subscription'];
  if (!isObject(raw)) {
    issues.push({ path: 'subscription', message: 'expected an object, as PushSubscription.toJSON() gives it' });
    throw invalid(issues);
  }
  const endpoint = raw['endpoint'];
  if (typeof endpoint !== 'string' || !isHttpsUrl(endpoint)) {
    issues.push({ path: 'subscription.endpoint', message: 'expected an https URL' });
  } else if (endpoint.length > maxEndpointChars) {
    issues.push({ path: 'subscription.endpoint', message: `longer than ${maxEndpointChars} characters` });
  }
  const expirationTime = raw['expirationTime'] ?? null;
  if (expirationTime !== null && !Number.isSafeInteger(expirationTime)) {
    issues.push({ path: 'subscription.expirationTime', message: 'expected null or a time in ms since the epoch' });
  }
  const rawKeys = isObject(raw['keys']) ? raw['keys'] : {};
  const p256dh = bytesOf(rawKeys['p256dh']);
  if (!p256dh || !isP256Point(p256dh)) {
    issues.push({ path: 'subscription.keys.p256dh', message: 'expected base64url of a 65-byte uncompressed P-256 public key' });
  }
  const auth = bytesOf(rawKeys['auth']);
  if (auth?.length !== 16) issues.push({ path: 'subscription.keys.auth', message: 'expected base64url of 16 bytes' });
  if (issues.length > 0) throw invalid(issues);

  return {
    identityKey: userId !== null ? userKey(userId) : anonKey(anonymousId!),
    subscription: {
      endpoint: endpoint as string,
      keys: { p256dh: p256dh!.toString('base64url'), auth: auth!.toString('base64url') },
      expirationTime: expirationTime as number | null,
    },
  };
}

function invalid(issues: readonly Issue[]): HttpError {
  return new HttpError(400, 'invalid_subscription', issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues);
}

function bytesOf(value: unknown): Buffer | undefined {
  return typeof value === 'string' && base64url.test(value) ? Buffer.from(value, 'base64url') : undefined;
}

function isP256Point(bytes: Buffer): boolean {
  if (bytes.length !== 65 || bytes[0] !== 0x04) return false;
  try {
    ECDH.convertKey(bytes, 'prime256v1'); // throws for a point not on the curve
    return true;
  } catch {
    return false;
  }
}

function isHttpsUrl(value: string): boolean {
  try {
    return new URL(value).protocol === 'https:';
  } catch {
    return false;
  }
}
