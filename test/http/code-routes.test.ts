/**
 * The discount code API on a bare Fastify server on 127.0.0.1 (the error handler and OpenAPI
 * document of the real server, the routes' own dependencies), over the memory and SQLite stores:
 * lookup, check-and-burn redemption with its statuses, a user's codes, bad input, the admin key.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import { MemoryCodeStore } from '../../src/backends/memory/memory-code-store.js';
import { SqliteCodeStore } from '../../src/backends/sqlite/sqlite-code-store.js';
import { compileCodeKind } from '../../src/core/delivery/discount-codes.js';
import { DiscountCodes } from '../../src/engine/discount-codes.js';
import { KeyRing } from '../../src/http/auth.js';
import { codeRoutes } from '../../src/http/code-routes.js';
import { installErrorHandler } from '../../src/http/errors.js';
import { SimulatedClock } from '../../src/ports/clock.js';
import type { CodeStore } from '../../src/ports/code-store.js';

const hour = 3_600_000;
const T0 = Date.UTC(2026, 5, 1, 10, 0);
const adminKey = 'test-admin-key';
const dir = mkdtempSync(path.join(tmpdir(), 'nudge-code-routes-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const cart = compileCodeKind('cart10', { pattern: 'CART-XXXX-XXXX', ttl: '48h', redeemedBy: { event: 'Order Completed', property: 'coupon' } });
assert.ok(cart.ok);
/** User ids, anonymous ids and profile ids, per workspace, to their profile. */
const profiles = new Map([
  ['w1/ann', 'p-ann'],
  ['w1/anon-ann', 'p-ann'],
  ['w1/p-ann', 'p-ann'],
  ['w1/bob', 'p-bob'],
  ['w2/ann', 'p-ann'],
]);

const backends: { name: string; open: () => CodeStore }[] = [
  { name: 'memory', open: () => new MemoryCodeStore() },
  { name: 'sqlite', open: () => new SqliteCodeStore({ path: path.join(dir, 'codes.db') }) },
];

