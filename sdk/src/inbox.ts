/**
 * The in-app channel's rules, without the DOM: what an inbox item from the stream looks like,
 * how it is shown (`style`: toast by default, banner or modal), which links may be followed
 * (http and https only: a template's `javascript:` URL is never put in the page), and where a
 * page's stream starts. Pure.
 *
 * Where the stream starts: after the last item this browser saw (kept in storage), so an item
 * sent while the visitor moved between pages is shown on the next. A browser that has seen none
 * starts an anonymous visitor's stream at the beginning (their inbox began with this browser) and a
 * signed-in user's now (their older items are no news on a new device).
 */

export interface InboxContent {
  title?: string;
  body?: string;
  cta_label?: string;
  cta_url?: string;
  image_url?: string;
  style?: string;
}

/** An item as the stream and the list send it (src/http/inbox-routes.ts). */
export interface InboxMessage {
  id: number;
  triggerId?: string;
  content: InboxContent;
}

export type MessageStyle = 'toast' | 'banner' | 'modal';

/** The words of the controls, for sites in other languages. */
export interface MessageLabels {
  /** The close button's accessible name. Default "Dismiss". */
  dismiss: string;
  /** Default "Not relevant". */
  notRelevant: string;
}

export const defaultLabels: MessageLabels = { dismiss: 'Dismiss', notRelevant: 'Not relevant' };

/** The interactions a page reports, by the path of their route. */
export type InboxReport = 'shown' | 'read' | 'clicked' | 'dismiss' | 'feedback';

export function styleOf(style: unknown): MessageStyle {
  return style === 'banner' || style === 'modal' ? style : 'toast';
}

/** The absolute http(s) URL `url` names (relative to `base`); null for anything else. */
export function safeUrl(url: unknown, base: string): string | null {
  if (typeof url !== 'string' || url.trim() === '') return null;
  try {
    const parsed = new URL(url, base);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : null;
  } catch {
    return null;
  }
}

/** The item in a stream event's data; null when it is not one. */
export function parseMessage(data: string): InboxMessage | null {
  try {
    const item = JSON.parse(data) as InboxMessage;
    return Number.isSafeInteger(item?.id) && typeof item.content === 'object' && item.content !== null ? item : null;
  } catch {
    return null;
  }
}

/** The id the stream replays after; null: from now on. */
export function streamStart(lastSeenId: number | null, anonymous: boolean): number | null {
  return lastSeenId ?? (anonymous ? 0 : null);
}

export function streamUrl(host: string, token: string, after: number | null): string {
  return `${host}/v1/inbox/stream?token=${encodeURIComponent(token)}${after === null ? '' : `&lastEventId=${after}`}`;
}

/** The route a page posts an interaction to; the token rides in the query, so a beacon can carry it. */
export function reportUrl(host: string, token: string, id: number, report: InboxReport): string {
  return `${host}/v1/inbox/${id}/${report}?token=${encodeURIComponent(token)}`;
}
