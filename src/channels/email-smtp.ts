/**
 * The email channel: each message goes out over SMTP (nodemailer), with the `subject`, `html` and
 * `text` parts its template rendered, to the address `recipientOf` finds for the user.
 *
 * Headers: `Message-ID` is derived from the idempotency key, so every attempt at one message
 * carries the same id and a retry after a lost reply is recognisable as a repeat, in the relay's
 * logs and by any receiver that drops duplicate ids; `X-Nudge-Message` carries the key
 * itself, to tie bounces and replies back to the message; with `unsubscribeUrl`,
 * `List-Unsubscribe: <url>` and `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
 *
 * Outcomes: a message the server accepted (2xx after DATA) is delivered. Retried: 4xx replies,
 * 503, refused logins (a fault of our credentials, not of the recipient), connection errors and
 * timeouts, a failed address lookup. Failed for good: other 5xx replies (550 mailbox unavailable,
 * 553 bad address, 554 refused content …), with the server's reply in the error; no or a malformed
 * address; content without a subject or without any body; an unsubscribe URL that is not an
 * absolute http(s) URL.
 */
import { createHash } from 'node:crypto';
import nodemailer from 'nodemailer';
import type { NodemailerError, SendMailOptions, SMTPSentMessageInfo, Transporter } from 'nodemailer';
import addressparser from 'nodemailer/lib/addressparser';
import { ErrorCode, NudgeError, messageOf } from '../core/errors.js';
import type { ChannelProvider, Delivery, DeliveryOutcome } from '../ports/channel.js';
import { isWebUrl } from '../core/delivery/links.js';

export interface EmailSmtpOptions {
  host: string;
  port: number;
  /** TLS from the first byte (SMTPS). Default true on port 465, else false (STARTTLS when offered). */
  secure?: boolean;
  /** Login for the server; default none (no AUTH). */
  user?: string;
  pass?: string;
  /** The sender, e.g. `Shop <news@shop.example>`; its domain is also the Message-ID's domain. */
  from: string;
  /** Default none. */
  replyTo?: string;
  /** Keep connections open and reuse them. Default true. */
  pool?: boolean;
  /** Connections the pool may open at once. Default 5. Ignored without `pool`. */
  maxConnections?: number;
  /**
   * How long to wait to connect, for the greeting, and for each reply of the server, in ms.
   * Default 30,000. Time spent waiting for a free pooled connection does not count.
   */
  timeoutMs?: number;
  /** The user's email address; null when there is none. A rejection is retried. */
  recipientOf: (delivery: Delivery) => Promise<string | null>;
  /** The one-click unsubscribe URL for a message (https for RFC 8058); default none: no List-* headers. */
  unsubscribeUrl?: (delivery: Delivery) => string | undefined;
}

/**
 * One address, no display name, no list: a profile trait such as `a@x.example, b@y.example` must
 * not become two recipients. Quoted local parts are not accepted; they are vanishingly rare.
 */
const plainAddress = /^[^\s@<>()[\],;:"\\]+@[^\s@<>()[\],;:"\\]+$/;

export class EmailSmtpChannel implements ChannelProvider {
  readonly kind = 'smtp';
  private readonly transport: Transporter<SMTPSentMessageInfo>;
  private readonly messageIdDomain: string;
  private readonly where: string;

  constructor(private readonly options: EmailSmtpOptions) {
    this.messageIdDomain = senderDomain(options.from);
    this.where = `smtp ${options.host}:${options.port}`;
    const timeoutMs = options.timeoutMs ?? 30_000;
    const common = {
      host: options.host,
      port: options.port,
      secure: options.secure ?? options.port === 465,
      auth: options.user === undefined ? undefined : { user: options.user, pass: options.pass ?? '' },
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      // Content comes from templates: nothing in it may make the server read a file or fetch a URL.
      disableFileAccess: true,
      disableUrlAccess: true,
    };
    this.transport = (options.pool ?? true)
      ? nodemailer.createTransport({
          ...common,
          pool: true,
          maxConnections: options.maxConnections ?? 5,
          // One requeue absorbs the usual race of a send on a connection the server has just
          // closed for idleness; anything more is the dispatcher's to retry, with its backoff.
          maxRequeues: 1,
        })
      : nodemailer.createTransport(common);
  }