for (const backend of backends) {
  describe(`code routes over ${backend.name}`, () => {
    let app: FastifyInstance;
    let url: string;
    let store: CodeStore;
    let codes: DiscountCodes;
    const clock = new SimulatedClock(T0);

    before(async () => {
      store = backend.open();
      codes = new DiscountCodes({ store, kinds: new Map([['cart10', cart.kind]]), clock });
      app = Fastify();
      installErrorHandler(app);
      await app.register(swagger, { openapi: { openapi: '3.1.0', info: { title: 'test', version: '1' } } });
      const keys = new KeyRing([{ id: 'w1', name: 'One', writeKeys: ['write-key-1'] }, { id: 'w2', name: 'Two', writeKeys: ['write-key-2'] }], [adminKey]);
      const profileOf = async (workspaceId: string, userId: string) => profiles.get(`${workspaceId}/${userId}`) ?? null;
      await app.register((scope, _opts, done) => {
        codeRoutes(scope, { keys, codes, profileOf }).then(() => done(), done);
      }, { prefix: '/api/v1' });
      url = await app.listen({ host: '127.0.0.1', port: 0 });
    });
    after(async () => {
      await app.close();
      await store.close();
    });

    const api = async (pathname: string, init: { method?: string; body?: unknown; key?: string | null } = {}) => {
      const headers: Record<string, string> = init.key === null ? {} : { authorization: `Bearer ${init.key ?? adminKey}` };
      if (init.body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${url}/api/v1${pathname}`, { method: init.method ?? 'GET', headers, ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}) });
      return { status: res.status, body: (await res.json()) as any };
    };
    const redeem = (code: string, userId: unknown, query = '') => api(`/codes/${encodeURIComponent(code)}/redeem${query}`, { method: 'POST', body: { userId } });
    const issue = async (profileId: string, messageKey: string, workspaceId = 'w1') => {
      const { code } = await codes.codeFor(workspaceId, profileId, messageKey, 'cart10');
      await codes.settled(messageKey, 'delivered');
      return code;
    };

    test('GET /codes/{code}: status, kind, owner and times, whatever the letter case; 404 elsewhere', async () => {
      clock.set(T0);
      const code = await issue('p-ann', 'get-1');
      const res = await api(`/codes/${code.toLowerCase()}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body, {
        code,
        kind: 'cart10',
        status: 'issued',
        profileId: 'p-ann',
        messageKey: 'get-1',
        reservedAt: new Date(T0).toISOString(),
        expiresAt: new Date(T0 + 48 * hour).toISOString(),
        settledAt: new Date(T0).toISOString(),
        redeemedAt: null,
      });
      clock.set(T0 + 48 * hour);
      assert.equal((await api(`/codes/${code}`)).body.status, 'expired', 'expiry is derived from the time of asking');
      clock.set(T0);

      const elsewhere = await api(`/codes/${code}?workspace=w2`);
      assert.deepEqual([elsewhere.status, elsewhere.body.error], [404, 'not_found']);
      assert.match(elsewhere.body.message, /^code: no code CART-.* in workspace "w2"/);
      const noWorkspace = await api(`/codes/${code}?workspace=w9`);
      assert.equal(noWorkspace.status, 404);
      assert.match(noWorkspace.body.message, /^workspace:/);
    });

    test('POST /codes/{code}/redeem: 200 once, then 409; a reserved code can be redeemed', async () => {
      clock.set(T0);
      const code = await issue('p-ann', 'redeem-1');
      clock.set(T0 + hour);
      const first = await redeem(` ${code.toLowerCase()} `, 'anon-ann');
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(first.body.outcome, 'redeemed');
      assert.deepEqual([first.body.code.status, first.body.code.redeemedAt], ['redeemed', new Date(T0 + hour).toISOString()]);
      const second = await redeem(code, 'ann');
      assert.deepEqual([second.status, second.body.error], [409, 'already_redeemed']);
      assert.match(second.body.message, new RegExp(`already redeemed, at ${new Date(T0 + hour).toISOString()}`));

      const { code: unsent } = await codes.codeFor('w1', 'p-ann', 'redeem-2', 'cart10');
      assert.equal((await redeem(unsent, 'ann')).status, 200, 'before its outcome is recorded');
    });

    test('of concurrent redemptions of one code exactly one gets 200, the rest 409', async () => {
      clock.set(T0);
      const code = await issue('p-ann', 'race-1');
      const statuses = (await Promise.all(Array.from({ length: 12 }, () => redeem(code, 'ann')))).map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, ...new Array(11).fill(409)]);
    });

    test('410 when expired or released; 404 unknown; 403 not the owner or an unknown user', async () => {
      clock.set(T0);
      const expiring = await issue('p-ann', 'gone-1');
      const { code: released } = await codes.codeFor('w1', 'p-ann', 'gone-2', 'cart10');
      await codes.settled('gone-2', 'failed');
      const bobs = await issue('p-bob', 'gone-3');
      clock.set(T0 + 48 * hour);

      const expired = await redeem(expiring, 'ann');
      assert.deepEqual([expired.status, expired.body.error], [410, 'expired']);
      assert.match(expired.body.message, /^code: .* expired at 2026-06-03T10:00:00.000Z/);
      const gone = await redeem(released, 'ann');
      assert.deepEqual([gone.status, gone.body.error], [410, 'released']);

      clock.set(T0 + hour);
      const unknown = await redeem('CART-0000-0000', 'ann');
      assert.deepEqual([unknown.status, unknown.body.error], [404, 'not_found']);
      const stranger = await redeem(bobs, 'ann');
      assert.deepEqual([stranger.status, stranger.body.error], [403, 'not_owner']);
      assert.match(stranger.body.message, /^userId: "ann" is not the owner/);
      const nobody = await redeem(bobs, 'someone-new');
      assert.deepEqual([nobody.status, nobody.body.error], [403, 'not_owner']);
      assert.equal((await redeem('CART-0000-0000', 'someone-new')).status, 404, 'an unknown code is 404 for anyone');
      assert.equal((await api(`/codes/${bobs}`)).body.status, 'issued', 'refusals burn nothing');
      assert.equal((await redeem(bobs, 'bob')).status, 200);
    });

    test('bad input is a 400 naming the field', async () => {
      const noUser = await api('/codes/CART-AAAA-AAAA/redeem', { method: 'POST', body: {} });
      assert.equal(noUser.status, 400);
      assert.match(JSON.stringify(noUser.body.issues), /body\.userId/);
      const emptyUser = await redeem('CART-AAAA-AAAA', '');
      assert.equal(emptyUser.status, 400);
      assert.match(JSON.stringify(emptyUser.body.issues), /userId/);
      const objectUser = await api('/codes/CART-AAAA-AAAA/redeem', { method: 'POST', body: { userId: { id: 'ann' } } });
      assert.equal(objectUser.status, 400);
      for (const bad of ['CART AAAA', 'CART/AAAA', 'ümlaut']) {
        const res = await api(`/codes/${encodeURIComponent(bad)}`);
        assert.equal(res.status, 400, bad);
        assert.match(res.body.message, /^code: a code is 1-64 letters, digits, - and _/);
      }
      const tooLong = await api(`/codes/${'A'.repeat(81)}`);
      assert.equal(tooLong.status, 400);
      assert.match(JSON.stringify(tooLong.body.issues), /params\.code/);
      const badLimit = await api('/users/ann/codes?limit=0');
      assert.equal(badLimit.status, 400);
      assert.match(JSON.stringify(badLimit.body.issues), /limit/);
      const badCursor = await api('/users/ann/codes?cursor=garbage!');
      assert.equal(badCursor.status, 400);
      assert.match(badCursor.body.message, /^cursor:/);
    });

    test("GET /users/{userId}/codes pages the owner's codes newest first, by any of the user's ids", async () => {
      const { items: before } = await codes.listFor('w1', 'p-ann', { limit: 1000 });
      clock.set(T0 + 2 * hour);
      const fresh = [await issue('p-ann', 'list-1'), await issue('p-ann', 'list-2')].sort().reverse();
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res: { status: number; body: any } = await api(`/users/anon-ann/codes?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        seen.push(...res.body.items.map((c: { code: string }) => c.code));
        cursor = res.body.nextCursor;
      } while (cursor);
      assert.deepEqual(seen.slice(0, 2), fresh);
      assert.equal(seen.length, before.length + 2);
      assert.deepEqual((await api('/users/bob/codes')).body.items.map((c: { profileId: string }) => c.profileId), ['p-bob']);
      assert.deepEqual((await api('/users/ann/codes?workspace=w2')).body, { items: [], nextCursor: null });
      const unknown = await api('/users/nobody/codes');
      assert.equal(unknown.status, 404);
      assert.match(unknown.body.message, /^userId: no user "nobody"/);
    });

    test('every route needs the admin key', async () => {
      for (const [pathname, method] of [['/codes/CART-AAAA-AAAA', 'GET'], ['/codes/CART-AAAA-AAAA/redeem', 'POST'], ['/users/ann/codes', 'GET']] as const) {
        assert.equal((await api(pathname, { method, key: null, ...(method === 'POST' ? { body: { userId: 'ann' } } : {}) })).status, 401);
        assert.equal((await api(pathname, { method, key: 'wrong-key-value', ...(method === 'POST' ? { body: { userId: 'ann' } } : {}) })).status, 401);
      }
    });

    test('the routes and their statuses are in the OpenAPI document', async () => {
      const doc = app.swagger() as unknown as { paths: Record<string, Record<string, { responses: Record<string, unknown>; tags: string[] }>> };
      assert.deepEqual(Object.keys(doc.paths['/api/v1/codes/{code}/redeem']!.post!.responses).sort(), ['200', '400', '401', '403', '404', '409', '410']);
      assert.ok(doc.paths['/api/v1/codes/{code}']?.get);
      assert.deepEqual(doc.paths['/api/v1/users/{userId}/codes']?.get?.tags, ['users', 'codes']);
    });
  });
}
