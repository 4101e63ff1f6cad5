/**
 * Serves the dashboard (built by `npm run build` into dist/dashboard): its page at `/` and at
 * every path of the app, and its hashed assets under `/assets/`, which never change and are
 * cached for a year. The page carries no data and no key: it asks for the admin key and calls the
 * management API. Until the build exists, the page says how to make it (503).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export interface DashboardRouteDeps {
  /** The built dashboard. Default: dist/dashboard in the package. */
  dir?: string;
}

const defaultDashboardDir = path.resolve(import.meta.dirname, '../../dist/dashboard');

/** The app's own paths (dashboard/src/routes.tsx): each serves the page, which routes in the browser. */
const dashboardPaths = ['/', '/login', '/triggers', '/triggers/:id', '/users', '/users/:id', '/messages', '/live'] as const;

const contentTypes: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
};

const pageHeaders = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-cache',
  'content-security-policy': "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const notBuilt = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Nudge: dashboard not built</title></head>
<body>
<h1>The dashboard is not built</h1>
<p>Run <code>npm run build</code> (which <code>npm install</code> also runs), then reload this page.</p>
<p>The management API works without it: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p>
</body></html>
`;

export async function dashboardRoutes(app: FastifyInstance, deps: DashboardRouteDeps = {}): Promise<void> {
  const dir = deps.dir ?? defaultDashboardDir;
  /** Hashed assets never change under their name: read once. */
  const assets = new Map<string, Buffer>();

  const page = async (_request: unknown, reply: FastifyReply) => {
    let html: Buffer;
    try {
      html = await readFile(path.join(dir, 'index.html'));
    } catch {
      return reply.status(503).headers({ ...pageHeaders, 'retry-after': '60' }).send(notBuilt);
    }
    return reply.headers(pageHeaders).send(html);
  };
  for (const url of dashboardPaths) app.get(url, { schema: { hide: true } }, page);

  app.get<{ Params: { name: string } }>('/assets/:name', { schema: { hide: true } }, async (request, reply) => {
    const { name } = request.params;
    const type = contentTypes[path.extname(name)];
    // Only the flat, hashed files the build emits: no path can leave the folder.
    if (!type || !/^[\w.-]+$/.test(name) || name.startsWith('.')) return reply.status(404).send({ error: 'not_found', message: `no asset "${name}"` });
    let body = assets.get(name);
    if (!body) {
      try {
        body = await readFile(path.join(dir, 'assets', name));
      } catch {
        return reply.status(404).send({ error: 'not_found', message: `no asset "${name}"` });
      }
      assets.set(name, body);
    }
    return reply.headers({ 'content-type': type, 'cache-control': 'public, max-age=31536000, immutable', 'x-content-type-options': 'nosniff' }).send(body);
  });
}
