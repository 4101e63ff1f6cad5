/**
 * Bad input on the ingestion endpoints: every refusal has the right status and names the field
 * (and the event's index in a batch); valid events next to invalid ones are stored; and after each
 * case the server still serves and has lost nothing it had already stored.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { maxIssuesReported } from '../../src/http/ingest-routes.js';
import { maxNestingDepth } from '../../src/http/protocols/common.js';
import { send, startNudge, writeKey, type RunningNudge, type SendOptions } from '../support/nudge.js';
import { calls, timelineOf } from '../support/timeline.js';

let nudge: RunningNudge;


interface Answer {
  status: number;
  body: any;
  bytes: number;
}

/** POSTs a body as given (objects as JSON); `key: null` sends no Authorization header. */
function post(pathname: string, body: unknown, options: SendOptions = {}): Promise<Answer> {
  return send(nudge.url, pathname, body, options);
}

/** Asserts a refusal: its status, the one error shape, and that the message names `names`. */
function assertRefused(res: Answer, status: number, names: RegExp): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(typeof res.body.error, 'string', JSON.stringify(res.body));
  assert.match(res.body.message, names);
}

/** The issue paths of a refusal, in order. */
const paths = (res: Answer): string[] => (res.body.issues as { path: string }[]).map((i) => i.path);

const deeplyNested = (levels: number): unknown => {
  let value: unknown = 'bottom';
  for (let i = 0; i < levels; i++) value = [value];
  return value;
};
/** The same as JSON text, for depths JSON.stringify cannot write. */
const deeplyNestedJson = (levels: number): string => `${'['.repeat(levels)}"bottom"${']'.repeat(levels)}`;

// Stored before any bad input arrives; every case must leave it intact.
const keeperBatch = [
  { type: 'identify', userId: 'keeper', traits: { email: 'keeper@example.com' }, messageId: 'keep-1' },
  { type: 'track', userId: 'keeper', event: 'Order Completed', properties: { revenue: 10 }, messageId: 'keep-2' },
  { type: 'page', userId: 'keeper', name: 'Home', messageId: 'keep-3' },
];

before(async () => {
  nudge = await startNudge();
  const res = await post('/v1/batch', { batch: keeperBatch });
  assert.equal(res.status, 200, JSON.stringify(res.body));
});
after(() => nudge.stop());

let probe = 0;
afterEach(async () => {
  assert.equal((await fetch(`${nudge.url}/healthz`)).status, 200, 'the server still answers');
  const res = await post('/v1/track', { userId: 'prober', event: 'Probe', messageId: `probe-${++probe}` });
  assert.equal(res.status, 200, `the server still stores events: ${JSON.stringify(res.body)}`);
  const kept = await timelineOf(nudge, 'keeper');
  assert.deepEqual(kept.map((e) => e.messageId), ['keep-1', 'keep-2', 'keep-3'], 'what was stored before is all still there');
});

describe('unreadable bodies', () => {
  test('invalid JSON, as application/json and as text/plain, is a 400 naming the body', async () => {
    assertRefused(await post('/v1/track', '{"userId": "a",'), 400, /^body: not valid JSON/);
    assertRefused(await post('/v1/t', '{"userId": ', { headers: { 'content-type': 'text/plain' } }), 400, /^body: not valid JSON/);
    assertRefused(await post('/v1/track', 'hello'), 400, /^body: not valid JSON/);
    assertRefused(await post('/v1/track', ''), 400, /^body: empty/);
  });

  test('JSON that is not an event object is a 400 naming the body', async () => {
    for (const body of ['42', 'null', '"text"', '[1,2]']) {
      const res = await post('/v1/track', body);
      assertRefused(res, 400, /^body: expected a JSON object/);
      assert.deepEqual(paths(res), ['body']);
    }
    const res = await post('/v1/batch', { batch: 'not an array', writeKey });
    assertRefused(res, 400, /^batch: expected an array/);
  });

  test('a payload refused as a whole still answers 400, not 401, when its write key is in the body', async () => {
    assertRefused(await post('/v1/batch', { writeKey, batch: {} }, { key: null }), 400, /^batch:/);
    assertRefused(await post('/batch/', { api_key: writeKey, sent_at: 'soon', batch: [] }, { key: null }), 400, /^sent_at:/);
  });

  test('a byte-order mark before the JSON is accepted', async () => {
    const res = await post('/v1/track', '\uFEFF{"userId":"bom-user","event":"Signed Up"}');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(calls(await timelineOf(nudge, 'bom-user')), ['track:Signed Up']);
  });
});

