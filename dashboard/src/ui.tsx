/** Pieces every page uses: loading data from the API, errors, status badges, key/value lists. */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, call, session, type Query } from './api';

export interface Loaded<T> {
  data: T | null;
  error: Error | null;
  loading: boolean;
  /** Loads again; the data shown stays until the new data is there. */
  reload: () => void;
}

/** GETs `path` (null: nothing yet), again when it, the query or the workspace changes, and every `refreshMs`. */
export function useApi<T>(path: string | null, query: Query = {}, refreshMs?: number): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: Error | null; loading: boolean }>({ data: null, error: null, loading: path !== null });
  const [tick, setTick] = useState(0);
  const identity = JSON.stringify([path, query, session.workspace]);
  const shownIdentity = useRef(identity);
  const reload = useCallback(() => setTick((t) => t + 1), []);

  useEffect(() => {
    if (path === null) return;
    const abort = new AbortController();
    const fresh = shownIdentity.current !== identity;
    shownIdentity.current = identity;
    setState((s) => ({ data: fresh ? null : s.data, error: null, loading: true }));
    call<T>(path, { query, signal: abort.signal }).then(
      (data) => setState({ data, error: null, loading: false }),
      (error: Error) => abort.signal.aborted || setState((s) => ({ data: s.data, error, loading: false })),
    );
    return () => abort.abort();
  }, [identity, tick]);

  useEffect(() => {
    if (!refreshMs || path === null) return;
    const timer = setInterval(reload, refreshMs);
    return () => clearInterval(timer);
  }, [identity, refreshMs]);

  return { ...state, reload };
}

export function ErrorNotice({ error }: { error: Error | null }) {
  if (!error) return null;
  const status = error instanceof ApiError ? ` (HTTP ${error.status})` : '';
  return (
    <p class="notice error" role="alert">
      {error.message}
      {status}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="muted" role="status">
      Loading {what}…
    </p>
  );
}

const statusClass: Record<string, string> = { delivered: 'ok', failed: 'bad', suppressed: 'warn', pending: 'info' };

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge ${statusClass[status] ?? 'info'}`}>{status}</span>;
}

/** A definition list of label -> value, dense. */
export function Facts({ items }: { items: [string, ComponentChildren][] }) {
  return (
    <dl class="facts">
      {items.map(([label, value]) => (
        <div key={label}>
          <dt>{label}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

export function Section({ title, id, children, actions }: { title: string; id: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="panel" aria-labelledby={id}>
      <div class="panel-head">
        <h2 id={id}>{title}</h2>
        {actions}
      </div>
      {children}
    </section>
  );
}

/** Sets the document title for the page. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · Nudge`;
  }, [title]);
}

/** Counts as "label n, label n", largest first. */
export function Counts({ counts, empty = '0' }: { counts: Record<string, number>; empty?: string }) {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return <span class="muted">{empty}</span>;
  return (
    <span>
      {entries.map(([label, n], i) => (
        <span key={label}>
          {i > 0 ? ', ' : ''}
          {label} <strong>{n.toLocaleString()}</strong>
        </span>
      ))}
    </span>
  );
}
