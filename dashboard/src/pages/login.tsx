/** Sign in with an admin key (from nudge.yaml): checked against the API, then kept for this tab only. */
import { useState } from 'preact/hooks';
import { ApiError, call, session } from '../api';
import type { Workspace } from '../types';
import { useTitle } from '../ui';

export function Login() {
  useTitle('Sign in');
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const workspaces = await call<Workspace[]>('/workspaces', { key: key.trim(), query: { workspace: undefined } });
      session.signIn(key.trim(), workspaces);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'That key was not accepted. Use one of the admin keys in nudge.yaml.' : (err as Error).message);
      setBusy(false);
    }
  };

  return (
    <main id="main" class="login">
      <h1>Nudge</h1>
      <form onSubmit={submit} aria-describedby="login-help">
        <label for="admin-key">Admin key</label>
        <input
          id="admin-key"
          type="password"
          autoComplete="off"
          required
          value={key}
          onInput={(e) => setKey(e.currentTarget.value)}
          aria-invalid={error ? 'true' : undefined}
          aria-errormessage={error ? 'login-error' : undefined}
        />
        <p id="login-help" class="muted">
          One of <code>admin.keys</code> in nudge.yaml. It is kept in this tab only, until you close it or sign out.
        </p>
        {error && (
          <p id="login-error" class="notice error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
