/**
 * Finding users: by the prefix of a user id, anonymous id or email (from indexes), or by a trait's
 * value (read through the profiles, most recently active first, in bounded pages). The search is
 * in the address, so a result can be linked to.
 */
import { useEffect, useState } from 'preact/hooks';
import { call } from '../api';
import { count, relative, shown } from '../format';
import { hrefWith, Link, navigate, userHref, useLocation } from '../routes';
import type { Page, Profile } from '../types';
import { ErrorNotice, Loading, useTitle } from '../ui';

export function UsersPage() {
  useTitle('Users');
  const { search } = useLocation();
  const q = search.get('q') ?? '';
  const trait = search.get('trait') ?? '';
  const value = search.get('value') ?? '';
  const [query, setQuery] = useState(q);
  const [traitName, setTraitName] = useState(trait);
  const [traitValue, setTraitValue] = useState(value);
  useEffect(() => {
    setQuery(q);
    setTraitName(trait);
    setTraitValue(value);
  }, [q, trait, value]);

  const [pages, setPages] = useState<{ items: Profile[]; nextCursor: string | null; loading: boolean; error: Error | null }>({ items: [], nextCursor: null, loading: true, error: null });
  const load = (cursor: string | null) => {
    setPages((p) => ({ ...p, loading: true, error: null }));
    call<Page<Profile>>('/users', { query: { query: q || undefined, trait: trait || undefined, value: trait ? value || undefined : undefined, limit: 50, cursor } }).then(
      (page) => setPages((p) => ({ items: cursor ? [...p.items, ...page.items] : page.items, nextCursor: page.nextCursor, loading: false, error: null })),
      (error: Error) => setPages((p) => ({ ...p, loading: false, error })),
    );
  };
  useEffect(() => load(null), [q, trait, value]);

  const find = (e: Event) => {
    e.preventDefault();
    navigate(hrefWith('/users', { q: query.trim() }));
  };
  const findByTrait = (e: Event) => {
    e.preventDefault();
    navigate(hrefWith('/users', { trait: traitName.trim(), value: traitValue.trim() }));
  };

  return (
    <>
      <h1>Users</h1>
      <div class="search-forms">
        <form role="search" class="inline-form" onSubmit={find} aria-label="Find users by id or email">
          <label>
            User id, anonymous id or email{' '}
            <input type="search" name="q" value={query} onInput={(e) => setQuery(e.currentTarget.value)} placeholder="starts with…" />
          </label>
          <button type="submit">Find</button>
        </form>
        <form role="search" class="inline-form" onSubmit={findByTrait} aria-label="Find users by trait">
          <label>
            Trait <input name="trait" required value={traitName} onInput={(e) => setTraitName(e.currentTarget.value)} placeholder="plan" class="narrow" />
          </label>
          <label>
            equal to <input name="value" value={traitValue} onInput={(e) => setTraitValue(e.currentTarget.value)} placeholder="any value" class="narrow" />
          </label>
          <button type="submit">Find by trait</button>
        </form>
      </div>
      <p class="muted small" role="status">
        {q ? `Users whose id, anonymous id or email starts with “${q}”` : trait ? `Users with trait ${trait}${value ? ` = “${value}”` : ''}` : 'Most recently active users'}
        {!pages.loading && `: ${pages.items.length}${pages.nextCursor ? '+' : ''} shown`}
      </p>
      <ErrorNotice error={pages.error} />
      {pages.items.length > 0 && (
        <div class="scroll">
          <table class="data">
            <caption class="sr-only">Users</caption>
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Email</th>
                <th scope="col">Name</th>
                <th scope="col" class="num">Events</th>
                <th scope="col">Last seen</th>
                {trait && <th scope="col">{trait}</th>}
              </tr>
            </thead>
            <tbody>
              {pages.items.map((p) => (
                <tr key={p.profileId}>
                  <th scope="row">
                    <Link href={userHref(p.userId ?? p.profileId)}>{p.userId ?? p.anonymousIds[0] ?? p.profileId}</Link>
                    {!p.userId && <span class="muted small"> anonymous</span>}
                  </th>
                  <td>{shown(p.traits['email'] ?? '')}</td>
                  <td>{shown(p.traits['name'] ?? '')}</td>
                  <td class="num">{count(p.computed.eventCount)}</td>
                  <td title={p.computed.lastSeenAt}>{relative(p.computed.lastSeenAt)}</td>
                  {trait && <td>{shown(traitAt(p.traits, trait) ?? '')}</td>}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {pages.loading && <Loading what="users" />}
      {!pages.loading && pages.items.length === 0 && !pages.nextCursor && !pages.error && <p>No users found.</p>}
      {!pages.loading && pages.nextCursor && (
        <p>
          <button type="button" onClick={() => load(pages.nextCursor)}>
            {trait ? 'Search further' : 'Load more'}
          </button>
        </p>
      )}
    </>
  );
}

function traitAt(traits: Record<string, unknown>, path: string): unknown {
  let at: unknown = traits;
  for (const key of path.split('.')) at = typeof at === 'object' && at !== null ? (at as Record<string, unknown>)[key] : undefined;
  return at;
}
