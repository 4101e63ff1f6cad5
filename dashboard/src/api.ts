/**
 * The management API, as the dashboard calls it: the admin key from the login form, kept in
 * sessionStorage (gone when the tab closes) and sent as `Authorization: Bearer`, never in a URL;
 * the workspace chosen in the header added to every call. Failures become `ApiError`s carrying the
 * API's `{error, message, issues}`.
 */
import type { Issue, Workspace } from './types';

const keyItem = 'nudge.adminKey';
const workspaceItem = 'nudge.workspace';
/** The workspaces, read once at sign-in: counting their events is not free on a large store. */
const workspacesItem = 'nudge.workspaces';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues: readonly Issue[] = [],
  ) {
    super(message);
  }
}

type Listener = () => void;
const listeners = new Set<Listener>();

/** Called when the key or the workspace changes (the app renders again). */
export function onSessionChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

const changed = () => listeners.forEach((l) => l());

export const session = {
  get key(): string | null {
    return sessionStorage.getItem(keyItem);
  },
  get workspace(): string | null {
    return sessionStorage.getItem(workspaceItem);
  },
  get workspaces(): Workspace[] {
    return JSON.parse(sessionStorage.getItem(workspacesItem) ?? '[]') as Workspace[];
  },
  signIn(key: string, workspaces: readonly Workspace[]): void {
    sessionStorage.setItem(workspacesItem, JSON.stringify(workspaces));
    if (!workspaces.some((w) => w.id === this.workspace)) sessionStorage.setItem(workspaceItem, workspaces[0]?.id ?? '');
    sessionStorage.setItem(keyItem, key);
    changed();
  },
  signOut(): void {
    sessionStorage.removeItem(keyItem);
    sessionStorage.removeItem(workspacesItem);
    changed();
  },
  setWorkspace(id: string): void {
    sessionStorage.setItem(workspaceItem, id);
    changed();
  },
};

export type Query = Record<string, string | number | boolean | undefined | null>;

/** `/api/v1<path>?<query>` with the workspace; empty values are left out. */
export function apiUrl(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  const workspace = session.workspace;
  if (workspace && !('workspace' in query)) params.set('workspace', workspace);
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const qs = params.toString();
  return `/api/v1${path}${qs ? `?${qs}` : ''}`;
}

export interface CallOptions {
  method?: string;
  query?: Query;
  /** Sent as JSON, or as it is with `contentType`. */
  body?: unknown;
  contentType?: string;
  /** A key to try instead of the stored one (the login form). */
  key?: string;
  signal?: AbortSignal;
}

export async function call<T>(path: string, options: CallOptions = {}): Promise<T> {
  const key = options.key ?? session.key;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (key) headers['authorization'] = `Bearer ${key}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['content-type'] = options.contentType ?? 'application/json';
    body = options.contentType ? String(options.body) : JSON.stringify(options.body);
  }
  const response = await fetch(apiUrl(path, options.query), { method: options.method ?? 'GET', headers, body, signal: options.signal });
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const e = (parsed ?? {}) as { error?: string; message?: string; issues?: Issue[] };
    // The stored key no longer works (the server's keys changed): ask for it again.
    if (response.status === 401 && options.key === undefined && session.key) session.signOut();
    throw new ApiError(response.status, e.error ?? 'http_error', e.message ?? `HTTP ${response.status}`, e.issues ?? []);
  }
  return parsed as T;
}
