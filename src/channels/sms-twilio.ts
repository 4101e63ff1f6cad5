/**
 * The SMS channel through Twilio's Programmable Messaging API, or any service that speaks it: the
 * `text` part a template rendered goes to the number `recipientOf` finds for the user.
 *
 * Request, as Twilio documents it: `POST {baseUrl}/2010-04-01/Accounts/{accountSid}/Messages.json`,
 * `Authorization: Basic base64(accountSid:authToken)`, an `application/x-www-form-urlencoded` body
 * of `To`, `From` and/or `MessagingServiceSid`, `Body`, and `StatusCallback` when configured (its
 * `{workspaceId}` replaced, so Twilio's reports reach the workspace's status route). Requests go
 * over a keep-alive `node:http(s)` agent, at most 64 at once.
 *
 * Before any request, failed for good: a text missing or blank, or longer than `maxSegments`
 * (`rejected`; see core/delivery/sms-segments.ts); no number (`no_recipient`); a number that is
 * not E.164 (`invalid_recipient`); a number opted out in the store (`no_consent`). A failing
 * number lookup or store read is retried.
 *
 * Answers:
 * - 2xx: delivered (accepted for sending), `providerId` the Message's `sid`.
 * - 400 with Twilio error 21211, 21614 or 21217 (the `To` number is invalid or not a mobile
 *   number): failed, `invalid_recipient`.
 * - 400 with 21610 (the number replied STOP to the sender): failed, `no_consent`, and the opt-out
 *   is recorded in the store (keyword `twilio:21610`), so later messages fail before a request;
 *   when the store applied it, `onOptOut` is told, so it can reach the users' consent.
 * - 401, 403: retried. The credentials or the account are refused, which is our configuration's
 *   fault and refuses every message alike: retrying gives the operator time to fix the token while
 *   messages wait (once retries run out the dispatcher falls back), instead of marking every
 *   recipient's message failed as if it were theirs (as the SMTP channel does with refused logins).
 * - 429, 5xx, timeouts, connection errors: retried, after `Retry-After` (seconds or a date) when given.
 * - Any other status (other 4xx error codes, 3xx): failed, `rejected`, with Twilio's code and message.
 * Errors name the request and Twilio's code and message; the recipient's number is replaced by
 * `<To>` in them, as errors are stored and shown with the message.
 *
 * After a 2xx, `onSent` is told the number the text went to, before the outcome is returned: the
 * channel is the only one to know it (the dispatcher's outcome names the channel, not the number),
 * and what Nudge makes of it (remembering who the number belongs to, for a later STOP) is the
 * composition root's business, not the provider's.
 *
 * At least once: Twilio's Messages API takes no idempotency key, so a request that timed out
 * after Twilio accepted it is sent again when retried. `timeoutMs` should stay well above
 * Twilio's answer times.
 */
import http from 'node:http';
import https from 'node:https';
import { smsSegments } from '../core/delivery/sms-segments.js';
import { ErrorCode, NudgeError, messageOf } from '../core/errors.js';
import type { ChannelProvider, Delivery, DeliveryOutcome } from '../ports/channel.js';
import { isE164, type SmsOptOutStore } from '../ports/sms-opt-out-store.js';
import { isWebUrl } from '../core/delivery/links.js';
import { post, type PostAnswer } from './http-post.js';

export interface SmsTwilioOptions {
  /** Where the API is. Default `https://api.twilio.com`. */
  baseUrl?: string;
  /** `AC` and 32 hex digits. */
  accountSid: string;
  authToken: string;
  /** The sender: a Twilio number in E.164, a short code or an alphanumeric sender id. */
  from?: string;
  /** `MG` and 32 hex digits: Twilio picks the sender from the service. Default none; one of `from` and this is required. */
  messagingServiceSid?: string;
  /**
   * Where Twilio reports each message's fate (`sms-routes.ts` status route), with `{workspaceId}`,
   * `{messageKey}`, `{profileId}` and `{triggerId}` replaced by the message's (URL-encoded), e.g.
   * `https://nudge.example/v1/sms/{workspaceId}/status?message={messageKey}`: Twilio signs the URL,
   * so what it names comes back unforged. Default none: no reports.
   */
  statusCallback?: string;
  /** Longest text, in SMS parts; a longer one fails (`rejected`) without a request. Default 10. */
  maxSegments?: number;
  /** How long the connection may stay silent, to connect or for the answer, in ms. Default 15,000. */
  timeoutMs?: number;
  /** The user's phone number (E.164); null when there is none. A rejection is retried. */
  recipientOf: (delivery: Delivery) => Promise<string | null>;
  /** Numbers that opted out: checked before each send, and told of Twilio's 21610. */
  optOuts: SmsOptOutStore;
  /**
   * Twilio accepted a text to `to` at `at`. Awaited before the outcome; the message stays
   * delivered whatever it does, so it reports its own errors (a rejection is ignored). Default none.
   */
  onSent?: (delivery: Delivery, to: string, at: number) => Promise<void>;
  /**
   * The store applied an opt-out Twilio reported for `to` (keyword `twilio:21610`) while sending
   * `delivery`. Awaited; a rejection is named in the failed outcome's error. Default none.
   */
  onOptOut?: (delivery: Delivery, to: string, keyword: string, at: number) => Promise<void>;
  /** The time an opt-out reported by Twilio is recorded at, and `Retry-After` dates are read against, in ms. Default `Date.now`. */
  now?: () => number;
}

