/**
 * A local stand-in for Twilio's Messages API on 127.0.0.1 (node:http), as strict as Twilio where
 * a client could go wrong: Basic auth with the account SID and auth token (401 and Twilio's
 * 20003 answer otherwise), the path `/2010-04-01/Accounts/{AccountSid}/Messages.json` (404
 * 20404), a form-encoded body (any other body carries no fields), `To` (21604), `From` or
 * `MessagingServiceSid` (21603), `Body` (21602, at most 1600 characters: 21617), `To` in E.164
 * (21211). Errors have Twilio's shape, `{code, message, more_info, status}`; a created message is
 * a 201 with Twilio's Message resource (`sid` "SM" + 32 hex, `status` queued, or accepted when
 * only a Messaging Service was given, `num_segments` as a string …).
 *
 * A test can make the messages to one number answer an error code, a bare status (with a
 * `Retry-After`), or nothing at all (the connection hangs until the stand-in closes). Every
 * request is recorded, valid or not.
 */
import { randomBytes } from 'node:crypto';
import { createServer, STATUS_CODES, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { smsSegments } from '../../src/core/delivery/sms-segments.js';

export interface TwilioRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The body exactly as received. */
  body: string;
  /** The form fields in the order sent; empty unless the body was labelled form-encoded. */
  fields: [string, string][];
}

export type TwilioBehaviour =
  /** Answer this Twilio error code with its HTTP status and message (see `twilioErrors`). */
  | { error: number }
  /** Answer this status with a Twilio error body (code 20000 + status; 20429 for 429), and `Retry-After` when given. */
  | { status: number; retryAfter?: string }
  /** Never answer: the request hangs until the stand-in closes. */
  | { hang: true };

export interface TwilioApi {
  /** The base URL, for the channel's `baseUrl` or the client's `api.baseUrl`. */
  url: string;
  accountSid: string;
  authToken: string;
  requests: TwilioRequest[];
  /** Message resources created, in order. */
  created: Record<string, unknown>[];
  /** How to answer valid requests to `to` from now on, instead of creating a message. */
  answer(to: string, behaviour: TwilioBehaviour): void;
  close(): Promise<void>;
}

/** HTTP status and message of the Twilio errors the stand-in can give, from Twilio's error dictionary. */
export const twilioErrors: Record<number, { status: number; message: (to: string) => string }> = {
  20003: { status: 401, message: () => 'Authenticate' },
  20404: { status: 404, message: () => 'The requested resource was not found' },
  20429: { status: 429, message: () => 'Too Many Requests' },
  20500: { status: 500, message: () => 'Internal Server Error' },
  21211: { status: 400, message: (to) => `The 'To' number ${to} is not a valid phone number.` },
  21217: { status: 400, message: () => 'Phone number does not appear to be valid' },
  21408: { status: 400, message: (to) => `Permission to send an SMS has not been enabled for the region indicated by the 'To' number: ${to}.` },
  21602: { status: 400, message: () => 'Message body is required.' },
  21603: { status: 400, message: () => "A 'From' or 'MessagingServiceSid' parameter is required to send a message." },
  21604: { status: 400, message: () => "A 'To' phone number is required." },
  21610: { status: 400, message: () => 'Attempt to send to unsubscribed recipient' },
  21614: { status: 400, message: (to) => `'To' number ${to} is not a valid mobile number` },
  21617: { status: 400, message: () => 'The concatenated message body exceeds the 1600 character limit.' },
};

const e164 = /^\+[1-9]\d{1,14}$/;

export async function startTwilioApi(options: { accountSid: string; authToken: string }): Promise<TwilioApi> {
  const { accountSid, authToken } = options;
  const expectedAuthorization = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;
  const messagesPath = `/2010-04-01/Accounts/${accountSid}/Messages.json`;
  const requests: TwilioRequest[] = [];
  const created: Record<string, unknown>[] = [];
  const behaviours = new Map<string, TwilioBehaviour>();
  const sockets = new Set<Socket>();

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(JSON.stringify(body));
  };
  const error = (res: ServerResponse, code: number, to = '', headers: Record<string, string> = {}): void => {
    const known = twilioErrors[code];
    if (!known) throw new Error(`the Twilio stand-in does not know error ${code}`);
    const body: Record<string, unknown> = { code, message: known.message(to), more_info: `https://www.twilio.com/docs/errors/${code}`, status: known.status };
    if (code === 20003) body['detail'] = 'Your AccountSid or AuthToken was incorrect.';
    json(res, known.status, body, headers);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const contentType = req.headers['content-type'] ?? '';
      const fields = contentType.split(';')[0]!.trim().toLowerCase() === 'application/x-www-form-urlencoded' ? [...new URLSearchParams(body)] : [];
      const path = req.url ?? '/';
      requests.push({ method: req.method ?? '', path, headers: req.headers, body, fields });

      if (req.headers.authorization !== expectedAuthorization) return error(res, 20003, '', { 'www-authenticate': 'Basic realm="Twilio API"' });
      if (req.method !== 'POST' || path !== messagesPath) return error(res, 20404);
      const field = (name: string): string | undefined => fields.find(([n]) => n === name)?.[1];
      const to = field('To');
      const from = field('From');
      const service = field('MessagingServiceSid');
      const text = field('Body');
      if (!to) return error(res, 21604);
      if (!from && !service) return error(res, 21603);
      if (!text) return error(res, 21602);
      if ([...text].length > 1600) return error(res, 21617);
      if (!e164.test(to)) return error(res, 21211, to);

      const behaviour = behaviours.get(to);
      if (behaviour && 'hang' in behaviour) return;
      if (behaviour && 'error' in behaviour) return error(res, behaviour.error, to);
      if (behaviour) {
        const headers: Record<string, string> = behaviour.retryAfter === undefined ? {} : { 'retry-after': behaviour.retryAfter };
        const code = behaviour.status === 429 ? 20429 : 20000 + behaviour.status;
        return json(res, behaviour.status, { code, message: STATUS_CODES[behaviour.status] ?? 'Error', more_info: `https://www.twilio.com/docs/errors/${code}`, status: behaviour.status }, headers);
      }

      const sid = `SM${randomBytes(16).toString('hex')}`;
      const date = new Date().toUTCString().replace('GMT', '+0000');
      const message = {
        account_sid: accountSid,
        api_version: '2010-04-01',
        body: text,
        date_created: date,
        date_sent: null,
        date_updated: date,
        direction: 'outbound-api',
        error_code: null,
        error_message: null,
        from: from ?? null,
        messaging_service_sid: service ?? null,
        num_media: '0',
        num_segments: String(smsSegments(text).segments),
        price: null,
        price_unit: 'USD',
        sid,
        status: from ? 'queued' : 'accepted',
        subresource_uris: { media: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}/Media.json` },
        to,
        uri: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`,
      };
      created.push(message);
      json(res, 201, message);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    accountSid,
    authToken,
    requests,
    created,
    answer: (to, behaviour) => void behaviours.set(to, behaviour),
    close: () =>
      new Promise((resolve, reject) => {
        for (const socket of sockets) socket.destroy();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}
