/**
 * Serving the built dashboard, over real HTTP: the page at every path of the app with headers
 * that keep it fresh and confined, hashed assets with their content types and a year's cache,
 * nothing outside the build, and a page saying how to build it when the build is missing.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { dashboardRoutes } from '../../src/http/dashboard-routes.js';
import { installErrorHandler } from '../../src/http/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nudge-dashboard-build-'));
const page = '<!doctype html><title>Nudge</title><script type="module" src="/assets/index-abc123.js"></script>';

let built: { app: FastifyInstance; url: string };
let missing: { app: FastifyInstance; url: string };

async function serve(buildDir: string) {
  const app = Fastify();
  installErrorHandler(app);
  await app.register((scope, _opts, done) => {
    dashboardRoutes(scope, { dir: buildDir }).then(() => done(), done);
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, url };
}

before(async () => {
  mkdirSync(path.join(dir, 'build', 'assets'), { recursive: true });
  writeFileSync(path.join(dir, 'build', 'index.html'), page);
  writeFileSync(path.join(dir, 'build', 'assets', 'index-abc123.js'), 'console.log(1)');
  writeFileSync(path.join(dir, 'build', 'assets', 'index-abc123.css'), 'body{}');
  writeFileSync(path.join(dir, 'secret.txt'), 'not for the web');
  built = await serve(path.join(dir, 'build'));
  missing = await serve(path.join(dir, 'nowhere'));
});
after(async () => {
  await built.app.close();
  await missing.app.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the page is served at / and at every path of the app, never cached, confined by its CSP', async () => {
  for (const p of ['/', '/login', '/triggers', '/triggers/abandoned-cart', '/users', '/users/u%3Aada', '/users/a%2Fb', '/messages', '/live']) {
    const res = await fetch(built.url + p);
    assert.equal(res.status, 200, p);
    assert.equal(await res.text(), page);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'.*frame-ancestors 'none'/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  }
});

test('hashed assets come with their content type and a year of cache', async () => {
  const js = await fetch(`${built.url}/assets/index-abc123.js`);
  assert.equal(js.status, 200);
  assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(await js.text(), 'console.log(1)');
  const css = await fetch(`${built.url}/assets/index-abc123.css`);
  assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');
});

test('nothing else is served: unknown assets, other kinds of file, paths out of the folder, other paths', async () => {
  for (const p of ['/assets/nope.js', '/assets/secret.txt', '/assets/..%2F..%2Fsecret.txt', '/assets/%2E%2E%2Findex.html', '/secret.txt', '/users/ada/extra/more']) {
    const res = await fetch(built.url + p);
    assert.equal(res.status, 404, p);
    assert.doesNotMatch(await res.text(), /not for the web/);
  }
});

test('without a build, the page says how to make it (503)', async () => {
  const res = await fetch(`${missing.url}/triggers`);
  assert.equal(res.status, 503);
  assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.match(await res.text(), /The dashboard is not built.*npm run build/s);
  assert.equal((await fetch(`${missing.url}/assets/index-abc123.js`)).status, 404);
});
