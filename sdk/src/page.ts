/**
 * What a page view says about the page: its type, set by the site as `data-nudge-page-type` on
 * <body> or `<meta name="nudge:page-type" content="…">` (the body wins), and the Segment page
 * properties profiles read (`url`, `path`, `title`; the URL without its fragment). Pure.
 */
import type { Properties } from './tracker.js';

export interface PageLocation {
  href: string;
  pathname: string;
  search: string;
}

/** The page's type, or null when neither the body nor a meta tag names one. */
export function pageTypeOf(bodyAttribute: string | null | undefined, metaContent: string | null | undefined): string | null {
  return bodyAttribute?.trim() || metaContent?.trim() || null;
}

export function pageProperties(at: PageLocation, title: string, referrer: string, type: string | null): Properties {
  return {
    url: at.href.replace(/#.*$/, ''),
    path: at.pathname,
    search: at.search,
    title,
    referrer,
    ...(type === null ? {} : { page_type: type }),
  };
}
