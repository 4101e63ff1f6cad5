/**
 * Twilio's webhooks for the SMS channel, per workspace:
 * - `POST /v1/sms/{workspaceId}/inbound`, the number's incoming-message webhook. A message that
 *   is only an opt-out keyword (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT) or
 *   opt-in keyword (START, YES, UNSTOP), trimmed and in any case, is recorded in the opt-out store
 *   for its `From` number; then `onOptOut` / `onOptIn` are called and awaited before the answer.
 *   Nudge wires them to engine/sms-consent.ts: the SMS channel turned off (STOP) or on (START) in
 *   the consent of the users Nudge texted at that number and who still have it as their `phone`,
 *   committed, with `Unsubscribed` / `Consent Updated` (`channel`, `keyword`) on their timelines.
 *   A number Nudge never texted maps to no user; its opt-out still holds on the number. A change
 *   older than the number's record (a late webhook) is not applied and calls nothing. HELP or INFO
 *   is answered with `helpText`; without one, with nothing (Twilio's default opt-out handling
 *   answers HELP itself). The answer is TwiML (`text/xml`): `<Response/>`, or
 *   `<Response><Message>…</Message></Response>`. Other messages are acknowledged and ignored.
 * - `POST /v1/sms/{workspaceId}/status`, the status callback the channel asks for: `MessageSid`,
 *   `MessageStatus` and `ErrorCode`. The final states (delivered, undelivered, failed) are passed
 *   to `onStatus`; the ones on the way (queued, sent …) are acknowledged and ignored. 204.
 *
 * Authentication, exactly as Twilio signs its requests: `X-Twilio-Signature` is the base64
 * HMAC-SHA1, keyed by the account's auth token, of the full URL Twilio requested followed by
 * every POST parameter sorted by name, each as name then value (a repeated name's distinct values
 * sorted, as Twilio's helper libraries do). The URL is `publicUrl` (where Twilio reaches this
 * server, as configured in Twilio's console, e.g. `https://nudge.example` or, behind a proxy that
 * strips a prefix, `https://example.com/nudge`) followed by the path and query this server
 * received; Host and X-Forwarded-* headers are not trusted for it. With a default port implied,
 * the URL is tried with and without it, since Twilio may sign either. Missing or wrong: 403.
 *
 * An unknown workspace (no auth token) is 404; a missing field, 400 naming it. Changes are stored
 * before callbacks run; a callback that throws makes the answer 503 and leaves the change stored.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ErrorCode, NudgeError } from '../core/errors.js';
import { isE164, type SmsOptOutStore } from '../ports/sms-opt-out-store.js';
import { HttpError } from './errors.js';

export type SmsFinalStatus = 'delivered' | 'undelivered' | 'failed';

export interface SmsStatusReport {
  /** The Message sid, the `providerId` of the delivered outcome. */
  providerId: string;
  status: SmsFinalStatus;
  /** Twilio's error code (30003 unreachable, 30005 unknown number, 30007 filtered …), or null. */
  errorCode: number | null;
  /** The query of the callback URL the message was sent with (signed by Twilio with the rest). */
  query: Readonly<Record<string, string>>;
}

type KeywordCallback = (workspaceId: string, phone: string, keyword: string, at: number) => Promise<void> | void;

export interface SmsRouteDeps {
  /** Where Twilio reaches this server: the URL its signatures are checked against (see above). Read per request. */
  publicUrl: () => string;
  /** The auth token of the Twilio account serving a workspace; undefined for a workspace without SMS (404). */
  authTokenOf: (workspaceId: string) => string | undefined;
  optOuts: SmsOptOutStore;
  /** The answer to HELP and INFO. Default none: an empty answer. */
  helpText?: string;
  now: () => number;
  /** After an opt-out was stored, awaited before the answer; `keyword` upper-cased (STOP …). Default none. */
  onOptOut?: KeywordCallback;
  /** After an opt-in was stored, awaited before the answer; `keyword` upper-cased (START …). Default none. */
  onOptIn?: KeywordCallback;
  /** A message reached a final state. Default none. */
  onStatus?: (workspaceId: string, report: SmsStatusReport, at: number) => Promise<void> | void;
}

export const optOutKeywords: ReadonlySet<string> = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'REVOKE', 'OPTOUT']);
export const optInKeywords: ReadonlySet<string> = new Set(['START', 'YES', 'UNSTOP']);
export const helpKeywords: ReadonlySet<string> = new Set(['HELP', 'INFO']);
const finalStatuses: ReadonlySet<string> = new Set<SmsFinalStatus>(['delivered', 'undelivered', 'failed']);

export type SmsKeyword = { kind: 'opt_out' | 'opt_in' | 'help'; keyword: string };

/** The keyword a message body is, if it is one: only the word, ASCII letters in any case, spaces around. */
export function keywordOf(body: string): SmsKeyword | null {
  const word = body.trim();
  if (!/^[A-Za-z]+$/.test(word)) return null;
  const keyword = word.toUpperCase();
  if (optOutKeywords.has(keyword)) return { kind: 'opt_out', keyword };
  if (optInKeywords.has(keyword)) return { kind: 'opt_in', keyword };
  if (helpKeywords.has(keyword)) return { kind: 'help', keyword };
  return null;
}

