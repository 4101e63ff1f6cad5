/**
 * The links people follow from messages (see engine/message-links.ts), without credentials — the
 * signed token is the credential:
 *
 *   GET  /t/c/{token}  a click: 302 to the link's target, `Message Clicked` on the timeline
 *   GET  /t/o/{token}  an email open: a 1×1 transparent GIF, never cached, `Message Opened`
 *   GET  /t/u/{token}  the unsubscribe page: what the link unsubscribes from, and a button
 *   POST /t/u/{token}  unsubscribes at once: the page's button (`scope=message|topic`) or a mail
 *                      client's one-click request (RFC 8058 body `List-Unsubscribe=One-Click`)
 *
 * A forged or damaged token gets a 400 page; the redirect goes only to a signed target. Recording
 * a click or an open never delays the answer. Unsubscribing waits for the consent change to be
 * committed, so the page says "done" only when it is.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ConsentChanges, ConsentService } from '../engine/consent.js';
import type { LinkPayload, MessageLinks } from '../engine/message-links.js';
import { MessageEvent, type MessageEvents } from '../engine/message-events.js';
import type { KeyRing } from './auth.js';

export interface TrackingRouteDeps {
  keys: KeyRing;
  links: MessageLinks;
  events: MessageEvents;
  consent: ConsentService;
  onError?: (error: unknown) => void;
}

/** The smallest transparent GIF. */
const pixel = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

export async function trackingRoutes(app: FastifyInstance, deps: TrackingRouteDeps): Promise<void> {
  const { links, events } = deps;
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  const hidden = { schema: { hide: true } };

  app.get<{ Params: { token: string } }>('/t/c/:token', hidden, async (request, reply) => {
    const link = links.read('click', request.params.token);
    if (!link || typeof link.url !== 'string') return invalid(reply);
    events.record(link.workspaceId, { ...link, key: link.messageKey }, MessageEvent.clicked, { url: link.url, linkIndex: link.index ?? 0 }, `clicked:${link.index ?? 0}`);
    return reply.header('Cache-Control', 'no-store').header('Referrer-Policy', 'no-referrer').redirect(link.url, 302);
  });

  app.get<{ Params: { token: string } }>('/t/o/:token', hidden, async (request, reply) => {
    const link = links.read('open', request.params.token.replace(/\.gif$/, ''));
    if (link) events.record(link.workspaceId, { ...link, key: link.messageKey }, MessageEvent.opened, {}, 'opened');
    // An image is answered even for a bad token: a broken image in an email helps nobody.
    return reply.header('Content-Type', 'image/gif').header('Cache-Control', 'no-store, max-age=0').send(pixel);
  });

  app.get<{ Params: { token: string } }>('/t/u/:token', hidden, async (request, reply) => {
    const link = links.read('unsubscribe', request.params.token);
    if (!link) return invalid(reply);
    return page(reply, 200, 'Unsubscribe', unsubscribeForm(deps.keys.workspace(link.workspaceId).name, link));
  });

  app.post<{ Params: { token: string }; Body: Record<string, string> | undefined }>('/t/u/:token', hidden, async (request, reply) => {
    const link = links.read('unsubscribe', request.params.token);
    if (!link) return invalid(reply);
    const body = request.body ?? {};
    const oneClick = body['List-Unsubscribe'] === 'One-Click';
    const scope = body['scope'] === 'topic' ? 'topic' : 'message';
    const changes: ConsentChanges = scope === 'topic' ? { [link.topic]: false } : { [`${link.channel}:${link.topic}`]: false };
    await deps.consent.update(link.workspaceId, link.profileId, {
      changes,
      source: oneClick ? 'one-click' : 'unsubscribe-page',
      message: { ...link, key: link.messageKey },
    });
    const what = scope === 'topic' ? `${link.topic} messages` : `${link.topic} messages by ${link.channel}`;
    return page(reply, 200, 'Unsubscribed', `<h1>You are unsubscribed</h1><p>You will get no more ${escapeHtml(what)} from ${escapeHtml(deps.keys.workspace(link.workspaceId).name)}.</p>`);
  });
}

function unsubscribeForm(workspaceName: string, link: LinkPayload): string {
  const name = escapeHtml(workspaceName);
  const topic = escapeHtml(link.topic);
  const channel = escapeHtml(link.channel);
  return `<h1>Unsubscribe</h1>
<p>Stop receiving ${topic} messages from ${name}?</p>
<form method="post">
  <fieldset>
    <legend>Unsubscribe from</legend>
    <label><input type="radio" name="scope" value="message" checked> ${topic} messages by ${channel}</label>
    <label><input type="radio" name="scope" value="topic"> all ${topic} messages, on every channel</label>
  </fieldset>
  <button type="submit">Unsubscribe</button>
</form>`;
}

function invalid(reply: FastifyReply): FastifyReply {
  return page(reply, 400, 'Invalid link', '<h1>This link is not valid</h1><p>It may have been cut short when it was copied. Please use the link from the message itself.</p>');
}

function page(reply: FastifyReply, status: number, title: string, main: string): FastifyReply {
  return reply
    .status(status)
    .header('Content-Type', 'text/html; charset=utf-8')
    .header('Cache-Control', 'no-store')
    .header('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
    .send(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; color: #1d2330; background: #f4f5f7; margin: 0; }
  main { max-width: 32rem; margin: 4rem auto; background: #fff; padding: 2rem; border-radius: 8px; box-shadow: 0 1px 3px #0002; }
  h1 { font-size: 1.4rem; margin-top: 0; }
  fieldset { border: 0; padding: 0; margin: 1rem 0; }
  legend { font-weight: 600; margin-bottom: .5rem; }
  label { display: block; margin: .4rem 0; }
  button { font: inherit; background: #1f5fd6; color: #fff; border: 0; border-radius: 6px; padding: .6rem 1.2rem; cursor: pointer; }
  button:focus-visible, input:focus-visible { outline: 3px solid #f5a623; outline-offset: 2px; }
</style>
</head>
<body><main>${main}</main></body>
</html>`);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