describe('invalid events', () => {
  test('wrong types are a 422 naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ userId: { id: 1 }, event: 'x' }, 'userId'],
      [{ userId: 'a', event: 5 }, 'event'],
      [{ userId: 'a', event: 'x', properties: [1, 2] }, 'properties'],
      [{ userId: 'a', event: 'x', context: 'web' }, 'context'],
      [{ userId: 'a', event: 'x', timestamp: true }, 'timestamp'],
      [{ userId: 'a', event: 'x', messageId: 17 }, 'messageId'],
    ];
    for (const [body, field] of cases) {
      const res = await post('/v1/track', body);
      assertRefused(res, 422, new RegExp(`^${field}: `));
      assert.deepEqual(paths(res), [field]);
    }
  });

  test('an event with neither userId nor anonymousId is a 422 naming userId', async () => {
    for (const body of [{ event: 'x' }, { event: 'x', userId: '', anonymousId: null }]) {
      const res = await post('/v1/track', body);
      assertRefused(res, 422, /^userId: either userId or anonymousId is required/);
    }
  });

  test('a timestamp far in the future, before year 0, or no date at all, is a 422 naming timestamp', async () => {
    assertRefused(await post('/v1/track', { userId: 'a', event: 'x', timestamp: '2999-01-01T00:00:00Z' }), 422, /^timestamp: lies \d+ s in the future/);
    const skewed = new Date(Date.now() + 2 * 3_600_000).toISOString();
    assertRefused(await post('/v1/track', { userId: 'a', event: 'x', timestamp: skewed }), 422, /^timestamp: .*future/);
    assertRefused(await post('/v1/track', { userId: 'a', event: 'x', timestamp: 'yesterday' }), 422, /^timestamp: not a valid ISO-8601 date/);
    // Dates a Date holds but RFC 3339 cannot write would be stored and then break every listing.
    for (const timestamp of ['-000500-01-01T00:00:00Z', -1e300]) {
      assertRefused(await post('/v1/track', { userId: 'ancient', event: 'x', timestamp }), 422, /^timestamp: lies before the year 0000/);
    }
    const skewedSentAt = await post('/batch/', { api_key: writeKey, sent_at: '9000-01-01T00:00:00Z', batch: [{ event: 'x', distinct_id: 'ancient', timestamp: '2000-01-01T00:00:00Z' }] }, { key: null });
    assertRefused(skewedSentAt, 422, /^batch\[0\]\.timestamp: lies before the year 0000/);
    assert.equal((await nudge.api('/users?limit=1000')).status, 200);
  });

  test('values nested absurdly deep are a 422 naming the field, not a server failure', async () => {
    const res = await post('/v1/track', `{"userId":"deep","event":"x","properties":{"a":${deeplyNestedJson(6000)}}}`);
    assertRefused(res, 422, new RegExp(`^properties: nested deeper than ${maxNestingDepth} levels`));
    const fits = await post('/v1/track', { userId: 'deep', event: 'Nested', properties: { a: deeplyNested(maxNestingDepth - 2) } });
    assert.equal(fits.status, 200, JSON.stringify(fits.body));
  });
});

describe('write keys', () => {
  test('an unknown write key is a 401, in the header or in the body', async () => {
    assertRefused(await post('/v1/track', { userId: 'a', event: 'x' }, { key: 'not-a-key' }), 401, /unknown write key/);
    assertRefused(await post('/v1/track', { userId: 'a', event: 'x', writeKey: 'not-a-key' }, { key: null }), 401, /unknown write key/);
    assertRefused(await post('/batch/', { api_key: 'phc_unknown', batch: [{ event: 'x', distinct_id: 'p' }] }, { key: null }), 401, /unknown write key/);
  });

  test('no write key at all is a 401 that says where to put it', async () => {
    assertRefused(await post('/v1/track', { userId: 'a', event: 'x' }, { key: null }), 401, /no write key.*Basic.*writeKey/);
    assertRefused(await post('/batch/', { batch: [{ event: 'x', distinct_id: 'p' }] }, { key: null }), 401, /api_key/);
  });

  test('the write key in the body alone is enough', async () => {
    const res = await post('/v1/track', { userId: 'body-key', event: 'x', writeKey }, { key: null });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  });
});

