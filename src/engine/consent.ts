/**
 * Changes a user's consent: the `consent` trait the delivery policy reads when each message is
 * about to go out (see core/delivery/policy.ts), an object of booleans keyed by `<channel>`,
 * `<topic>` or `<channel>:<topic>`.
 *
 * A change is an identify event carrying the whole new `consent` trait, committed like any other
 * event before `update` returns: the next message decided after it sees it, a crash cannot lose it,
 * and the user's timeline shows it, with a `Consent Updated` event (and `Unsubscribed` when
 * something was turned off) beside it. Changes to one user are applied one after the other, so
 * two at once cannot overwrite each other. Every change takes this path: the API, the unsubscribe
 * page and one-click unsubscribe (a message's link), and SMS keywords (engine/sms-consent.ts).
 *
 * Turning a broad key off (`marketing: false`) also drops the narrower keys that would still allow
 * it (`email:marketing: true`): "unsubscribe from all marketing" means all of it.
 */
import { randomUUID } from 'node:crypto';
import { EventType, type JsonObject, type NudgeEvent } from '../core/event.js';
import type { Profile } from '../core/profile.js';
import type { Clock } from '../ports/clock.js';
import { MessageEvent, type MessageEvents, type MessageRef } from './message-events.js';

export type Consent = Record<string, boolean>;
/** `true`/`false` sets a key; `null` removes it (back to the default). */
export type ConsentChanges = Record<string, boolean | null>;

export interface ConsentOptions {
  submit: (workspaceId: string, events: readonly NudgeEvent[]) => Promise<unknown>;
  /** The live profile of a user id, anonymous id or profile id. */
  profile: (workspaceId: string, id: string) => Promise<Profile | null>;
  events: MessageEvents;
  clock: Clock;
}

export interface ConsentUpdate {
  changes: ConsentChanges;
  /** Where it came from: `api`, `unsubscribe-page`, `one-click`, `sms` … */
  source: string;
  /** The message the change was made from (an unsubscribe link), if any. */
  message?: MessageRef & { channel: string };
  /**
   * More about the change for the timeline events, beside `changes`, `consent`, `source` and
   * `from` (which it cannot override): `{ channel: 'sms', keyword: 'STOP' }` for a text. Default none.
   */
  properties?: JsonObject;
  /**
   * Whether the user made the change themselves (a link, the unsubscribe page, a text, the app on
   * their behalf): `Unsubscribed` then counts as their activity. False for what a provider
   * reports (Twilio's 21610). Default true.
   */
  byUser?: boolean;
}

const consentKey = /^[a-z0-9_]+(:[a-z0-9_]+)?$/;

export function consentOf(profile: Profile): Consent {
  const value = profile.traits['consent'];
  if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
  return Object.fromEntries(Object.entries(value as JsonObject).filter((e): e is [string, boolean] => typeof e[1] === 'boolean'));
}

/** The consent after `changes`, with narrower keys a broad `false` overrides dropped. */
export function applyConsent(current: Consent, changes: ConsentChanges): Consent {
  const next: Consent = { ...current };
  for (const [key, value] of Object.entries(changes)) {
    if (value === null) delete next[key];
    else next[key] = value;
  }
  for (const [key, value] of Object.entries(changes)) {
    if (value !== false || key.includes(':')) continue;
    // `email: false` drops `email:<topic>: true`; `marketing: false` drops `<channel>:marketing: true`.
    for (const other of Object.keys(next)) {
      if (other.includes(':') && next[other] === true && (other.startsWith(`${key}:`) || other.endsWith(`:${key}`))) delete next[other];
    }
  }
  return next;
}

/** The first problem with a change set, naming the key, or null. */
export function consentChangesProblem(changes: unknown): string | null {
  if (!changes || typeof changes !== 'object' || Array.isArray(changes)) return 'changes: expected an object of consent keys';
  const entries = Object.entries(changes);
  if (entries.length === 0) return 'changes: empty';
  for (const [key, value] of entries) {
    if (!consentKey.test(key)) return `changes.${key}: expected <channel>, <topic> or <channel>:<topic> (lower case letters, digits, _)`;
    if (value !== true && value !== false && value !== null) return `changes.${key}: expected true, false or null`;
  }
  return null;
}

export class ConsentService {
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly options: ConsentOptions) {}

  /** Applies the changes to the profile's consent; resolves with the new consent once committed. */
  update(workspaceId: string, profileId: string, update: ConsentUpdate): Promise<Consent> {
    const key = `${workspaceId}/${profileId}`;
    const run = (this.queues.get(key) ?? Promise.resolve()).then(() => this.apply(workspaceId, profileId, update));
    const settled = run.catch(() => undefined);
    this.queues.set(key, settled);
    void settled.then(() => {
      if (this.queues.get(key) === settled) this.queues.delete(key);
    });
    return run;
  }

  private async apply(workspaceId: string, profileId: string, update: ConsentUpdate): Promise<Consent> {
    const profile = await this.options.profile(workspaceId, profileId);
    if (!profile) throw new Error(`consent: no profile ${profileId} in workspace ${workspaceId}`);
    const consent = applyConsent(consentOf(profile), update.changes);
    const at = this.options.clock.now();
    const userId = profile.userId;
    const anonymousId = userId === null ? (profile.anonymousIds[0] ?? null) : null;
    await this.options.submit(workspaceId, [
      {
        workspaceId,
        messageId: `nudge:consent:${randomUUID()}`,
        type: EventType.identify,
        name: '',
        userId,
        anonymousId,
        previousId: null,
        groupId: null,
        properties: {},
        traits: { consent },
        context: { library: { name: 'nudge' }, active: false },
        timestamp: at,
        receivedAt: at,
      },
    ]);
    const properties = { ...update.properties, changes: update.changes, consent, source: update.source };
    const { events } = this.options;
    const id = randomUUID();
    if (update.message) events.record(workspaceId, update.message, MessageEvent.consentUpdated, properties, `consent:${id}`, at);
    else events.recordForUser(workspaceId, profile.profileId, MessageEvent.consentUpdated, properties, `nudge:consent-updated:${id}`, at);
    const off = Object.entries(update.changes).filter(([, v]) => v === false).map(([k]) => k);
    if (off.length > 0) {
      const unsubscribed = { ...update.properties, from: off, source: update.source };
      const active = update.byUser === false ? false : undefined;
      if (update.message) events.record(workspaceId, update.message, MessageEvent.unsubscribed, unsubscribed, 'unsubscribed', at, active);
      else events.recordForUser(workspaceId, profile.profileId, MessageEvent.unsubscribed, unsubscribed, `nudge:unsubscribed:${id}`, at, active);
    }
    return consent;
  }
}
