/**
 * Tracking and unsubscribe links of the messages sent, signed so that nobody can forge one:
 *
 *   {publicUrl}/t/c/{token}   a click: redirects to the link's target (with UTM parameters)
 *   {publicUrl}/t/o/{token}   an email open: a 1×1 transparent GIF
 *   {publicUrl}/t/u/{token}   the unsubscribe page (GET) and its one-click endpoint (POST, RFC 8058)
 *
 * A token is `base64url(JSON array of the payload's fields) "." base64url(HMAC-SHA256(secret, kind "." payload))[0..16 bytes]`;
 * the kind is signed with it, so an open token does not unsubscribe anyone. The payload names the
 * workspace, the message (its key, profile, trigger, step, channel, topic) and, for a click, the
 * target. Nothing is stored per link: a busy outbox pays an HMAC per link, not a write. A redirect
 * goes only to a target that was signed, so the endpoint is no open redirect.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { rewriteLinks, withOpenPixel, withUtm, type UtmTemplate } from '../core/delivery/links.js';
import type { OutboundMessage } from '../core/triggers/state.js';
import type { RenderedContent } from '../ports/channel.js';

export type LinkKind = 'click' | 'open' | 'unsubscribe';

/** What a link says about the message it came in. */
export interface LinkPayload {
  workspaceId: string;
  messageKey: string;
  profileId: string;
  triggerId: string;
  stepId: string;
  channel: string;
  topic: string;
  /** A click's target; the link's position in the message as `index`. */
  url?: string;
  index?: number;
}

export interface MessageLinksOptions {
  /** The server's public address, no trailing slash; may be set later (`setPublicUrl`). */
  publicUrl: string | null;
  /** At least 32 bytes. */
  secret: string | Buffer;
  clicks: boolean;
  opens: boolean;
  utm: UtmTemplate | null;
}

const pathOf: Record<LinkKind, string> = { click: 'c', open: 'o', unsubscribe: 'u' };
const signatureBytes = 16;

export class MessageLinks {
  private publicUrl: string | null;
  private readonly secret: Buffer;

  constructor(private readonly options: MessageLinksOptions) {
    this.publicUrl = options.publicUrl;
    this.secret = Buffer.isBuffer(options.secret) ? options.secret : Buffer.from(options.secret, 'utf8');
    if (this.secret.length < 32) throw new Error('message links: the secret must be at least 32 bytes');
  }

  /** Where people reach the server (the configured public URL, else the address it listens on); '' before either is known. */
  base(): string {
    return this.publicUrl ?? '';
  }

  /** The address the server listens on, used when no public URL is configured. */
  setPublicUrl(url: string): void {
    this.publicUrl ??= url.replace(/\/+$/, '');
  }

  /**
   * The content with its links going through click tracking (with UTM parameters) and, for an
   * HTML email, an open pixel. Unchanged until the server has an address. `clicks: false` keeps
   * the links direct (with UTM parameters), for a channel that reports its clicks itself.
   */
  decorate(workspaceId: string, message: OutboundMessage, channel: string, content: RenderedContent, only: { clicks?: boolean } = {}): RenderedContent {
    if (this.publicUrl === null) return content;
    const payload = payloadOf(workspaceId, message, channel);
    const utm = this.options.utm;
    const clicks = this.options.clicks && only.clicks !== false;
    let out = content;
    if (clicks || utm) {
      out = rewriteLinks(out, (url, index) => {
        const target = utm ? withUtm(url, fill(utm, message, channel)) : url;
        return clicks ? this.url('click', { ...payload, url: target, index }) : target;
      });
    }
    if (this.options.opens && typeof out['html'] === 'string') out = { ...out, html: withOpenPixel(out['html'], this.url('open', payload)) };
    return out;
  }

  /** The message's unsubscribe page and one-click endpoint, or undefined before the server has an address. */
  unsubscribeUrl(workspaceId: string, message: OutboundMessage, channel: string): string | undefined {
    return this.publicUrl === null ? undefined : this.url('unsubscribe', payloadOf(workspaceId, message, channel));
  }

  url(kind: LinkKind, payload: LinkPayload): string {
    return `${this.publicUrl}/t/${pathOf[kind]}/${this.sign(kind, payload)}`;
  }

  sign(kind: LinkKind, payload: LinkPayload): string {
    const p = payload;
    const fields = [p.workspaceId, p.messageKey, p.profileId, p.triggerId, p.stepId, p.channel, p.topic, ...(p.url === undefined ? [] : [p.url, p.index ?? 0])];
    const body = Buffer.from(JSON.stringify(fields)).toString('base64url');
    return `${body}.${this.mac(kind, body).toString('base64url')}`;
  }

  /** The payload of a token of this kind, or null if it is malformed or its signature is wrong. */
  read(kind: LinkKind, token: string): LinkPayload | null {
    const dot = token.indexOf('.');
    if (dot <= 0) return null;
    const body = token.slice(0, dot);
    const given = Buffer.from(token.slice(dot + 1), 'base64url');
    const expected = this.mac(kind, body);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    let fields: unknown;
    try {
      fields = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      return null;
    }
    if (!Array.isArray(fields) || (fields.length !== 7 && fields.length !== 9) || !fields.slice(0, 8).every((f) => typeof f === 'string')) return null;
    const [workspaceId, messageKey, profileId, triggerId, stepId, channel, topic, url, index] = fields as string[];
    return { workspaceId: workspaceId!, messageKey: messageKey!, profileId: profileId!, triggerId: triggerId!, stepId: stepId!, channel: channel!, topic: topic!, ...(url === undefined ? {} : { url, index: Number(index) }) };
  }

  private mac(kind: LinkKind, body: string): Buffer {
    return createHmac('sha256', this.secret).update(`${kind}.${body}`).digest().subarray(0, signatureBytes);
  }
}

function payloadOf(workspaceId: string, message: OutboundMessage, channel: string): LinkPayload {
  return {
    workspaceId,
    messageKey: message.key,
    profileId: message.profileId,
    triggerId: message.triggerId,
    stepId: message.stepId,
    channel,
    topic: message.topic,
  };
}

function fill(utm: UtmTemplate, message: OutboundMessage, channel: string): { source: string; medium: string; campaign: string; content: string } {
  const values: Record<string, string> = { channel, trigger: message.triggerId, step: message.stepId, template: message.template };
  const sub = (s: string): string => s.replace(/\{(channel|trigger|step|template)\}/g, (_, name: string) => values[name]!);
  return { source: sub(utm.source), medium: sub(utm.medium), campaign: sub(utm.campaign), content: sub(utm.content) };
}
