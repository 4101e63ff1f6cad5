/**
 * The demo shop's routes: static pages (pretty paths, types, headers) and nothing outside the
 * site folder; the service worker at the shop's scope; the demo's settings; the mail viewer's API
 * over a real mail catcher, with the HTML body sandboxed. Off unless nudge.yaml has `demo:`,
 * whose `mail` must name a loopback smtp channel.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { parseConfig } from '../../src/config/config.js';
import { MailCatcher } from '../../src/http/demo-mail.js';
import { demoRoutes } from '../../src/http/demo-routes.js';
import { installErrorHandler } from '../../src/http/errors.js';
import { startNudge, testConfig } from '../support/nudge.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nudge-demo-routes-'));
const site = path.join(dir, 'site');
const sdk = path.join(dir, 'sdk');
let app: FastifyInstance;
let url: string;
let mail: MailCatcher;
let mailPort: number;

before(async () => {
  mkdirSync(path.join(site, 'guide'), { recursive: true });
  mkdirSync(sdk);
  writeFileSync(path.join(site, 'index.html'), '<h1>Home</h1>');
  writeFileSync(path.join(site, 'cart.html'), '<h1>Cart</h1>');
  writeFileSync(path.join(site, 'guide', 'index.html'), '<h1>Guide</h1>');
  writeFileSync(path.join(site, 'shop.css'), 'body{}');
  writeFileSync(path.join(site, 'notes.txt'), 'not served');
  writeFileSync(path.join(site, '.env'), 'SECRET=1');
  writeFileSync(path.join(dir, 'secret.html'), 'outside');
  writeFileSync(path.join(sdk, 'nudge-sw.js'), 'self.addEventListener("push", () => {});');
  mail = new MailCatcher({ now: () => Date.UTC(2026, 2, 2, 9) });
  mailPort = await mail.listen('127.0.0.1', 0);
  app = Fastify({ forceCloseConnections: true });
  installErrorHandler(app);
  await app.register((scope, _opts, done) => void demoRoutes(scope, { siteDir: site, sdkDir: sdk, timeScale: 60, mail }).then(() => done(), done));
  url = await app.listen({ port: 0, host: '127.0.0.1' });
});
after(async () => {
  await app.close();
  await mail.close();
  rmSync(dir, { recursive: true, force: true });
});

const get = async (pathname: string) => {
  const res = await fetch(url + pathname, { redirect: 'manual' });
  return { status: res.status, headers: res.headers, body: await res.text() };
};

describe('the shop', () => {
  test('pages by pretty path, with their type, no-cache and a Content-Security-Policy', async () => {
    for (const [pathname, body] of [['/shop/', '<h1>Home</h1>'], ['/shop/cart', '<h1>Cart</h1>'], ['/shop/cart.html', '<h1>Cart</h1>'], ['/shop/guide/', '<h1>Guide</h1>']]) {
      const res = await get(pathname!);
      assert.equal(res.status, 200, pathname);
      assert.equal(res.body, body);
      assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.equal(res.headers.get('cache-control'), 'no-cache');
      assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self';.*connect-src 'self'/);
    }
    const css = await get('/shop/shop.css');
    assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');
    assert.equal(css.headers.get('content-security-policy'), null);
    const bare = await get('/shop');
    assert.deepEqual([bare.status, bare.headers.get('location')], [302, '/shop/']);
  });

  test('nothing outside the folder, no dot files, no unknown types: 404', async () => {
    for (const pathname of ['/shop/../secret.html', '/shop/%2e%2e/secret.html', '/shop/..%2fsecret.html', '/shop/.env', '/shop/notes.txt', '/shop/nope', '/shop/guide/%00.html']) {
      const res = await get(pathname);
      assert.equal(res.status, 404, pathname);
      assert.doesNotMatch(res.body, /outside|SECRET|not served/);
    }
  });

  test("the snippet's service worker at the shop's scope, and 404 saying how to build it when it is not built", async () => {
    const sw = await get('/shop/nudge-sw.js');
    assert.equal(sw.status, 200);
    assert.equal(sw.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.match(sw.body, /addEventListener\("push"/);
    const bare = Fastify();
    installErrorHandler(bare);
    await bare.register((scope, _opts, done) => void demoRoutes(scope, { siteDir: site, sdkDir: path.join(dir, 'nowhere'), timeScale: 1, mail: null }).then(() => done(), done));
    const res = await bare.inject('/shop/nudge-sw.js');
    assert.equal(res.statusCode, 404);
    assert.match(res.json().message, /npm run build/);
    assert.deepEqual((await bare.inject('/shop/api/demo')).json(), { timeScale: 1, mail: false });
    await bare.close();
  });

  test('the time scale for the demo guide', async () => {
    assert.deepEqual(JSON.parse((await get('/shop/api/demo')).body), { timeScale: 60, mail: true });
  });

  test('a site folder that is not there stops the start', async () => {
    const bare = Fastify();
    await assert.rejects(demoRoutes(bare, { siteDir: path.join(dir, 'missing'), timeScale: 1, mail: null }), /demo\.site: .*missing is not a folder/);
    await bare.close();
  });
});

describe('the mail viewer', () => {
  before(async () => {
    const socket = net.connect(mailPort, '127.0.0.1');
    const message = [
      'From: Shop <shop@shop.example>',
      'To: ada@example.com',
      'Subject: Your code',
      'Content-Type: multipart/alternative; boundary=b',
      '',
      '--b',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Use CART-7K3M9P',
      '--b',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<p>Use <b>CART-7K3M9P</b> <a href="https://shop.example/cart">cart</a></p><script>alert(1)</script>',
      '--b--',
    ].join('\r\n');
    socket.write(`EHLO t.example\r\nMAIL FROM:<shop@shop.example>\r\nRCPT TO:<ada@example.com>\r\nDATA\r\n${message}\r\n.\r\nQUIT\r\n`);
    socket.resume();
    await new Promise((resolve) => socket.on('close', resolve));
  });

  test('lists what arrived, reads one, and serves its HTML sandboxed: no scripts, links to a new tab', async () => {
    const list = JSON.parse((await get('/shop/api/mail')).body);
    assert.deepEqual(list, { items: [{ id: 1, receivedAt: '2026-03-02T09:00:00.000Z', from: 'Shop <shop@shop.example>', to: 'ada@example.com', subject: 'Your code' }] });
    const one = JSON.parse((await get('/shop/api/mail/1')).body);
    assert.equal(one.text, 'Use CART-7K3M9P');
    assert.equal(one.htmlUrl, '/shop/api/mail/1/html');
    assert.deepEqual(one.envelope, { from: 'shop@shop.example', to: ['ada@example.com'] });
    assert.ok(one.headers.some((h: { name: string; value: string }) => h.name === 'Subject' && h.value === 'Your code'));
    const html = await get('/shop/api/mail/1/html');
    assert.equal(html.status, 200);
    assert.match(html.body, /^<base target="_blank"><p>Use <b>CART-7K3M9P<\/b>/);
    const csp = html.headers.get('content-security-policy') ?? '';
    assert.match(csp, /^sandbox allow-popups allow-popups-to-escape-sandbox;/);
    assert.doesNotMatch(csp, /allow-scripts|allow-same-origin/);
    assert.match(csp, /default-src 'none'/);
  });

  test('an unknown message is 404; an id that is not a number is 400 naming it', async () => {
    assert.equal((await get('/shop/api/mail/9')).status, 404);
    const bad = await get('/shop/api/mail/abc');
    assert.equal(bad.status, 400);
    assert.match(bad.body, /params\.id/);
  });
});

describe('configuration', () => {
  test('off in a normal project', async () => {
    const nudge = await startNudge({ config: testConfig('', 'memory') });
    try {
      assert.equal((await fetch(`${nudge.url}/shop/`)).status, 404);
      assert.equal((await fetch(`${nudge.url}/shop/api/demo`)).status, 404);
    } finally {
      await nudge.stop();
    }
  });

  test('demo.site is relative to the config; demo.mail names an smtp channel on loopback', () => {
    const base = 'workspaces: [ { id: shop, writeKeys: [demo-write-key] } ]\nadmin: { keys: [demo-admin-key] }\n';
    const c = parseConfig(`${base}channels:\n  email: { smtp: { host: 127.0.0.1, port: 2525, from: a@shop.example } }\ndemo: { site: site, mail: email }\n`, '/projects/shop/nudge.yaml');
    assert.deepEqual(c.demo, { siteDir: '/projects/shop/site', mail: { host: '127.0.0.1', port: 2525 } });
    assert.equal(parseConfig(base, 'nudge.yaml').demo, null);
    assert.throws(
      () => parseConfig(`${base}channels:\n  email: { log: true }\ndemo: { site: site, mail: email }\n`, 'nudge.yaml'),
      /nudge\.yaml:5:\d+: demo\.mail: no smtp channel "email" in channels/,
    );
    assert.throws(
      () => parseConfig(`${base}channels:\n  email: { smtp: { host: smtp.example.com, port: 25, from: a@shop.example } }\ndemo: { site: site, mail: email }\n`, 'nudge.yaml'),
      /demo\.mail: the demo listens on loopback only; channel email's smtp host is smtp\.example\.com/,
    );
  });
});