/** Twilio error codes for a `To` number that cannot receive SMS. */
const invalidRecipientCodes = new Set([21211, 21614, 21217]);
const unsubscribedCode = 21610;
const maxAnswerBytes = 64 * 1024;
const accountSidPattern = /^AC[0-9a-fA-F]{32}$/;
const serviceSidPattern = /^MG[0-9a-fA-F]{32}$/;

interface TwilioAnswer {
  sid?: unknown;
  code?: unknown;
  message?: unknown;
}

export class SmsTwilioChannel implements ChannelProvider {
  readonly kind = 'twilio';
  private readonly url: URL;
  private readonly where: string;
  private readonly authorization: string;
  private readonly agent: http.Agent;
  private readonly maxSegments: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;

  constructor(private readonly options: SmsTwilioOptions) {
    const base = options.baseUrl ?? 'https://api.twilio.com';
    if (!accountSidPattern.test(options.accountSid)) throw invalidOption('accountSid', `expected AC followed by 32 hex digits, got ${JSON.stringify(options.accountSid)}`);
    if (!options.authToken) throw invalidOption('authToken', 'required');
    if (!options.from && !options.messagingServiceSid) throw invalidOption('from', 'give from or messagingServiceSid');
    if (options.messagingServiceSid !== undefined && !serviceSidPattern.test(options.messagingServiceSid)) {
      throw invalidOption('messagingServiceSid', `expected MG followed by 32 hex digits, got ${JSON.stringify(options.messagingServiceSid)}`);
    }
    if (!isWebUrl(base)) throw invalidOption('baseUrl', `expected an absolute http(s) URL, got ${JSON.stringify(base)}`);
    if (options.statusCallback !== undefined && !isWebUrl(callbackUrl(options.statusCallback, { workspaceId: 'w', messageKey: 'k', profileId: 'p', triggerId: 't' }))) {
      throw invalidOption('statusCallback', `expected an absolute http(s) URL, got ${JSON.stringify(options.statusCallback)}`);
    }
    this.maxSegments = options.maxSegments ?? 10;
    if (!Number.isInteger(this.maxSegments) || this.maxSegments < 1) throw invalidOption('maxSegments', `expected a whole number of at least 1, got ${options.maxSegments}`);
    this.url = new URL(`${base.replace(/\/+$/, '')}/2010-04-01/Accounts/${options.accountSid}/Messages.json`);
    this.where = `POST ${this.url.href}`;
    this.authorization = `Basic ${Buffer.from(`${options.accountSid}:${options.authToken}`).toString('base64')}`;
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.now = options.now ?? Date.now;
    const agentOptions = { keepAlive: true, maxSockets: 64 };
    this.agent = this.url.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  }

