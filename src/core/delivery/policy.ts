/**
 * Whether a message may go out now: consent, frequency caps and quiet hours, decided at the moment
 * of sending (never at scheduling: a user may opt out, or receive other messages, in between).
 * Pure: the caller passes the user's consent, their recent sends and the time.
 *
 * - Consent: the user's `consent` trait, an object of booleans keyed by `<channel>`, `<topic>` or
 *   `<channel>:<topic>` (`{ "email:marketing": false }`, `{ "push": false }`); the most specific
 *   key wins. Without a key, `transactional` is allowed and other topics follow `defaultConsent`.
 * - Caps: at most `max` messages in any rolling window of `windowMs`, over all channels, one
 *   channel or one trigger. Counted over delivered messages (and those decided in the same
 *   batch); a message that would exceed a cap is dropped ("capped"). Higher-priority messages
 *   decided in the same batch go first (see `orderForCaps`).
 * - Quiet hours: from `from` to `to` local time in the user's zone (may span midnight), for the
 *   listed channels; a message due inside is deferred to the end (`defer`) or dropped (`drop`).
 * - Preference: the user's `preferred_channel` trait, when it is one of the step's channels, is
 *   tried first (`preferredFirst`).
 */
import { nextLocalTime } from '../triggers/local-time.js';

export interface CapRule {
  max: number;
  windowMs: number;
  /** Only this channel's messages count and are capped. */
  channel?: string;
  /** Only this trigger's messages count and are capped. */
  triggerId?: string;
}

export interface QuietHours {
  /** HH:MM local time. */
  from: string;
  to: string;
  /** Channels it applies to; all when absent. */
  channels?: readonly string[];
  action: 'defer' | 'drop';
}

export interface DeliveryPolicy {
  caps: readonly CapRule[];
  quietHours: QuietHours | null;
  /** Consent for topics (other than transactional) the user has said nothing about. */
  defaultConsent: 'granted' | 'denied';
}

export const defaultDeliveryPolicy: DeliveryPolicy = { caps: [], quietHours: null, defaultConsent: 'granted' };

/** A message already sent to the user, as caps count it. */
export interface PastSend {
  at: number;
  channel: string;
  triggerId: string;
}

export interface PolicyInput {
  channel: string;
  topic: string;
  triggerId: string;
  /** The user's `consent` trait, if any. */
  consent: unknown;
  /** The user's time zone (UTC if unknown). */
  timezone: string | null;
  /** The user's recent sends, any order; at least those within the longest cap window. */
  history: readonly PastSend[];
  now: number;
}

export type PolicyDecision =
  | { action: 'send' }
  | { action: 'defer'; until: number; reason: 'quiet_hours' }
  | { action: 'drop'; reason: 'no_consent' | 'capped' | 'quiet_hours'; detail: string };

export function decideDelivery(input: PolicyInput, policy: DeliveryPolicy): PolicyDecision {
  const consent = consentOf(input.consent, input.channel, input.topic);
  if (consent === false || (consent === undefined && input.topic !== 'transactional' && policy.defaultConsent === 'denied')) {
    return { action: 'drop', reason: 'no_consent', detail: `no consent for ${input.channel}:${input.topic}` };
  }
  // Transactional messages (a receipt, a password reset) are not marketing: no caps, no quiet hours.
  if (input.topic !== 'transactional') {
    for (const cap of policy.caps) {
      if (cap.channel !== undefined && cap.channel !== input.channel) continue;
      if (cap.triggerId !== undefined && cap.triggerId !== input.triggerId) continue;
      const since = input.now - cap.windowMs;
      let count = 0;
      for (const s of input.history) {
        if (s.at > since && s.at <= input.now && (cap.channel === undefined || s.channel === cap.channel) && (cap.triggerId === undefined || s.triggerId === cap.triggerId)) count++;
      }
      if (count >= cap.max) return { action: 'drop', reason: 'capped', detail: `${describeCap(cap)}: ${count} already` };
    }
    const quiet = policy.quietHours;
    if (quiet && (quiet.channels === undefined || quiet.channels.includes(input.channel))) {
      const end = quietUntil(input.now, quiet, input.timezone);
      if (end !== null) {
        return quiet.action === 'defer'
          ? { action: 'defer', until: end, reason: 'quiet_hours' }
          : { action: 'drop', reason: 'quiet_hours', detail: `quiet hours ${quiet.from}-${quiet.to}` };
      }
    }
  }
  return { action: 'send' };
}

/**
 * The channels a message may use, the user's preferred one first: a `preferred_channel` trait
 * naming one of them moves it to the front; the others keep the step's order.
 */
export function preferredFirst(channels: readonly string[], preferred: unknown): string[] {
  if (typeof preferred !== 'string' || !channels.includes(preferred)) return [...channels];
  return [preferred, ...channels.filter((c) => c !== preferred)];
}

/** Messages decided together: higher priority first, then the earlier due, so caps keep the important ones. */
export function orderForCaps<T extends { priority: number; at: number }>(messages: readonly T[]): T[] {
  return [...messages].sort((a, b) => b.priority - a.priority || a.at - b.at);
}

/** The longest cap window: how far back a caller must load a user's sends. */
export function historyWindowMs(policy: DeliveryPolicy): number {
  return policy.caps.reduce((max, c) => Math.max(max, c.windowMs), 0);
}

function consentOf(consent: unknown, channel: string, topic: string): boolean | undefined {
  if (consent === null || typeof consent !== 'object') return undefined;
  const c = consent as Record<string, unknown>;
  for (const key of [`${channel}:${topic}`, channel, topic]) {
    if (Object.hasOwn(c, key) && typeof c[key] === 'boolean') return c[key] as boolean;
  }
  return undefined;
}

/** If `now` is inside the quiet hours, when they end; else null. */
function quietUntil(now: number, quiet: QuietHours, timezone: string | null): number | null {
  // The next start and the next end after now: inside the quiet hours exactly when the end comes first.
  const nextEnd = nextLocalTime(now, quiet.to, timezone);
  const nextStart = nextLocalTime(now, quiet.from, timezone);
  if (quiet.from === quiet.to) return null;
  return nextEnd < nextStart ? nextEnd : null;
}

function describeCap(cap: CapRule): string {
  const scope = cap.channel ? `${cap.channel} messages` : cap.triggerId ? `messages of ${cap.triggerId}` : 'messages';
  return `at most ${cap.max} ${scope} per ${Math.round(cap.windowMs / 60_000)} min`;
}
