/**
 * Properties of the ingestion parsers under arbitrary input: bodies and events shaped like the
 * real thing but with any field of any type, arbitrary JSON, arbitrary bytes, absurd nesting.
 * - parseBody returns a value or throws the documented HttpError (400, naming body or data).
 * - The protocol translators never throw; every refused event has an issue with a path, and the
 *   counts add up (each item of a batch is stored or refused, once); every accepted event has a
 *   user, a timestamp that is a date with a four-digit year and not in the future, and can be
 *   serialised.
 * - The live server, sent such requests, never answers 5xx and keeps serving what it stored.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { eventTypes } from '../../src/core/event.js';
import { parseBody } from '../../src/http/body.js';
import { HttpError } from '../../src/http/errors.js';
import { isObject, type TranslateContext, type Translation } from '../../src/http/protocols/common.js';
import { translatePosthog } from '../../src/http/protocols/posthog.js';
import { translateSegmentBatch, translateSegmentCall } from '../../src/http/protocols/segment.js';
import { startNudge, writeKey, type RunningNudge } from '../support/nudge.js';

const receivedAt = Date.parse('2026-06-01T12:00:00Z');
const maxFutureMs = 3_600_000;
/** The largest time a Date can hold, in ms either side of the epoch. */
const maxDateMs = 8.64e15;

// ---- arbitraries: the real shapes, with every field free to be anything ----

const anyValue = fc.anything({ maxDepth: 3 });
const nested = (levels: number): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = i % 2 ? [value] : { v: value };
  return value;
};
const deep = fc.integer({ min: 50, max: 400 }).map(nested);
const time = fc.oneof(
  fc.date({ noInvalidDate: true, min: new Date('1990-01-01'), max: new Date('2030-01-01') }).map((d) => d.toISOString()),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.integer(),
  fc.double(),
  fc.constantFrom(1e300, -1e300, maxDateMs + 1, -maxDateMs - 1, '2999-01-01T00:00:00Z', '-000001-12-31T23:59:59.999Z', '0000-01-01T00:00:00Z', 'yesterday', ''),
  anyValue,
);
const id = fc.oneof(fc.string(), fc.string({ minLength: 1, maxLength: 8 }), fc.integer(), fc.double(), fc.constant(null), anyValue);
const bag = fc.oneof(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })), anyValue, deep.map((d) => ({ d })));

/** Mostly a valid value, sometimes anything: so that many events get far enough to be accepted. */
const mostly = <T>(valid: fc.Arbitrary<T>, other: fc.Arbitrary<unknown>) => fc.oneof({ arbitrary: valid, weight: 3 }, { arbitrary: other, weight: 1 });
const recent = fc.date({ noInvalidDate: true, min: new Date(receivedAt - 86_400_000), max: new Date(receivedAt) }).map((d) => d.toISOString());
const userId = fc.string({ minLength: 1, maxLength: 6 });

const segmentEvent = fc.record(
  {
    type: mostly(fc.constantFrom(...eventTypes), anyValue),
    userId: mostly(userId, id),
    anonymousId: id,
    previousId: mostly(userId, id),
    groupId: id,
    event: mostly(fc.constantFrom('Viewed', 'Bought'), anyValue),
    name: fc.oneof(fc.string(), anyValue),
    properties: bag,
    traits: bag,
    context: bag,
    timestamp: mostly(recent, time),
    originalTimestamp: time,
    sentAt: mostly(recent, time),
    messageId: fc.oneof(fc.string(), anyValue),
  },
  { requiredKeys: [] },
);
const segmentBatch = fc.record(
  { batch: fc.array(fc.oneof(segmentEvent, anyValue), { maxLength: 12 }), sentAt: time, context: bag, writeKey: fc.oneof(fc.string(), anyValue) },
  { requiredKeys: ['batch'] },
);

const posthogProperties = fc.record(
  {
    $is_identified: fc.oneof(fc.boolean(), anyValue),
    $process_person_profile: fc.oneof(fc.boolean(), anyValue),
    $anon_distinct_id: id,
    $set: bag,
    $set_once: bag,
    alias: id,
    distinct_id: id,
    $group_type: anyValue,
    $group_key: id,
    $group_set: bag,
    $pathname: anyValue,
    $screen_name: anyValue,
    $session_id: anyValue,
    $timezone: anyValue,
    token: anyValue,
    deep,
  },
  { requiredKeys: [] },
);
const posthogEvent = fc.record(
  {
    event: mostly(fc.constantFrom('$identify', '$create_alias', '$pageview', '$screen', '$groupidentify', '$set', 'clicked'), anyValue),
    distinct_id: mostly(userId, id),
    $distinct_id: id,
    properties: fc.oneof(posthogProperties, anyValue),
    timestamp: mostly(recent, time),
    uuid: fc.oneof(fc.uuid(), anyValue),
    api_key: fc.oneof(fc.string(), anyValue),
  },
  { requiredKeys: [] },
);
const posthogBody = fc.oneof(
  fc.record({ api_key: fc.oneof(fc.constant(writeKey), anyValue), batch: fc.array(fc.oneof(posthogEvent, anyValue), { maxLength: 12 }), sent_at: time }, { requiredKeys: ['batch'] }),
  posthogEvent,
  fc.array(posthogEvent, { maxLength: 5 }),
  anyValue,
);

