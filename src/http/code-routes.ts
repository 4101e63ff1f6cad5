/**
 * Personal discount codes under /api/v1: look a code up, redeem it from a shop's checkout (check
 * and burn in one atomic step, for its owner only), and list a user's codes.
 *
 * Redeem answers: 200 redeemed, 409 already redeemed, 410 expired or released, 404 unknown code,
 * 403 not the owner's (a user Nudge does not know owns no code). A code is matched in normal form
 * (see `normaliseCode`); a text that cannot be a code is a 400 naming `code`.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { CodeState, isCodeShaped, maxCodeChars, normaliseCode, RedeemOutcome } from '../core/delivery/discount-codes.js';
import type { CodeView, DiscountCodes } from '../engine/discount-codes.js';
import { ErrorBody, PageQuery, UserParams, WorkspaceQuery } from './api-schemas.js';
import type { KeyRing } from './auth.js';
import { HttpError } from './errors.js';

export interface CodeRouteDeps {
  keys: KeyRing;
  codes: DiscountCodes;
  /** The profile id of a user id, anonymous id or profile id in the workspace; null when unknown. */
  profileOf: (workspaceId: string, userId: string) => Promise<string | null>;
}

const errors = { 400: Type.Ref(ErrorBody), 401: Type.Ref(ErrorBody), 404: Type.Ref(ErrorBody) };
const Time = Type.String({ format: 'date-time' });
const NullableTime = Type.Union([Time, Type.Null()]);
const CodeParams = Type.Object({ code: Type.String({ minLength: 1, maxLength: maxCodeChars + 16, description: 'The code, in any letter case.' }) });
type CodeParams = Static<typeof CodeParams>;
const RedeemBody = Type.Object(
  { userId: Type.String({ minLength: 1, description: 'Who is using the code: a user id, an anonymous id or a profile id.' }) },
  { additionalProperties: false },
);
type RedeemBody = Static<typeof RedeemBody>;
const CodeBody = Type.Object(
  {
    code: Type.String(),
    kind: Type.String({ description: 'Its kind in nudge.yaml `codes`.' }),
    status: Type.Union(Object.values(CodeState).map((s) => Type.Literal(s)), {
      description: 'reserved (its message is going out), issued (delivered), released (not sent: never usable), redeemed, or expired.',
    }),
    profileId: Type.String({ description: "The owner: the profile the code's message was for." }),
    messageKey: Type.String({ description: 'The message the code was made for (outbox key).' }),
    reservedAt: Time,
    expiresAt: Time,
    settledAt: NullableTime,
    redeemedAt: NullableTime,
  },
  { $id: 'DiscountCode' },
);
type CodeBody = Static<typeof CodeBody>;
const UserCodesQuery = Type.Composite([WorkspaceQuery, PageQuery]);
type UserCodesQuery = Static<typeof UserCodesQuery>;

export async function codeRoutes(app: FastifyInstance, deps: CodeRouteDeps): Promise<void> {
  const { keys, codes, profileOf } = deps;
  app.addSchema(ErrorBody);
  app.addSchema(CodeBody);
  app.addHook('onRequest', async (request) => keys.checkAdmin(request));

  app.get<{ Params: CodeParams; Querystring: WorkspaceQuery }>('/codes/:code', {
    schema: { summary: 'One discount code: its status, kind, owner and times', tags: ['codes'], params: CodeParams, querystring: WorkspaceQuery, response: { 200: Type.Ref(CodeBody), ...errors } },
  }, async (request) => {
    const w = keys.workspace(request.query.workspace);
    const code = codeParam(request.params.code);
    const found = await codes.get(w.id, code);
    if (!found) throw unknownCode(code, w.id);
    return present(found);
  });

  app.post<{ Params: CodeParams; Querystring: WorkspaceQuery; Body: RedeemBody }>('/codes/:code/redeem', {
    schema: {
      summary: "Redeem a code for its owner at checkout: check and burn in one step",
      tags: ['codes'],
      params: CodeParams,
      querystring: WorkspaceQuery,
      body: RedeemBody,
      response: {
        200: Type.Object({ outcome: Type.Literal(RedeemOutcome.redeemed), code: Type.Ref(CodeBody) }),
        403: Type.Ref(ErrorBody),
        409: Type.Ref(ErrorBody),
        410: Type.Ref(ErrorBody),
        ...errors,
      },
    },
  }, async (request) => {
    const w = keys.workspace(request.query.workspace);
    const code = codeParam(request.params.code);
    const { userId } = request.body;
    const profileId = await profileOf(w.id, userId);
    if (profileId === null) {
      if (!(await codes.get(w.id, code))) throw unknownCode(code, w.id);
      throw new HttpError(403, RedeemOutcome.notOwner, `userId: "${userId}" is not the owner of code ${code}`);
    }
    const { outcome, record } = await codes.redeem(w.id, code, profileId);
    switch (outcome) {
      case RedeemOutcome.redeemed:
        return { outcome, code: present(codes.view(record!)) };
      case RedeemOutcome.notFound:
        throw unknownCode(code, w.id);
      case RedeemOutcome.notOwner:
        throw new HttpError(403, outcome, `userId: "${userId}" is not the owner of code ${code}`);
      case RedeemOutcome.alreadyRedeemed:
        throw new HttpError(409, outcome, `code: ${code} was already redeemed, at ${new Date(record!.redeemedAt!).toISOString()}`);
      case RedeemOutcome.expired:
        throw new HttpError(410, outcome, `code: ${code} expired at ${new Date(record!.expiresAt).toISOString()}`);
      case RedeemOutcome.released:
        throw new HttpError(410, outcome, `code: ${code} was never sent (its message did not go out) and cannot be used`);
    }
  });

  app.get<{ Params: UserParams; Querystring: UserCodesQuery }>('/users/:userId/codes', {
    schema: {
      summary: "A user's discount codes, newest first",
      tags: ['users', 'codes'],
      params: UserParams,
      querystring: UserCodesQuery,
      response: { 200: Type.Object({ items: Type.Array(Type.Ref(CodeBody)), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...errors },
    },
  }, async (request) => {
    const { workspace, limit, cursor } = request.query;
    const w = keys.workspace(workspace);
    const { userId } = request.params;
    const profileId = await profileOf(w.id, userId);
    if (profileId === null) throw new HttpError(404, 'not_found', `userId: no user "${userId}" in workspace "${w.id}"`);
    const page = await codes.listFor(w.id, profileId, { limit, cursor });
    return { items: page.items.map(present), nextCursor: page.nextCursor };
  });
}

function codeParam(text: string): string {
  const code = normaliseCode(text);
  if (!isCodeShaped(code)) throw new HttpError(400, 'invalid_request', `code: a code is 1-${maxCodeChars} letters, digits, - and _`, [{ path: 'params.code', message: `1-${maxCodeChars} letters, digits, - and _` }]);
  return code;
}

const unknownCode = (code: string, workspaceId: string): HttpError => new HttpError(404, RedeemOutcome.notFound, `code: no code ${code} in workspace "${workspaceId}"`);

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function present(c: CodeView): CodeBody {
  return {
    code: c.code,
    kind: c.kind,
    status: c.state,
    profileId: c.profileId,
    messageKey: c.messageKey,
    reservedAt: new Date(c.reservedAt).toISOString(),
    expiresAt: new Date(c.expiresAt).toISOString(),
    settledAt: iso(c.settledAt),
    redeemedAt: iso(c.redeemedAt),
  };
}