  async send(delivery: Delivery): Promise<DeliveryOutcome> {
    const text = delivery.content['text'];
    if (text === undefined || text.trim() === '') return { status: 'failed', error: 'sms content has no text part', reason: 'rejected' };
    const { encoding, segments, units } = smsSegments(text);
    if (segments > this.maxSegments) {
      const unitName = encoding === 'GSM-7' ? 'septets' : 'UTF-16 code units';
      return { status: 'failed', error: `sms text takes ${segments} parts (${units} ${unitName}, ${encoding}), more than maxSegments ${this.maxSegments}`, reason: 'rejected' };
    }

    let to: string | null;
    try {
      to = await this.options.recipientOf(delivery);
    } catch (error) {
      return { status: 'retry', error: `looking up the phone number: ${messageOf(error)}` };
    }
    // The number itself stays out of errors: they are stored and shown with the message.
    if (!to) return { status: 'failed', error: 'no phone number', reason: 'no_recipient' };
    if (!isE164(to)) return { status: 'failed', error: 'phone number is not E.164 (+, country code, digits only)', reason: 'invalid_recipient' };
    try {
      if (await this.options.optOuts.isOptedOut(delivery.workspaceId, to)) {
        return { status: 'failed', error: 'the number opted out of SMS (replied STOP)', reason: 'no_consent' };
      }
    } catch (error) {
      return { status: 'retry', error: `reading SMS opt-outs: ${messageOf(error)}` };
    }

    const form = new URLSearchParams({ To: to });
    if (this.options.from) form.set('From', this.options.from);
    if (this.options.messagingServiceSid) form.set('MessagingServiceSid', this.options.messagingServiceSid);
    form.set('Body', text);
    if (this.options.statusCallback !== undefined) form.set('StatusCallback', callbackUrl(this.options.statusCallback, { workspaceId: delivery.workspaceId, messageKey: delivery.idempotencyKey, profileId: delivery.message.profileId, triggerId: delivery.message.triggerId }));

    const answer = await this.post(form.toString());
    if ('outcome' in answer) return answer.outcome;
    const outcome = outcomeOf(this.where, answer, to, this.now());
    if (outcome.status === 'delivered') {
      try {
        await this.options.onSent?.(delivery, to, this.now());
      } catch {
        // The text is out: delivered, whatever the hook says (it reports its own errors).
      }
      return outcome;
    }
    if (outcome.status !== 'failed' || outcome.reason !== 'no_consent') return outcome;
    const keyword = `twilio:${unsubscribedCode}`;
    const at = this.now();
    let applied: boolean;
    try {
      applied = await this.options.optOuts.optOut(delivery.workspaceId, to, at, keyword);
    } catch (error) {
      return { ...outcome, error: `${outcome.error}; recording the opt-out failed: ${messageOf(error)}` };
    }
    try {
      if (applied) await this.options.onOptOut?.(delivery, to, keyword, at);
      return outcome;
    } catch (error) {
      return { ...outcome, error: `${outcome.error}; applying the opt-out to the user failed: ${messageOf(error)}` };
    }
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }

  /** The answer's status, headers and (up to 64 KiB of) body; a retry outcome when there is none. */
  private async post(body: string): Promise<PostAnswer | { outcome: DeliveryOutcome }> {
    const result = await post(this.url, {
      agent: this.agent,
      timeoutMs: this.timeoutMs,
      readBytes: maxAnswerBytes,
      body,
      headers: {
        authorization: this.authorization,
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': Buffer.byteLength(body),
        accept: 'application/json',
        'user-agent': 'nudge-sms-twilio',
      },
    });
    return 'answer' in result ? result.answer : { outcome: { status: 'retry', error: `${this.where}: ${result.error.message}` } };
  }
}

function outcomeOf(where: string, answer: PostAnswer, to: string, now: number): DeliveryOutcome {
  const { status } = answer;
  const json = parseAnswer(answer.body);
  if (status >= 200 && status < 300) return typeof json.sid === 'string' ? { status: 'delivered', providerId: json.sid } : { status: 'delivered' };
  const code = typeof json.code === 'number' ? json.code : undefined;
  const message = typeof json.message === 'string' ? `: ${json.message.replaceAll(to, '<To>')}` : '';
  const detail = code === undefined ? '' : `, Twilio error ${code}${message}`;
  const error = `${where}: HTTP ${status}${detail}`;
  if (status === 401 || status === 403) return { status: 'retry', error: `${error} (the account SID and auth token were refused: check them)` };
  if (status === 429 || status >= 500) {
    const retryAfterMs = retryAfterMsOf(answer.headers['retry-after'], now);
    return retryAfterMs === undefined ? { status: 'retry', error } : { status: 'retry', error, retryAfterMs };
  }
  if (code !== undefined && invalidRecipientCodes.has(code)) return { status: 'failed', error, reason: 'invalid_recipient' };
  if (code === unsubscribedCode) return { status: 'failed', error, reason: 'no_consent' };
  return { status: 'failed', error, reason: 'rejected' };
}

function parseAnswer(body: string): TwilioAnswer {
  try {
    const json: unknown = JSON.parse(body);
    return typeof json === 'object' && json !== null ? (json as TwilioAnswer) : {};
  } catch {
    return {};
  }
}

/** `Retry-After` in ms: delay-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent, past or unreadable. */
function retryAfterMsOf(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^\s*\d+\s*$/.test(value) ? Number(value) * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

function callbackUrl(template: string, values: Record<'workspaceId' | 'messageKey' | 'profileId' | 'triggerId', string>): string {
  return template.replace(/\{(workspaceId|messageKey|profileId|triggerId)\}/g, (_, name: keyof typeof values) => encodeURIComponent(values[name]));
}

function invalidOption(name: string, problem: string): NudgeError {
  return new NudgeError(ErrorCode.invalidConfig, `sms twilio ${name}: ${problem}`);
}