// ---- invariants ----

let ids = 0;
function contextFor(): TranslateContext {
  return { workspaceId: 'w', receivedAt, newId: () => `new-${++ids}`, maxEventBytes: 32_768, maxFutureMs };
}

/** The index of the item an issue is about (`batch[3].userId` -> 3, `[2].event` -> 2). */
const indexOf = (path: string): number | null => {
  const match = /^(?:batch)?\[(\d+)\]/.exec(path);
  return match ? Number(match[1]) : null;
};

/** What every translation must satisfy; `items` is how many events the body holds, when known. */
function assertTranslation(t: Translation, ctx: TranslateContext, items: number | null): void {
  for (const issue of t.issues) {
    assert.ok(typeof issue.path === 'string' && issue.path !== '', `issue without a path: ${JSON.stringify(issue)}`);
    assert.ok(typeof issue.message === 'string' && issue.message !== '');
  }
  for (const e of t.events) {
    assert.ok((typeof e.userId === 'string' && e.userId !== '') || (typeof e.anonymousId === 'string' && e.anonymousId !== ''), 'an event without a user');
    assert.ok(Number.isFinite(e.timestamp) && Math.abs(e.timestamp) <= maxDateMs, `timestamp ${e.timestamp} is no date`);
    assert.match(new Date(e.timestamp).toISOString(), /^\d{4}-/, 'the timestamp has an RFC 3339 form');
    assert.ok(e.timestamp <= ctx.receivedAt + ctx.maxFutureMs, 'a timestamp in the future');
    assert.ok(eventTypes.includes(e.type));
    assert.ok(typeof e.messageId === 'string' && e.messageId !== '');
    assert.ok(isObject(e.properties) && isObject(e.traits) && isObject(e.context));
    assert.equal(e.workspaceId, ctx.workspaceId);
    if (e.type === 'track') assert.notEqual(e.name, '');
    assert.doesNotThrow(() => JSON.stringify(e), 'an accepted event can be stored');
  }
  if (t.fatal) {
    assert.equal(t.events.length, 0);
    assert.equal(t.issues.length, 1);
    return;
  }
  assert.ok(t.issues.length >= t.refused, 'each refused event has an issue');
  if (items !== null) {
    assert.equal(t.events.length + t.refused, items, 'each item is stored or refused, once');
    if (items > 1 || t.issues.some((i) => indexOf(i.path) !== null)) {
      const refusedItems = new Set(t.issues.map((i) => indexOf(i.path)));
      assert.ok(!refusedItems.has(null), `an issue without an index: ${JSON.stringify(t.issues)}`);
      assert.equal(refusedItems.size, t.refused, 'issues name exactly the refused items');
      for (const i of refusedItems) assert.ok(i! < items);
    }
  }
}

const runs = { numRuns: 400 };

describe('parseBody', () => {
  const contentTypes = ['application/json', 'text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', '', 'application/octet-stream'];
  const assertOnlyHttpError = (bytes: Uint8Array, contentType: string) => {
    try {
      parseBody(Buffer.from(bytes), contentType);
    } catch (error) {
      assert.ok(error instanceof HttpError, `threw ${String(error)}`);
      assert.equal(error.statusCode, 400);
      assert.match(error.message, /^(body|data): /);
    }
  };

  test('arbitrary bytes, text and broken JSON: a value or a 400 HttpError naming the body', () => {
    const brokenJson = fc.tuple(fc.jsonValue(), fc.nat(), fc.string()).map(([v, cut, junk]) => {
      const text = JSON.stringify(v);
      return text.slice(0, cut % (text.length + 1)) + junk;
    });
    const form = fc.oneof(fc.string(), brokenJson, fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v)).toString('base64'))).map((d) => `data=${encodeURIComponent(d)}`);
    const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), brokenJson, form).map((s) => Buffer.from(s));
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 512 }), text), fc.constantFrom(...contentTypes), assertOnlyHttpError), runs);
  });

  test('JSON objects and arrays come back as sent, whatever the label, with whitespace or a BOM before them', () => {
    const doc = fc.oneof(fc.dictionary(fc.string(), fc.jsonValue()), fc.array(fc.jsonValue()));
    const lead = fc.constantFrom('', ' ', '\n\t ', '\uFEFF', '\uFEFF  ');
    fc.assert(
      fc.property(doc, lead, fc.constantFrom(...contentTypes), (value, prefix, contentType) => {
        const text = JSON.stringify(value);
        assert.deepEqual(parseBody(Buffer.from(prefix + text), contentType), JSON.parse(text));
      }),
      runs,
    );
  });
});

