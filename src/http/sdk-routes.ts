/**
 * Serves the browser snippet (built by `npm run build` into dist/sdk, see sdk/vite.config.ts):
 * `GET /sdk/nudge.js`, and `GET /sdk/nudge-sw.js`, the web push service worker, for a site to copy
 * or to pull into its own worker with `importScripts`.
 *
 * Each file is read once per change on disk (checked by its modification time and size, so a new
 * build is served without a restart) and kept with its gzip form and an ETag of its content.
 * Answers: 304 to a matching `If-None-Match`; gzip to a client that accepts it; `Cache-Control`
 * of five minutes (a new build reaches pages soon; revalidation is cheap); CORS and
 * `Cross-Origin-Resource-Policy` open to every site (for `crossorigin` and integrity-checked
 * script tags, and for pages that require CORP); the worker with `Service-Worker-Allowed: /`, so
 * that a site proxying it under a path may still register it for its whole origin. Without a build,
 * a 404 that says how to make one.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export interface SdkRouteDeps {
  /** The built snippet. Default: dist/sdk in the package. */
  dir?: string;
}

export const defaultSdkDir = path.resolve(import.meta.dirname, '../../dist/sdk');

/** The files served, by URL. */
export const sdkFiles = { '/sdk/nudge.js': 'nudge.js', '/sdk/nudge-sw.js': 'nudge-sw.js' } as const;

/** How long browsers and proxies may use a copy without asking again, in seconds. */
export const sdkMaxAgeSeconds = 300;

interface Built {
  mtimeMs: number;
  size: number;
  body: Buffer;
  gzipped: Buffer;
  etag: string;
}

export async function sdkRoutes(app: FastifyInstance, deps: SdkRouteDeps = {}): Promise<void> {
  const dir = deps.dir ?? defaultSdkDir;
  const cache = new Map<string, Built>();

  /** The file as built now; null when there is none. */
  const load = async (name: string): Promise<Built | null> => {
    const file = path.join(dir, name);
    let info;
    try {
      info = await stat(file);
    } catch {
      return null;
    }
    const cached = cache.get(name);
    if (cached && cached.mtimeMs === info.mtimeMs && cached.size === info.size) return cached;
    const body = await readFile(file);
    const built = { mtimeMs: info.mtimeMs, size: info.size, body, gzipped: gzipSync(body, { level: 9 }), etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
    cache.set(name, built);
    return built;
  };

  const serve = (name: string) => async (request: FastifyRequest, reply: FastifyReply) => {
    reply.headers({
      'access-control-allow-origin': '*',
      'cross-origin-resource-policy': 'cross-origin',
      'x-content-type-options': 'nosniff',
      ...(name === sdkFiles['/sdk/nudge-sw.js'] ? { 'service-worker-allowed': '/' } : {}),
    });
    const built = await load(name);
    if (!built) {
      return reply.status(404).send({ error: 'not_built', message: `${name} is not built: run "npm run build" (which npm install also runs), which writes it to ${dir}` });
    }
    reply.headers({ 'content-type': 'text/javascript; charset=utf-8', 'cache-control': `public, max-age=${sdkMaxAgeSeconds}`, etag: built.etag, vary: 'Accept-Encoding' });
    if (ifNoneMatch(request.headers['if-none-match'], built.etag)) return reply.status(304).send();
    if (acceptsGzip(request.headers['accept-encoding'])) return reply.header('content-encoding', 'gzip').send(built.gzipped);
    return reply.send(built.body);
  };

  for (const [url, name] of Object.entries(sdkFiles)) app.get(url, { schema: { hide: true } }, serve(name));
}

/** Whether an `If-None-Match` header names the ETag (or is `*`); weak comparison, as for GET. */
function ifNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t.replace(/^W\//, '') === etag;
  });
}

/** Whether `Accept-Encoding` accepts gzip: named (or `*`) without `q=0`. */
function acceptsGzip(header: string | undefined): boolean {
  return (header ?? '').split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    return (coding === 'gzip' || coding === '*') && !params.some((p) => /^\s*q=0(\.0*)?\s*$/.test(p));
  });
}
