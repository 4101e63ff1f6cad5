/**
 * The example project's demo shop, on only when nudge.yaml has a `demo:` section (a site folder
 * that is not there stops the start):
 *
 * - `GET /shop/…`: the shop's static files (`demo.site`), read from disk on each request, so an
 *   edit shows on reload; `/shop` redirects to `/shop/`. A path without an extension is its
 *   `.html` page (`/shop/cart` is cart.html), a folder its index.html. Only known file types,
 *   never a dot file, never a path out of the folder. Pages carry a Content-Security-Policy:
 *   scripts, connections and frames from this origin only.
 * - `GET /shop/nudge-sw.js`: the snippet's service worker (dist/sdk), at the shop's scope, so
 *   that `nudge.subscribePush({ serviceWorker: '/shop/nudge-sw.js' })` works on its pages.
 * - `GET /shop/api/demo`: what the shop's demo guide shows: `{timeScale, mail}`.
 * - `GET /shop/api/mail`, `/shop/api/mail/{id}`, `/shop/api/mail/{id}/html`: the mail viewer's
 *   data — what the mail catcher (demo-mail.ts) received, newest first; one message read; its
 *   HTML body, served sandboxed (no scripts, no same origin; links open a new tab).
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { CaughtMail } from './demo-mail.js';
import { readMail } from './demo-mail-reader.js';
import { HttpError } from './errors.js';
import { defaultSdkDir } from './sdk-routes.js';

export interface DemoRouteDeps {
  /** The shop's folder, absolute. */
  siteDir: string;
  /** How many times faster than the wall clock the server's time runs; 1: not at all. */
  timeScale: number;
  /** What the demo's mail catcher received; null without one. */
  mail: { list(): readonly CaughtMail[]; get(id: number): CaughtMail | undefined } | null;
  /** The built snippet, for its service worker. Default dist/sdk in the package. */
  sdkDir?: string;
}

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
};

const commonHeaders = { 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' };

/** The snippet injects its message styles as a <style> element: inline styles are allowed. */
const pageHeaders = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'referrer-policy': 'same-origin',
};

/** An email's HTML as its own sandboxed document: its images load (the open pixel counts), its links leave in a new tab. */
const mailBodyHeaders = {
  'content-security-policy': "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; img-src http: https: data:; style-src 'unsafe-inline'",
  'referrer-policy': 'no-referrer',
};

const MailId = Type.Object({ id: Type.Integer({ minimum: 1 }) });

export async function demoRoutes(app: FastifyInstance, deps: DemoRouteDeps): Promise<void> {
  const siteDir = path.resolve(deps.siteDir);
  if (!(await stat(siteDir).then((s) => s.isDirectory(), () => false))) throw new Error(`demo.site: ${siteDir} is not a folder`);
  const sdkDir = deps.sdkDir ?? defaultSdkDir;
  const hidden = { schema: { hide: true } };

  const serveFile = async (reply: FastifyReply, file: string, headers: Record<string, string> = {}) => {
    const type = contentTypes[path.extname(file)];
    let body: Buffer;
    try {
      if (!type) throw new Error('unknown type');
      body = await readFile(file);
    } catch {
      return null;
    }
    return reply.headers({ ...commonHeaders, 'content-type': type, ...(type.startsWith('text/html') ? pageHeaders : {}), ...headers }).send(body);
  };

  app.get('/shop', hidden, async (_request, reply) => reply.redirect('/shop/'));

  app.get('/shop/nudge-sw.js', hidden, async (_request, reply) => {
    const sent = await serveFile(reply, path.join(sdkDir, 'nudge-sw.js'));
    if (sent === null) throw new HttpError(404, 'not_built', `nudge-sw.js is not built: run "npm run build", which writes it to ${sdkDir}`);
    return sent;
  });

  app.get('/shop/api/demo', hidden, async () => ({ timeScale: deps.timeScale, mail: deps.mail !== null }));

  const mailOf = (id: number): CaughtMail => {
    const mail = deps.mail?.get(id);
    if (!mail) throw new HttpError(404, 'not_found', `no mail ${id}`);
    return mail;
  };
  app.get('/shop/api/mail', hidden, async () => ({
    items: (deps.mail?.list() ?? []).map((m) => {
      const read = readMail(m.raw);
      return { id: m.id, receivedAt: new Date(m.receivedAt).toISOString(), from: read.from, to: read.to, subject: read.subject };
    }),
  }));
  app.get<{ Params: { id: number } }>('/shop/api/mail/:id', { schema: { hide: true, params: MailId } }, async (request) => {
    const mail = mailOf(request.params.id);
    const read = readMail(mail.raw);
    return {
      id: mail.id,
      receivedAt: new Date(mail.receivedAt).toISOString(),
      envelope: { from: mail.from, to: mail.to },
      subject: read.subject,
      from: read.from,
      to: read.to,
      headers: read.headers.map(([name, value]) => ({ name, value })),
      text: read.text,
      htmlUrl: read.html === null ? null : `/shop/api/mail/${mail.id}/html`,
    };
  });
  app.get<{ Params: { id: number } }>('/shop/api/mail/:id/html', { schema: { hide: true, params: MailId } }, async (request, reply) => {
    const { html } = readMail(mailOf(request.params.id).raw);
    if (html === null) throw new HttpError(404, 'not_found', `mail ${request.params.id} has no HTML body`);
    return reply.headers({ ...commonHeaders, ...mailBodyHeaders, 'content-type': 'text/html; charset=utf-8' }).send(`<base target="_blank">${html}`);
  });

  app.get<{ Params: { '*': string } }>('/shop/*', hidden, async (request, reply) => {
    const file = siteFile(siteDir, request.params['*']);
    const sent = file === null ? null : await serveFile(reply, file);
    if (sent === null) throw new HttpError(404, 'not_found', `no page /shop/${request.params['*']}`);
    return sent;
  });
}

/** The file a path under /shop/ names, or null if it may not be served (a dot file, outside the folder). */
function siteFile(siteDir: string, urlPath: string): string | null {
  if (urlPath.includes('\\') || urlPath.includes('\0')) return null;
  const segments = urlPath.split('/');
  if (segments.some((s) => s.startsWith('.'))) return null;
  const last = segments[segments.length - 1]!;
  const named = last === '' ? [...segments.slice(0, -1), 'index.html'] : path.extname(last) === '' ? [...segments.slice(0, -1), `${last}.html`] : segments;
  const file = path.resolve(siteDir, ...named);
  return file.startsWith(siteDir + path.sep) ? file : null;
}
