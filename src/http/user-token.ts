/**
 * Signed user tokens: what a browser shows the inbox routes to prove which user it is. The
 * customer's backend, which knows who is signed in and holds the workspace's secret, mints one per
 * session; Nudge checks it without storing anything.
 *
 * Format: `<payload>.<signature>`, both base64url (unpadded; padding is tolerated):
 * - payload: the UTF-8 JSON `{"workspace":"shop","identity":"u:ada","exp":1767225600}`, with the
 *   identity key (`u:<userId>`, or `a:<anonymousId>` for a visitor) and the expiry in unix seconds;
 * - signature: HMAC-SHA256 of the payload's base64url text, keyed by the secret's UTF-8 bytes.
 *
 * Minting in a few lines, in any language (Node shown; Python, Ruby, Go, PHP alike):
 *
 *   const payload = Buffer.from(JSON.stringify({ workspace: 'shop', identity: `u:${user.id}`, exp: Math.floor(Date.now() / 1000) + 3600 })).toString('base64url');
 *   const token = `${payload}.${createHmac('sha256', process.env.NUDGE_INBOX_SECRET).update(payload).digest('base64url')}`;
 *
 * Checks, in order: the shape, a known workspace, the signature (compared in constant time), then
 * the expiry. Every refusal is a 401 naming `token`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { HttpError } from './errors.js';

export interface UserTokenClaims {
  workspaceId: string;
  /** `u:<userId>` or `a:<anonymousId>`. */
  identity: string;
  /** ms since the epoch; tokens carry whole seconds, so this is rounded down to one. */
  expiresAt: number;
}

/** The secret of a workspace's tokens; undefined for a workspace that has none. */
export type SecretOf = (workspaceId: string) => string | undefined;

/** Longer is no token of ours: refused before any parsing. */
const maxTokenLength = 4096;
/** Padding is allowed: some languages' URL-safe base64 adds it. */
const base64url = /^[A-Za-z0-9_-]+={0,2}$/;
export const identityPattern = /^[ua]:.+$/s;

export function createUserToken(claims: UserTokenClaims, secret: string): string {
  const payload = Buffer.from(JSON.stringify({ workspace: claims.workspaceId, identity: claims.identity, exp: Math.floor(claims.expiresAt / 1000) })).toString('base64url');
  return `${payload}.${sign(payload, secret)}`;
}

/** The claims of a valid, unexpired token; throws a 401 naming `token` otherwise. */
export function verifyUserToken(token: string, secret: string | SecretOf, now: number): UserTokenClaims {
  const parts = token.length <= maxTokenLength ? token.split('.') : [];
  const [payload, signature] = parts;
  if (parts.length !== 2 || !base64url.test(payload!) || !base64url.test(signature!)) throw refused('malformed, expected "<payload>.<signature>"');
  const claims = claimsOf(payload!);
  if (!claims) throw refused('malformed payload, expected {"workspace","identity":"u:…|a:…","exp"}');
  const key = typeof secret === 'string' ? secret : secret(claims.workspaceId);
  if (key === undefined) throw refused(`no workspace "${claims.workspaceId}"`);
  const expected = Buffer.from(sign(payload!, key), 'base64url');
  const given = Buffer.from(signature!, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw refused('bad signature');
  if (claims.expiresAt <= now) throw refused('expired');
  return claims;
}

function sign(payload: string, secret: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url');
}

function claimsOf(payload: string): UserTokenClaims | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  const { workspace, identity, exp } = parsed as Record<string, unknown>;
  if (typeof workspace !== 'string' || typeof identity !== 'string' || !identityPattern.test(identity) || !Number.isSafeInteger(exp)) return null;
  return { workspaceId: workspace, identity, expiresAt: (exp as number) * 1000 };
}

function refused(why: string): HttpError {
  return new HttpError(401, 'unauthorized', `token: ${why}`, [{ path: 'token', message: why }]);
}
