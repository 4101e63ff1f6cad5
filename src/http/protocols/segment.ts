/**
 * The Segment HTTP tracking API (also spoken by RudderStack and analytics.js):
 * `/v1/{track,identify,page,screen,group,alias}` with one event, `/v1/batch` with `{batch: [...]}`.
 * https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/
 */
import { Ajv } from 'ajv';
import { Type } from '@sinclair/typebox';
import type { Issue } from '../../core/errors.js';
import { checkEvent, correctedTimestamp, EventType, parseTime, type JsonObject, type NudgeEvent } from '../../core/event.js';
import { fatal, idOf, isObject, maxNestingDepth, measureEvent, type Translation, type TranslateContext } from './common.js';

const Id = Type.Union([Type.String(), Type.Number()]);
const Time = Type.Union([Type.String(), Type.Number()]);

/** One Segment event as sent on the wire. Unknown fields are allowed and ignored. */
export const SegmentEventSchema = Type.Object({
  type: Type.Optional(Type.Union(Object.values(EventType).map((t) => Type.Literal(t)))),
  messageId: Type.Optional(Type.String({ maxLength: 200 })),
  userId: Type.Optional(Type.Union([Id, Type.Null()])),
  anonymousId: Type.Optional(Type.Union([Id, Type.Null()])),
  previousId: Type.Optional(Id),
  groupId: Type.Optional(Id),
  event: Type.Optional(Type.String({ maxLength: 200 })),
  name: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
  category: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  properties: Type.Optional(Type.Union([Type.Object({}), Type.Null()])),
  traits: Type.Optional(Type.Union([Type.Object({}), Type.Null()])),
  context: Type.Optional(Type.Union([Type.Object({}), Type.Null()])),
  timestamp: Type.Optional(Type.Union([Time, Type.Null()])),
  originalTimestamp: Type.Optional(Type.Union([Time, Type.Null()])),
  sentAt: Type.Optional(Type.Union([Time, Type.Null()])),
});

export const SegmentBatchSchema = Type.Object({
  batch: Type.Array(SegmentEventSchema),
  writeKey: Type.Optional(Type.String()),
  sentAt: Type.Optional(Time),
  context: Type.Optional(Type.Object({})),
});

const validateEvent = new Ajv({ allErrors: false, strict: false }).compile(SegmentEventSchema);

export const segmentTypeOfPath: Record<string, EventType> = {
  track: 'track',
  t: 'track',
  identify: 'identify',
  i: 'identify',
  page: 'page',
  p: 'page',
  screen: 'screen',
  s: 'screen',
  group: 'group',
  g: 'group',
  alias: 'alias',
  a: 'alias',
};

/**
 * A single call: the body is the event, `type` comes from the path. A body that is no object is
 * unreadable (fatal); an event that breaks a rule is refused like one in a batch.
 */
export function translateSegmentCall(body: unknown, type: EventType, ctx: TranslateContext): Translation {
  if (!isObject(body)) return fatal('body', 'expected a JSON object');
  const issues: Issue[] = [];
  const event = translateOne(body, type, '', parseTime(body['sentAt']), ctx, issues);
  return { writeKey: writeKeyOf(body), events: event ? [event] : [], issues, refused: event ? 0 : 1, fatal: false };
}

/** `/v1/batch`: `{batch: [...], sentAt?, context?}`; every item names its own `type`. */
export function translateSegmentBatch(body: unknown, ctx: TranslateContext): Translation {
  if (!isObject(body)) return fatal('body', 'expected a JSON object with a "batch" array');
  const batch = body['batch'];
  if (!Array.isArray(batch)) return fatal('batch', 'expected an array of events', writeKeyOf(body));
  const sentAt = parseTime(body['sentAt']);
  const shared = isObject(body['context']) ? body['context'] : null;
  const issues: Issue[] = [];
  const events: NudgeEvent[] = [];
  let refused = 0;
  for (let i = 0; i < batch.length; i++) {
    const item: unknown = batch[i];
    const prefix = `batch[${i}].`;
    if (!isObject(item)) {
      issues.push({ path: `batch[${i}]`, message: 'expected an event object' });
      refused++;
      continue;
    }
    const type = item['type'];
    if (typeof type !== 'string' || !(type in EventType)) {
      issues.push({ path: `${prefix}type`, message: `expected one of ${Object.values(EventType).join(', ')}` });
      refused++;
      continue;
    }
    const withContext = shared && !isObject(item['context']) ? { ...item, context: shared } : item;
    const event = translateOne(withContext, type as EventType, prefix, sentAt, ctx, issues);
    if (event) events.push(event);
    else refused++;
  }
  return { writeKey: writeKeyOf(body), events, issues, refused, fatal: false };
}

function translateOne(
  raw: JsonObject,
  type: EventType,
  prefix: string,
  batchSentAt: number | null,
  ctx: TranslateContext,
  issues: Issue[],
): NudgeEvent | null {
  const shape = measureEvent(raw);
  if (shape.tooDeep !== null) {
    issues.push({ path: `${prefix}${shape.tooDeep}`, message: `nested deeper than ${maxNestingDepth} levels` });
    return null;
  }
  if (!validateEvent(raw)) {
    const e = validateEvent.errors![0]!;
    const field = e.instancePath.split('/').slice(1).join('.');
    issues.push({ path: `${prefix}${field}`.replace(/\.$/, '') || 'body', message: e.message ?? 'invalid' });
    return null;
  }
  const sentAt = parseTime(raw['sentAt']) ?? batchSentAt;
  if (Number.isNaN(sentAt)) {
    issues.push({ path: `${prefix}sentAt`, message: 'not a valid ISO-8601 date' });
    return null;
  }
  const happened = parseTime(raw['timestamp'] ?? raw['originalTimestamp']);
  const timestamp = happened === null || Number.isNaN(happened) ? (happened ?? ctx.receivedAt) : correctedTimestamp(happened, sentAt, ctx.receivedAt);
  const properties = isObject(raw['properties']) ? raw['properties'] : {};
  const context = isObject(raw['context']) ? raw['context'] : {};
  const name = type === 'track' ? String(raw['event'] ?? '') : String(raw['name'] ?? properties['name'] ?? '');
  const event: NudgeEvent = {
    workspaceId: ctx.workspaceId,
    messageId: typeof raw['messageId'] === 'string' && raw['messageId'] !== '' ? raw['messageId'] : ctx.newId(),
    type,
    name,
    userId: idOf(raw['userId']),
    anonymousId: idOf(raw['anonymousId']),
    previousId: idOf(raw['previousId']),
    groupId: idOf(raw['groupId']),
    properties,
    traits: isObject(raw['traits']) ? raw['traits'] : {},
    context,
    timestamp,
    receivedAt: ctx.receivedAt,
  };
  const problems = checkEvent(event, ctx, prefix, shape.size);
  if (problems.length > 0) {
    issues.push(...problems);
    return null;
  }
  return event;
}

function writeKeyOf(body: JsonObject): string | null {
  return typeof body['writeKey'] === 'string' ? body['writeKey'] : null;
}
