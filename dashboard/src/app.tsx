/**
 * The frame of every page: a skip link, the navigation, the workspace and sign-out, and the page
 * of the current path. Without an admin key in this tab's session, the sign-in form instead.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { onSessionChange, session } from './api';
import { LivePage } from './pages/live';
import { Login } from './pages/login';
import { MessagesPage } from './pages/messages';
import { TriggerPage } from './pages/trigger';
import { TriggersPage } from './pages/triggers';
import { UserPage } from './pages/user';
import { UsersPage } from './pages/users';
import { Link, routeOf, useLocation, type Route } from './routes';

const sections = [
  { href: '/triggers', label: 'Triggers', pages: ['triggers', 'trigger'] },
  { href: '/users', label: 'Users', pages: ['users', 'user'] },
  { href: '/messages', label: 'Messages', pages: ['messages'] },
  { href: '/live', label: 'Live', pages: ['live'] },
];

export function App() {
  const [, setVersion] = useState(0);
  useEffect(() => onSessionChange(() => setVersion((v) => v + 1)), []);
  const { pathname } = useLocation();
  // A new page (not a new query on the same one) takes the focus, as a page load would.
  const shown = useRef(pathname);
  useEffect(() => {
    if (shown.current === pathname) return;
    shown.current = pathname;
    document.getElementById('main')?.focus();
  }, [pathname]);
  if (!session.key) return <Login />;
  const route = routeOf(pathname);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Nudge</span>
        <nav aria-label="Sections">
          <ul>
            {sections.map((s) => (
              <li key={s.href}>
                <Link href={s.href} aria-current={s.pages.includes(route.page) ? 'page' : undefined}>
                  {s.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <WorkspacePicker />
        <button type="button" class="quiet" onClick={() => session.signOut()}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
    </>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'triggers':
      return <TriggersPage />;
    case 'trigger':
      return <TriggerPage key={route.id} id={route.id} />;
    case 'users':
      return <UsersPage />;
    case 'user':
      return <UserPage key={route.id} id={route.id} />;
    case 'messages':
      return <MessagesPage />;
    case 'live':
      return <LivePage />;
    case 'not-found':
      return (
        <>
          <h1>Not found</h1>
          <p>
            Nothing here. <Link href="/triggers">See the triggers</Link>.
          </p>
        </>
      );
  }
}

function WorkspacePicker() {
  const workspaces = session.workspaces;
  if (workspaces.length < 2) return workspaces[0] ? <span class="workspace">{workspaces[0].name}</span> : null;
  return (
    <label class="workspace">
      Workspace{' '}
      <select value={session.workspace ?? workspaces[0]!.id} onChange={(e) => session.setWorkspace(e.currentTarget.value)}>
        {workspaces.map((w) => (
          <option key={w.id} value={w.id}>
            {w.name}
          </option>
        ))}
      </select>
    </label>
  );
}