describe('sizes and compression', () => {
  const blob = (bytes: number) => 'x'.repeat(bytes);

  test('an event over 32 KB is refused naming its index; the rest of its batch is stored', async () => {
    const res = await post('/v1/batch', {
      batch: [
        { type: 'track', userId: 'sizer', event: 'Small', messageId: 'size-0' },
        { type: 'track', userId: 'sizer', event: 'Huge', properties: { blob: blob(40_000) }, messageId: 'size-1' },
      ],
    });
    assertRefused(res, 422, /batch\[1\]: is \d+ bytes, over the 32768-byte limit/);
    assert.deepEqual(paths(res), ['batch[1]']);
    assert.equal(res.body.accepted, 1);
    assert.deepEqual(calls(await timelineOf(nudge, 'sizer')), ['track:Small']);
    assertRefused(await post('/v1/track', { userId: 'sizer', event: 'Huge', properties: { blob: blob(40_000) } }), 422, /over the 32768-byte limit/);
  });

  test('a batch over 500 KB is a 413 and nothing of it is stored', async () => {
    const batch = Array.from({ length: 20 }, (_, i) => ({ type: 'track', userId: 'bulk', event: 'Chunk', properties: { blob: blob(30_000) }, messageId: `bulk-${i}` }));
    assertRefused(await post('/v1/batch', { batch }), 413, /512000-byte limit/);
    assert.equal((await nudge.api('/users/bulk')).status, 404);
  });

  test('a gzip bomb (small compressed, huge decompressed) is a 413 and nothing of it is stored', async () => {
    const bomb = gzipSync(JSON.stringify({ batch: [{ type: 'track', userId: 'bomber', event: 'Boom', properties: { blob: 'z'.repeat(50_000_000) } }] }));
    assert.ok(bomb.length < 100_000, `the bomb is small compressed (${bomb.length} bytes)`);
    assertRefused(await post('/v1/batch', bomb, { headers: { 'content-encoding': 'gzip' } }), 413, /512000-byte limit/);
    assertRefused(await post('/batch/', bomb, { key: null, headers: { 'content-encoding': 'gzip' } }), 413, /512000-byte limit/);
    assert.equal((await nudge.api('/users/bomber')).status, 404);
  });

  test('invalid or truncated gzip is a 400; an unknown encoding a 415', async () => {
    assertRefused(await post('/v1/batch', Buffer.from('plainly not gzip'), { headers: { 'content-encoding': 'gzip' } }), 400, /not valid gzip/);
    const truncated = gzipSync(JSON.stringify({ batch: [{ type: 'track', userId: 'a', event: 'x' }] })).subarray(0, 20);
    assertRefused(await post('/v1/batch', truncated, { headers: { 'content-encoding': 'gzip' } }), 400, /not valid gzip/);
    assertRefused(await post('/v1/batch', '{}', { headers: { 'content-encoding': 'br' } }), 415, /Content-Encoding "br"/);
  });

  test('gzip that is valid is accepted, whatever the content type says', async () => {
    const body = gzipSync(JSON.stringify({ batch: [{ type: 'track', userId: 'zipped', event: 'Unzipped' }] }));
    const res = await post('/v1/batch', body, { headers: { 'content-encoding': 'gzip', 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(calls(await timelineOf(nudge, 'zipped')), ['track:Unzipped']);
  });
});

describe('batches mixing valid and invalid events', () => {
  test('Segment: the valid events are stored, the 422 names each refused batch[i].field', async () => {
    const res = await post('/v1/batch', {
      batch: [
        { type: 'track', userId: 'mixer', event: 'First', messageId: 'mix-0' },
        { type: 'track', event: 'No user', messageId: 'mix-1' },
        { type: 'purchase', userId: 'mixer', messageId: 'mix-2' },
        7,
        { type: 'track', userId: 'mixer', event: 'Bad time', timestamp: 'at noon', messageId: 'mix-4' },
        { type: 'identify', userId: 'mixer', traits: { deep: deeplyNested(500) }, messageId: 'mix-5' },
        { type: 'alias', userId: 'mixer', messageId: 'mix-6' },
        { type: 'page', userId: 'mixer', name: 'Last', messageId: 'mix-7' },
      ],
    });
    assertRefused(res, 422, /^6 event\(s\) refused, 2 stored: batch\[1\]\.userId/);
    assert.deepEqual(paths(res), ['batch[1].userId', 'batch[2].type', 'batch[3]', 'batch[4].timestamp', 'batch[5].traits', 'batch[6].previousId']);
    assert.equal(res.body.accepted, 2);
    assert.deepEqual(calls(await timelineOf(nudge, 'mixer')), ['track:First', 'page:Last']);
  });

  test('PostHog: the valid events are stored, the 422 names each refused batch[i].field', async () => {
    const res = await post(
      '/batch/',
      {
        api_key: writeKey,
        batch: [
          { event: 'first', distinct_id: 'ph-mixer', uuid: 'ph-mix-0' },
          { event: 'no person', distinct_id: { id: 7 }, uuid: 'ph-mix-1' },
          { distinct_id: 'ph-mixer', uuid: 'ph-mix-2' },
          { event: 'later', distinct_id: 'ph-mixer', timestamp: '2999-01-01T00:00:00Z' },
          'not an event',
          { event: 'deep', distinct_id: 'ph-mixer', properties: { deep: deeplyNested(500) } },
          { event: '$create_alias', distinct_id: 'ph-mixer', properties: {} },
          { event: 'last', distinct_id: 'ph-mixer', uuid: 'ph-mix-7' },
        ],
      },
      { key: null },
    );
    assertRefused(res, 422, /^6 event\(s\) refused, 2 stored: batch\[1\]\.distinct_id/);
    assert.deepEqual(paths(res), ['batch[1].distinct_id', 'batch[2].event', 'batch[3].timestamp', 'batch[4]', 'batch[5].properties', 'batch[6].properties.alias']);
    assert.equal(res.body.accepted, 2);
    assert.deepEqual(calls(await timelineOf(nudge, 'ph-mixer')), ['track:first', 'track:last']);
  });

  test('a payload of nothing but many bad events gets a bounded answer', async () => {
    const body = `{"batch":[${Array(100_000).fill('{}').join(',')}]}`;
    const res = await post('/v1/batch', body);
    assertRefused(res, 422, /^batch\[0\]\.type: .*; and 99900 more$/);
    assert.equal(res.body.issues.length, maxIssuesReported);
    assert.ok(res.bytes < 50_000, `the answer is ${res.bytes} bytes for a ${body.length}-byte request`);
  });
});

describe('PostHog payloads', () => {
  const ph = (body: unknown, headers: Record<string, string> = {}) => post('/batch/', body, { key: null, headers });

  test('invalid JSON is a 400', async () => {
    assertRefused(await ph('{"api_key": "'), 400, /^body: not valid JSON/);
    assertRefused(await post('/e/', 'data=%7B%22event', { key: null, headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 400, /^data: not valid JSON/);
  });

  test('a single capture without distinct_id, or with a far-future timestamp, is a 422 naming the field', async () => {
    assertRefused(await post('/capture/', { api_key: writeKey, event: 'x' }, { key: null }), 422, /^distinct_id: /);
    assertRefused(await post('/capture/', { api_key: writeKey, event: 'x', distinct_id: 'p', timestamp: '2999-01-01T00:00:00Z' }, { key: null }), 422, /^timestamp: .*future/);
    assertRefused(await post('/capture/', { api_key: writeKey, event: 'x', distinct_id: 'p', timestamp: 'tuesday' }, { key: null }), 422, /^timestamp: not a valid/);
  });

  test('a body that is no event at all is refused naming the body', async () => {
    assertRefused(await post('/batch/', '"just a string"'), 400, /^body: expected a JSON object or array/);
  });

  test('an event over 32 KB is refused naming its index; a batch over 500 KB is a 413', async () => {
    const res = await ph({ api_key: writeKey, batch: [{ event: 'ok', distinct_id: 'ph-sizer' }, { event: 'huge', distinct_id: 'ph-sizer', properties: { blob: 'x'.repeat(40_000) } }] });
    assertRefused(res, 422, /batch\[1\]: is \d+ bytes, over the 32768-byte limit/);
    assert.deepEqual(calls(await timelineOf(nudge, 'ph-sizer')), ['track:ok']);
    const batch = Array.from({ length: 20 }, () => ({ event: 'chunk', distinct_id: 'ph-bulk', properties: { blob: 'x'.repeat(30_000) } }));
    assertRefused(await ph(gzipSync(JSON.stringify({ api_key: writeKey, batch })), { 'content-encoding': 'gzip' }), 413, /512000-byte limit/);
    assert.equal((await nudge.api('/users/ph-bulk')).status, 404);
  });

  test('invalid gzip is a 400', async () => {
    assertRefused(await ph(Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02]), { 'content-encoding': 'gzip' }), 400, /not valid gzip/);
  });
});