  async send(delivery: Delivery): Promise<DeliveryOutcome> {
    const { subject, html, text } = delivery.content;
    if (!present(subject)) return { status: 'failed', error: 'email content has no subject' };
    if (!present(html) && !present(text)) return { status: 'failed', error: 'email content has neither an html nor a text part' };

    let to: string | null;
    try {
      to = await this.options.recipientOf(delivery);
    } catch (error) {
      return { status: 'retry', error: `looking up the email address: ${messageOf(error)}` };
    }
    // The address itself stays out of errors: they are stored and shown with the message.
    if (!to) return { status: 'failed', error: 'no email address' };
    if (!plainAddress.test(to)) return { status: 'failed', error: 'malformed email address' };

    const mail: SendMailOptions = {
      from: this.options.from,
      to,
      replyTo: this.options.replyTo,
      subject,
      html: present(html) ? html : undefined,
      text: present(text) ? text : undefined,
      messageId: messageIdOf(delivery.idempotencyKey, this.messageIdDomain),
      headers: { 'X-Nudge-Message': delivery.idempotencyKey },
    };
    const unsubscribe = this.options.unsubscribeUrl?.(delivery);
    if (unsubscribe !== undefined) {
      if (!isWebUrl(unsubscribe)) return { status: 'failed', error: `unsubscribe URL is not an absolute http(s) URL: ${unsubscribe}` };
      mail.list = { unsubscribe };
      mail.headers = { ...mail.headers, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' };
    }

    try {
      const info = await this.transport.sendMail(mail);
      // With one recipient a send resolves only once it was accepted; checked all the same, since
      // a resolved send with the recipient refused would otherwise count as delivered.
      if (info.accepted.length === 0) return { status: 'failed', error: `${this.where}: recipient not accepted: ${info.response}` };
      return { status: 'delivered' };
    } catch (error) {
      return outcomeOf(this.where, error as NodemailerError);
    }
  }

  /**
   * Idle pooled connections close at once; one in the middle of a message finishes it first, and
   * messages still waiting for a connection fail with a retry.
   */
  async close(): Promise<void> {
    this.transport.close();
  }
}

/** The same id for every attempt at one message: a hash, since keys may hold any character. */
export function messageIdOf(idempotencyKey: string, domain: string): string {
  const hash = createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 32);
  return `<nudge.${hash}@${domain}>`;
}

function outcomeOf(where: string, error: NodemailerError): DeliveryOutcome {
  const { responseCode, response, command } = error;
  if (responseCode !== undefined && response) {
    const reply = `${where}: ${command ?? 'SMTP'} answered ${response}`;
    const permanent = error.permanent ?? (responseCode >= 500 && responseCode !== 503);
    // A refused login refuses every message alike: it is retried (and, once retries run out,
    // falls back) rather than reported as the recipient's bounce.
    const login = error.code === 'EAUTH' || command?.startsWith('AUTH') === true;
    return permanent && !login ? { status: 'failed', error: reply } : { status: 'retry', error: reply };
  }
  // Without a reply these two mean the message was refused before it reached the server (an
  // address nodemailer cannot send to, a size over the server's SIZE limit): retrying cannot help.
  if (error.code === 'EENVELOPE' || error.code === 'EMESSAGE') return { status: 'failed', error: `${where}: ${error.message}` };
  // The codes say which step failed (a bare "Timeout" does not): ETIMEDOUT GREETING_TIMEOUT …
  const tags = [error.originalCode ?? error.code, error.timeoutType].filter((t): t is string => !!t && !error.message.includes(t));
  return { status: 'retry', error: `${where}: ${error.message}${tags.length > 0 ? ` (${tags.join(' ')})` : ''}` };
}

/** The domain of the one address in `from`, as an ASCII host name; throws naming the option. */
function senderDomain(from: string): string {
  const parsed = addressparser(from, { flatten: true });
  const address = parsed.length === 1 ? parsed[0]?.address : undefined;
  const domain = address?.slice(address.lastIndexOf('@') + 1);
  if (!address || !domain || !address.includes('@')) {
    throw new NudgeError(ErrorCode.invalidConfig, `email from: expected one address such as "Shop <news@shop.example>", got ${JSON.stringify(from)}`);
  }
  try {
    return new URL(`http://${domain}`).hostname; // punycode for an internationalised domain
  } catch {
    throw new NudgeError(ErrorCode.invalidConfig, `email from: ${JSON.stringify(domain)} is not a domain`);
  }
}

function present(part: string | undefined): part is string {
  return part !== undefined && part.trim() !== '';
}