describe('translators', () => {
  test('translateSegmentBatch: never throws; counts add up; accepted events are sound', () => {
    fc.assert(
      fc.property(fc.oneof(segmentBatch, anyValue, fc.jsonValue()), (body) => {
        const ctx = contextFor();
        const t = translateSegmentBatch(body, ctx);
        assertTranslation(t, ctx, isObject(body) && Array.isArray(body['batch']) ? body['batch'].length : null);
      }),
      runs,
    );
  });

  test('translateSegmentCall: never throws; one event stored or refused; accepted events are sound', () => {
    fc.assert(
      fc.property(fc.oneof(segmentEvent, anyValue), fc.constantFrom(...eventTypes), (body, type) => {
        const ctx = contextFor();
        const t = translateSegmentCall(body, type, ctx);
        assertTranslation(t, ctx, isObject(body) ? 1 : null);
        assert.equal(t.fatal, !isObject(body));
      }),
      runs,
    );
  });

  test('translatePosthog: never throws; counts add up; accepted events are sound', () => {
    fc.assert(
      fc.property(posthogBody, (body) => {
        const ctx = contextFor();
        const t = translatePosthog(body, ctx);
        const items = Array.isArray(body) ? body.length : isObject(body) ? (Array.isArray(body['batch']) ? body['batch'].length : 1) : null;
        assertTranslation(t, ctx, items);
      }),
      runs,
    );
  });

  test('an event over the size limit is refused whatever the body size claims', () => {
    const big = { type: 'track', userId: 'u', event: 'e', properties: { blob: 'x'.repeat(40_000) } };
    fc.assert(
      fc.property(fc.nat({ max: 10 }), (position) => {
        const batch = Array.from({ length: 10 }, () => ({ type: 'track', userId: 'u', event: 'e' }) as object);
        batch.splice(position, 0, big);
        const t = translateSegmentBatch({ batch }, contextFor());
        assert.deepEqual(t.issues.map((i) => i.path), [`batch[${position}]`]);
        assert.equal(t.events.length, 10);
      }),
      { numRuns: 20 },
    );
  });
});

describe('the live server', () => {
  let nudge: RunningNudge;
  before(async () => (nudge = await startNudge()));
  after(() => nudge.stop());

  const segmentPaths = ['/v1/batch', '/v1/b', '/v1/t', '/v1/track', '/v1/i', '/v1/identify', '/v1/p', '/v1/page', '/v1/g', '/v1/a', '/v1/alias', '/v1/s'];
  const posthogPaths = ['/batch/', '/capture/', '/e/', '/i/v0/e/'];
  const request = fc.record({
    path: fc.constantFrom(...segmentPaths, ...posthogPaths),
    body: fc.oneof(segmentBatch, segmentEvent, posthogBody, fc.uint8Array({ maxLength: 256 })),
    contentType: fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream'),
    gzip: fc.boolean(),
    key: fc.constantFrom('header', 'body', 'wrong', 'none'),
  });

  /** Everything stored so far can be read back: every event, every profile and its timeline. */
  async function assertReadable(): Promise<void> {
    const events = await nudge.api('/events?limit=1000');
    assert.equal(events.status, 200, `events: ${JSON.stringify(events.body)}`);
    const users = await nudge.api<{ items: { profileId: string }[] }>('/users?limit=1000');
    assert.equal(users.status, 200, `users: ${JSON.stringify(users.body)}`);
    for (const { profileId } of users.body.items) {
      const timeline = await nudge.api(`/users/${encodeURIComponent(profileId)}/events`);
      assert.equal(timeline.status, 200, `timeline of ${profileId}: ${JSON.stringify(timeline.body)}`);
    }
  }

  test('never answers 5xx and keeps serving what it stored', async () => {
    await fc.assert(
      fc.asyncProperty(request, async ({ path, body, contentType, gzip, key }) => {
        let payload: unknown = body;
        if (key === 'body' && isObject(body)) payload = { ...body, writeKey, api_key: writeKey };
        const text = payload instanceof Uint8Array ? Buffer.from(payload) : Buffer.from(JSON.stringify(payload) ?? 'null');
        const headers: Record<string, string> = { 'content-type': contentType };
        if (gzip) headers['content-encoding'] = 'gzip';
        if (key === 'header') headers['authorization'] = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
        if (key === 'wrong') headers['authorization'] = `Basic ${Buffer.from('nobody:').toString('base64')}`;
        const res = await fetch(`${nudge.url}${path}`, { method: 'POST', headers, body: gzip ? gzipSync(text) : text });
        const answer = await res.text();
        assert.ok(res.status < 500, `${res.status} for ${path}: ${answer}`);
        if (res.status >= 400) assert.match(answer, /"message":/);
        if (res.status === 200 || res.status === 422) await assertReadable();
      }),
      { numRuns: 150 },
    );
    assert.equal((await fetch(`${nudge.url}/healthz`)).status, 200);
  });
});