/** The base64 HMAC-SHA1 Twilio puts in `X-Twilio-Signature` for a POST to `url` with these parameters. */
export function twilioSignature(authToken: string, url: string, params: readonly (readonly [string, string])[]): string {
  const valuesOf = new Map<string, Set<string>>();
  for (const [name, value] of params) valuesOf.set(name, (valuesOf.get(name) ?? new Set()).add(value));
  let data = url;
  for (const name of [...valuesOf.keys()].sort()) for (const value of [...valuesOf.get(name)!].sort()) data += name + value;
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

type Params = { Params: { workspaceId: string } };
type Form = readonly (readonly [string, string])[];

const bodyLimit = 64 * 1024;
const emptyResponse = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

export async function smsRoutes(app: FastifyInstance, deps: SmsRouteDeps): Promise<void> {
  // A bad URL is refused at start, not at the first request ('' until the server knows its address).
  if (deps.publicUrl() !== '') signedUrlBases(deps.publicUrl());
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  /** The form of a request Twilio signed for the workspace; throws 404 or 403 otherwise. */
  const signedForm = (request: FastifyRequest<Params>): Form => {
    const { workspaceId } = request.params;
    const authToken = deps.authTokenOf(workspaceId);
    if (authToken === undefined) throw new HttpError(404, 'not_found', `workspace ${workspaceId} has no SMS channel`);
    const form: Form = typeof request.body === 'string' ? [...new URLSearchParams(request.body)] : [];
    const signature = request.headers['x-twilio-signature'];
    if (typeof signature !== 'string' || signature === '') throw new HttpError(403, 'forbidden', 'X-Twilio-Signature: missing');
    const given = Buffer.from(signature);
    const bases = signedUrlBases(deps.publicUrl());
    const valid = bases.some((base) => {
      const expected = Buffer.from(twilioSignature(authToken, base + request.url, form));
      return expected.length === given.length && timingSafeEqual(expected, given);
    });
    if (!valid) throw new HttpError(403, 'forbidden', `X-Twilio-Signature: not the signature of this request to ${bases[0]}${request.url} with the workspace's auth token`);
    return form;
  };

  app.post<Params>('/v1/sms/:workspaceId/inbound', { bodyLimit, schema: { hide: true } }, async (request, reply) => {
    const form = signedForm(request);
    const { workspaceId } = request.params;
    const from = required(form, 'From');
    const body = field(form, 'Body'); // empty for a picture alone
    if (body === undefined) throw fieldError('Body', 'required');
    if (!isE164(from)) throw fieldError('From', 'not an E.164 phone number');
    const word = keywordOf(body);
    const at = deps.now();
    let answer: string | undefined;
    if (word?.kind === 'opt_out') {
      if (await deps.optOuts.optOut(workspaceId, from, at, word.keyword)) await deps.onOptOut?.(workspaceId, from, word.keyword, at);
    } else if (word?.kind === 'opt_in') {
      if (await deps.optOuts.optIn(workspaceId, from, at)) await deps.onOptIn?.(workspaceId, from, word.keyword, at);
    } else if (word?.kind === 'help') {
      answer = deps.helpText;
    }
    const twiml = answer === undefined ? emptyResponse : `<?xml version="1.0" encoding="UTF-8"?><Response><Message>${escapeXml(answer)}</Message></Response>`;
    return reply.type('text/xml; charset=utf-8').send(twiml);
  });

  app.post<Params>('/v1/sms/:workspaceId/status', { bodyLimit, schema: { hide: true } }, async (request, reply) => {
    const form = signedForm(request);
    const providerId = required(form, 'MessageSid');
    const status = required(form, 'MessageStatus');
    const code = field(form, 'ErrorCode');
    if (code !== undefined && code !== '' && !/^\d+$/.test(code)) throw fieldError('ErrorCode', 'not a number');
    if (finalStatuses.has(status)) {
      const errorCode = code === undefined || code === '' ? null : Number(code);
      const query = Object.fromEntries(new URL(request.url, 'http://x').searchParams);
      await deps.onStatus?.(request.params.workspaceId, { providerId, status: status as SmsFinalStatus, errorCode, query }, deps.now());
    }
    return reply.status(204).send();
  });
}

/**
 * `publicUrl` without a trailing slash, as Twilio may have signed it: with an explicit non-default
 * port, only so; otherwise both without and with the default port.
 */
function signedUrlBases(publicUrl: string): string[] {
  let url: URL;
  try {
    url = new URL(publicUrl);
  } catch {
    throw new NudgeError(ErrorCode.invalidConfig, `sms publicUrl: expected an absolute http(s) URL, got ${JSON.stringify(publicUrl)}`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash || url.username) {
    throw new NudgeError(ErrorCode.invalidConfig, `sms publicUrl: expected an http(s) URL without query, fragment or credentials, got ${JSON.stringify(publicUrl)}`);
  }
  const path = url.pathname.replace(/\/+$/, '');
  if (url.port !== '') return [`${url.protocol}//${url.host}${path}`];
  const defaultPort = url.protocol === 'https:' ? 443 : 80;
  return [`${url.protocol}//${url.hostname}${path}`, `${url.protocol}//${url.hostname}:${defaultPort}${path}`];
}

function field(form: Form, name: string): string | undefined {
  return form.find(([n]) => n === name)?.[1];
}

function required(form: Form, name: string): string {
  const value = field(form, name);
  if (!value) throw fieldError(name, 'required');
  return value;
}

function fieldError(name: string, problem: string): HttpError {
  return new HttpError(400, 'invalid_request', `body.${name}: ${problem}`, [{ path: `body.${name}`, message: problem }]);
}

/** Text content escaped as Twilio's TwiML builder escapes it (a CR is kept from line-end normalisation). */
const xmlEntities: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', '\r': '&#xD;' };

function escapeXml(text: string): string {
  return text.replace(/[<>&\r]/g, (c) => xmlEntities[c]!);
}
