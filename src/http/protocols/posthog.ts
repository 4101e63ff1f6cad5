/**
 * PostHog capture: `/batch/`, `/capture/`, `/e/` (and `/i/v0/e/`), as sent by posthog-node and
 * posthog-js. Bodies are `{api_key, batch: [...], sent_at}`, a single `{api_key, event, ...}`, or
 * an array of events. `distinct_id` is the user id unless the event says it has no person yet
 * (`$is_identified: false` from posthog-js, `$process_person_profile: false` from every SDK);
 * `$identify`, `$create_alias`, `$pageview`, `$screen`, `$groupidentify` and `$set` map to the
 * matching Segment calls.
 */
import type { Issue } from '../../core/errors.js';
import { checkEvent, correctedTimestamp, parseTime, type EventType, type JsonObject, type NudgeEvent } from '../../core/event.js';
import { fatal, idOf, isObject, maxNestingDepth, measureEvent, type Translation, type TranslateContext } from './common.js';

export function translatePosthog(body: unknown, ctx: TranslateContext): Translation {
  let items: unknown[];
  let sentAt: number | null = null;
  let writeKey: string | null = null;
  let prefix = 'batch';
  if (Array.isArray(body)) {
    items = body;
    prefix = '';
  } else if (isObject(body)) {
    writeKey = stringOf(body['api_key']) ?? stringOf(body['token']);
    sentAt = parseTime(body['sent_at']);
    if (Number.isNaN(sentAt)) return fatal('sent_at', 'not a valid ISO-8601 date', writeKey);
    if (Array.isArray(body['batch'])) items = body['batch'];
    else {
      items = [body];
      prefix = '';
    }
  } else {
    return fatal('body', 'expected a JSON object or array');
  }

  const issues: Issue[] = [];
  const events: NudgeEvent[] = [];
  let refused = 0;
  items.forEach((item, i) => {
    const at = prefix === '' && items.length === 1 && !Array.isArray(body) ? '' : `${prefix}[${i}].`;
    if (!isObject(item)) {
      issues.push({ path: at.replace(/\.$/, '') || 'body', message: 'expected an event object' });
      refused++;
      return;
    }
    const properties = isObject(item['properties']) ? item['properties'] : {};
    writeKey ??= stringOf(item['api_key']) ?? stringOf(properties['token']);
    const event = translateOne(item, properties, at, sentAt, ctx, issues);
    if (event) events.push(event);
    else refused++;
  });
  return { writeKey, events, issues, refused, fatal: false };
}

function translateOne(
  item: JsonObject,
  properties: JsonObject,
  at: string,
  sentAt: number | null,
  ctx: TranslateContext,
  issues: Issue[],
): NudgeEvent | null {
  const shape = measureEvent(item);
  if (shape.tooDeep !== null) {
    issues.push({ path: `${at}${shape.tooDeep}`, message: `nested deeper than ${maxNestingDepth} levels` });
    return null;
  }
  const name = item['event'];
  if (typeof name !== 'string' || name === '') {
    issues.push({ path: `${at}event`, message: 'expected the event name as a string' });
    return null;
  }
  const distinctId = idOf(item['distinct_id'] ?? properties['distinct_id'] ?? item['$distinct_id']);
  if (distinctId === null) {
    issues.push({ path: `${at}distinct_id`, message: 'expected a non-empty string' });
    return null;
  }
  const happened = parseTime(item['timestamp']);
  if (Number.isNaN(happened)) {
    issues.push({ path: `${at}timestamp`, message: 'not a valid ISO-8601 date' });
    return null;
  }
  const anonymous = properties['$is_identified'] === false || properties['$process_person_profile'] === false;
  const context: JsonObject = {};
  if (typeof properties['$timezone'] === 'string') context['timezone'] = properties['$timezone'];
  if (typeof properties['$locale'] === 'string') context['locale'] = properties['$locale'];
  if (typeof properties['$session_id'] === 'string') context['sessionId'] = properties['$session_id'];
  if (typeof properties['$lib'] === 'string') context['library'] = { name: properties['$lib'], version: properties['$lib_version'] };

  let type: EventType = 'track';
  let eventName = name;
  let userId = anonymous ? null : distinctId;
  let anonymousId = anonymous ? distinctId : null;
  let previousId: string | null = null;
  let groupId: string | null = null;
  let traits: JsonObject = {};
  switch (name) {
    case '$identify':
      type = 'identify';
      eventName = '';
      userId = distinctId;
      anonymousId = idOf(properties['$anon_distinct_id']);
      traits = { ...objectOf(properties['$set_once']), ...objectOf(properties['$set']) };
      break;
    case '$set':
      type = 'identify';
      eventName = '';
      traits = { ...objectOf(properties['$set_once']), ...objectOf(properties['$set']) };
      break;
    case '$create_alias':
      type = 'alias';
      eventName = '';
      userId = distinctId;
      anonymousId = null;
      previousId = idOf(properties['alias']);
      break;
    case '$pageview':
      type = 'page';
      eventName = typeof properties['$pathname'] === 'string' ? properties['$pathname'] : '';
      break;
    case '$screen':
      type = 'screen';
      eventName = typeof properties['$screen_name'] === 'string' ? properties['$screen_name'] : '';
      break;
    case '$groupidentify':
      type = 'group';
      eventName = typeof properties['$group_type'] === 'string' ? properties['$group_type'] : '';
      groupId = idOf(properties['$group_key']);
      traits = objectOf(properties['$group_set']);
      break;
  }

  const event: NudgeEvent = {
    workspaceId: ctx.workspaceId,
    messageId: stringOf(item['uuid']) ?? stringOf(item['message_id']) ?? ctx.newId(),
    type,
    name: eventName,
    userId,
    anonymousId,
    previousId,
    groupId,
    properties,
    traits,
    context,
    timestamp: happened === null ? ctx.receivedAt : correctedTimestamp(happened, sentAt, ctx.receivedAt),
    receivedAt: ctx.receivedAt,
  };
  const problems = checkEvent(event, ctx, at, shape.size);
  if (problems.length > 0) {
    issues.push(...problems.map((p) => (p.path.endsWith('previousId') ? { ...p, path: `${at}properties.alias` } : p)));
    return null;
  }
  return event;
}

function stringOf(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

function objectOf(v: unknown): JsonObject {
  return isObject(v) ? v : {};
}
