/**
 * Serving the built snippet, over real HTTP on a bare Fastify: both files with their content type,
 * open CORS and CORP, a short cache with an ETag that answers 304, gzip for clients that take it,
 * the worker allowed the whole origin, a new build served without a restart, nothing else from
 * the folder, and a 404 saying how to build when the build is missing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { installErrorHandler } from '../../src/http/errors.js';
import { sdkRoutes } from '../../src/http/sdk-routes.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nudge-sdk-routes-'));
const snippet = `(function(){window.nudge=${JSON.stringify('x'.repeat(2000))}})();`;
let built: { app: FastifyInstance; url: string };
let missing: { app: FastifyInstance; url: string };

async function serve(sdkDir: string) {
  const app = Fastify();
  installErrorHandler(app);
  await app.register((scope, _opts, done) => void sdkRoutes(scope, { dir: sdkDir }).then(() => done(), done));
  return { app, url: await app.listen({ port: 0, host: '127.0.0.1' }) };
}

/** A GET that shows the bytes as sent (fetch would decompress them). */
function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    })
      .on('error', reject)
      .end();
  });
}

before(async () => {
  writeFileSync(path.join(dir, 'nudge.js'), snippet);
  writeFileSync(path.join(dir, 'nudge-sw.js'), 'self.addEventListener("push",()=>{})');
  writeFileSync(path.join(dir, 'secret.txt'), 'not for the web');
  built = await serve(dir);
  missing = await serve(path.join(dir, 'nowhere'));
});
after(async () => {
  await built.app.close();
  await missing.app.close();
  rmSync(dir, { recursive: true, force: true });
});

test('nudge.js: JavaScript for any site, cached briefly under an ETag', async () => {
  const res = await get(`${built.url}/sdk/nudge.js`, { origin: 'https://shop.example' });
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), snippet);
  assert.equal(res.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(res.headers['access-control-allow-origin'], '*');
  assert.equal(res.headers['cross-origin-resource-policy'], 'cross-origin');
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  assert.equal(res.headers['cache-control'], 'public, max-age=300');
  assert.equal(res.headers['service-worker-allowed'], undefined);
  assert.match(String(res.headers['etag']), /^"[\w-]{22}"$/);

  for (const ifNoneMatch of [String(res.headers['etag']), `W/${res.headers['etag']}`, `"other", ${res.headers['etag']}`, '*']) {
    const again = await get(`${built.url}/sdk/nudge.js`, { 'if-none-match': ifNoneMatch });
    assert.equal(again.status, 304, ifNoneMatch);
    assert.equal(again.body.length, 0);
    assert.equal(again.headers['etag'], res.headers['etag']);
  }
  assert.equal((await get(`${built.url}/sdk/nudge.js`, { 'if-none-match': '"stale"' })).status, 200);
});

test('gzip for a client that accepts it, the plain file otherwise', async () => {
  const zipped = await get(`${built.url}/sdk/nudge.js`, { 'accept-encoding': 'br, gzip;q=0.8' });
  assert.equal(zipped.headers['content-encoding'], 'gzip');
  assert.equal(zipped.headers['vary'], 'Accept-Encoding');
  assert.ok(zipped.body.length < snippet.length / 10);
  assert.equal(gunzipSync(zipped.body).toString(), snippet);
  for (const acceptEncoding of ['br', 'gzip;q=0', 'identity']) {
    const plain = await get(`${built.url}/sdk/nudge.js`, { 'accept-encoding': acceptEncoding });
    assert.equal(plain.headers['content-encoding'], undefined, acceptEncoding);
    assert.equal(plain.body.toString(), snippet);
  }
});

test('the service worker may be registered for the whole origin', async () => {
  const res = await get(`${built.url}/sdk/nudge-sw.js`);
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(res.headers['service-worker-allowed'], '/');
  assert.equal(res.body.toString(), 'self.addEventListener("push",()=>{})');
});

test('a new build is served at once, under a new ETag', async () => {
  const before = await get(`${built.url}/sdk/nudge-sw.js`);
  writeFileSync(path.join(dir, 'nudge-sw.js'), 'self.addEventListener("push",()=>{/* v2 */})');
  const after = await get(`${built.url}/sdk/nudge-sw.js`);
  assert.match(after.body.toString(), /v2/);
  assert.notEqual(after.headers['etag'], before.headers['etag']);
});

test('nothing else from the folder', async () => {
  for (const p of ['/sdk/secret.txt', '/sdk/..%2Fsecret.txt', '/sdk/', '/sdk/nudge.js.map', '/nudge.js']) {
    const res = await get(built.url + p);
    assert.equal(res.status, 404, p);
    assert.doesNotMatch(res.body.toString(), /not for the web/);
  }
});

test('without a build, a 404 that says how to make one', async () => {
  for (const file of ['nudge.js', 'nudge-sw.js']) {
    const res = await get(`${missing.url}/sdk/${file}`);
    assert.equal(res.status, 404);
    const body = JSON.parse(res.body.toString());
    assert.equal(body.error, 'not_built');
    assert.match(body.message, new RegExp(`${file.replace('.', '\\.')} is not built: run "npm run build"`));
  }
});
