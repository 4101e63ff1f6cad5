/**
 * The app's paths, routed in the browser with the History API. The server serves the page at each
 * of them (`dashboardPaths` in src/http/dashboard-routes.ts): keep the two lists in step.
 *
 *   /triggers  /triggers/:id  /users  /users/:id  /messages  /live   (and / = /triggers)
 */
import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { page: 'triggers' }
  | { page: 'trigger'; id: string }
  | { page: 'users' }
  | { page: 'user'; id: string }
  | { page: 'messages' }
  | { page: 'live' }
  | { page: 'not-found' };

export function routeOf(pathname: string): Route {
  const [first, second, ...rest] = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (rest.length > 0) return { page: 'not-found' };
  if (first === undefined || (first === 'triggers' && second === undefined) || first === 'login') return { page: 'triggers' };
  if (first === 'triggers') return { page: 'trigger', id: second! };
  if (first === 'users') return second === undefined ? { page: 'users' } : { page: 'user', id: second };
  if (first === 'messages' && second === undefined) return { page: 'messages' };
  if (first === 'live' && second === undefined) return { page: 'live' };
  return { page: 'not-found' };
}

const navigation = new EventTarget();

/** Goes to `href` (path and query) without reloading; `replace` keeps the history entry. */
export function navigate(href: string, replace = false): void {
  if (href === location.pathname + location.search) return;
  history[replace ? 'replaceState' : 'pushState'](null, '', href);
  navigation.dispatchEvent(new Event('change'));
}

/** The current location; renders again on every navigation. */
export function useLocation(): { pathname: string; search: URLSearchParams } {
  const [, setTick] = useState(0);
  useEffect(() => {
    const update = () => setTick((t) => t + 1);
    navigation.addEventListener('change', update);
    addEventListener('popstate', update);
    return () => {
      navigation.removeEventListener('change', update);
      removeEventListener('popstate', update);
    };
  }, []);
  return { pathname: location.pathname, search: new URLSearchParams(location.search) };
}

/** `/users/<id>` with the id escaped. */
export const userHref = (id: string) => `/users/${encodeURIComponent(id)}`;
export const triggerHref = (id: string) => `/triggers/${encodeURIComponent(id)}`;

/** Path and query, leaving out empty values. */
export function hrefWith(pathname: string, query: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v) params.set(k, v);
  const qs = params.toString();
  return qs ? `${pathname}?${qs}` : pathname;
}

type LinkProps = Omit<JSX.HTMLAttributes<HTMLAnchorElement>, 'href'> & { href: string; children: ComponentChildren };

/** An ordinary link (middle click, new tab and copy work) that navigates in place on a plain click. */
export function Link({ href, children, ...rest }: LinkProps) {
  const onClick = (e: MouseEvent) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return (
    <a href={href} onClick={onClick} {...rest}>
      {children}
    </a>
  );
}
