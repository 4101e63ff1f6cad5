/**
 * The links in a rendered message, found and rewritten part by part, pure (the caller signs the
 * tracking URLs):
 *
 * - `html` parts: the `href` of every `<a>` tag (quoted with " or ');
 * - `text` and `body` parts: bare http(s) URLs, without trailing sentence punctuation;
 * - link parts — `url` and any part named `…_url` but `image_url` and `icon_url` — as a whole.
 *
 * Only absolute http(s) links are touched: `mailto:`, `tel:`, fragments and template leftovers
 * stay as they are, and so does an `<a>` marked `data-nudge-notrack`. Other parts (subjects,
 * titles, icons) are left alone.
 */
/** A message's rendered parts, by name. */
export type Parts = Readonly<Record<string, string>>;

/** A new URL for a link, or null to keep it. `index` counts the links of the message, from 0. */
export type LinkRewriter = (url: string, index: number) => string | null;

const anchor = /<a\b[^>]*>/gi;
const href = /(\shref\s*=\s*)(["'])(.*?)\2/i;
const bareUrl = /\bhttps?:\/\/[^\s<>"']+/g;
const trailing = /[.,;:!?)\]]+$/;
const notLinkParts = new Set(['image_url', 'icon_url']);

export const isLinkPart = (name: string): boolean => name === 'url' || (name.endsWith('_url') && !notLinkParts.has(name));

export function isWebLink(url: string): boolean {
  return /^https?:\/\/[^\s/]/i.test(url);
}

/** Whether a value parses as an absolute http(s) URL. */
export function isWebUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}

/** The content with its links rewritten; parts without links are returned unchanged. */
export function rewriteLinks(content: Parts, rewrite: LinkRewriter): Parts {
  let index = 0;
  const next = (url: string): string => {
    if (!isWebLink(url)) return url;
    return rewrite(url, index++) ?? url;
  };
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(content)) {
    if (name === 'html') out[name] = rewriteHtml(value, next);
    else if (name === 'text' || name === 'body') out[name] = rewriteText(value, next);
    else if (isLinkPart(name)) out[name] = next(value.trim());
    else out[name] = value;
  }
  return out;
}

function rewriteHtml(html: string, next: (url: string) => string): string {
  return html.replace(anchor, (tag) => {
    if (/\sdata-nudge-notrack\b/i.test(tag)) return tag;
    return tag.replace(href, (_all, prefix: string, quote: string, url: string) => `${prefix}${quote}${escapeAttribute(next(unescapeAttribute(url)))}${quote}`);
  });
}

function rewriteText(text: string, next: (url: string) => string): string {
  return text.replace(bareUrl, (match) => {
    const tail = trailing.exec(match)?.[0] ?? '';
    const url = match.slice(0, match.length - tail.length);
    return next(url) + tail;
  });
}

/** `&amp;` in an attribute is `&` in the URL it names; the rewritten URL is escaped again. */
function unescapeAttribute(value: string): string {
  return value.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'");
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

export interface Utm {
  source: string;
  medium: string;
  campaign: string;
  content?: string;
}

/** UTM parameters with `{channel}`, `{trigger}`, `{step}` and `{template}` placeholders. */
export interface UtmTemplate {
  source: string;
  medium: string;
  campaign: string;
  content: string;
}

/** The URL with UTM parameters added; parameters the link already has are kept. */
export function withUtm(url: string, utm: Utm): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  const params: [string, string | undefined][] = [
    ['utm_source', utm.source],
    ['utm_medium', utm.medium],
    ['utm_campaign', utm.campaign],
    ['utm_content', utm.content],
  ];
  for (const [name, value] of params) if (value !== undefined && value !== '' && !parsed.searchParams.has(name)) parsed.searchParams.append(name, value);
  return parsed.toString();
}

/** The HTML with an invisible image loading `pixelUrl`, at the end of the body. */
export function withOpenPixel(html: string, pixelUrl: string): string {
  const img = `<img src="${escapeAttribute(pixelUrl)}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0">`;
  const close = html.search(/<\/body\s*>/i);
  return close === -1 ? html + img : html.slice(0, close) + img + html.slice(close);
}
