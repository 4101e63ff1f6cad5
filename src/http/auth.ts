/** Write keys (ingestion) and admin keys (management API), both from the project's config. */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Workspace } from '../config/config.js';
import { HttpError } from './errors.js';

export class KeyRing {
  private readonly byWriteKey = new Map<string, Workspace>();

  constructor(
    readonly workspaces: readonly Workspace[],
    private readonly adminKeys: readonly string[],
  ) {
    for (const w of workspaces) for (const k of w.writeKeys) this.byWriteKey.set(k, w);
  }

  workspaceOfWriteKey(key: string | null): Workspace {
    if (key === null) {
      throw new HttpError(401, 'unauthorized', 'no write key: send it as the Basic auth user, or as "writeKey" (Segment) or "api_key" (PostHog) in the body');
    }
    const w = this.byWriteKey.get(key);
    if (!w) throw new HttpError(401, 'unauthorized', 'unknown write key');
    return w;
  }

  workspace(id: string | undefined): Workspace {
    if (id === undefined) return this.workspaces[0]!;
    const w = this.workspaces.find((x) => x.id === id);
    if (!w) throw new HttpError(404, 'not_found', `workspace: no workspace "${id}"`);
    return w;
  }

  checkAdmin(request: FastifyRequest): void {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match) throw new HttpError(401, 'unauthorized', 'Authorization: expected "Bearer <admin key>"');
    const given = Buffer.from(match[1]!.trim());
    const ok = this.adminKeys.some((k) => {
      const key = Buffer.from(k);
      return key.length === given.length && timingSafeEqual(key, given);
    });
    if (!ok) throw new HttpError(401, 'unauthorized', 'unknown admin key');
  }
}

/** The user part of `Authorization: Basic base64(user:password)`, as Segment's SDKs send the write key. */
export function basicAuthUser(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (!header || !/^Basic\s/i.test(header)) return null;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon === -1 ? decoded : decoded.slice(0, colon);
  return user || (colon === -1 ? null : decoded.slice(colon + 1) || null);
}
