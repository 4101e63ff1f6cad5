/**
 * The snippet's options, as a site passes them to `nudge('init', {...})` (or as attributes of the
 * script tag), and their defaults. Pure.
 */
import { defaultExitIntentOptions, type ExitIntentOptions } from './cues/exit-intent.js';
import { defaultFormIdleMs } from './cues/forms.js';
import type { CueSwitches } from './cues/page-cues.js';
import { defaultLabels, type MessageLabels } from './inbox.js';

export interface SnippetOptions {
  /** The workspace's write key. Required. */
  writeKey: string;
  /** Nudge's address. Default: the origin nudge.js was loaded from. */
  host?: string;
  /** The signed-in user's inbox token, minted by the site's backend; also `identify(id, traits, {token})`. */
  token?: string;
  /** Events per batch; this many waiting are sent at once. Default 20. */
  flushAt?: number;
  /** Longest wait of an event before it is sent, in ms. Default 1,000. */
  flushIntervalMs?: number;
  /** Quiet time that ends a session, in ms. Default 30 minutes. */
  sessionTimeoutMs?: number;
  /** Cues captured without code, each on by default; `false` switches them all off. */
  cues?: false | CueOptions;
  /** The in-app channel: messages from the live stream shown on the page. `false`: no stream. */
  inApp?: false | { render?: boolean; labels?: Partial<MessageLabels> };
}

export interface CueOptions {
  /** A page view at start; `'history'`: also when a single-page app navigates (pushState, back/forward). */
  pageViews?: boolean | 'history';
  dwell?: boolean;
  scroll?: boolean;
  exitIntent?: boolean | Partial<ExitIntentOptions>;
  clicks?: boolean;
  forms?: boolean | { idleMs?: number };
  checkout?: boolean;
}

export interface ResolvedOptions {
  writeKey: string;
  host: string;
  token: string | null;
  queue: { flushAt?: number; flushIntervalMs?: number };
  sessionTimeoutMs: number | undefined;
  pageViews: boolean;
  history: boolean;
  cues: CueSwitches;
  inApp: false | { render: boolean; labels: MessageLabels };
}

/** Options completed with their defaults; `scriptOrigin` is where nudge.js came from. */
export function resolveOptions(options: SnippetOptions, scriptOrigin: string): ResolvedOptions {
  if (typeof options?.writeKey !== 'string' || options.writeKey === '') throw new Error('nudge: init needs a writeKey');
  const cues: CueOptions = options.cues === false ? allOff : (options.cues ?? {});
  const inApp = options.inApp;
  return {
    writeKey: options.writeKey,
    host: (options.host ?? scriptOrigin).replace(/\/+$/, ''),
    token: options.token ?? null,
    queue: { flushAt: options.flushAt, flushIntervalMs: options.flushIntervalMs },
    sessionTimeoutMs: options.sessionTimeoutMs,
    pageViews: cues.pageViews !== false,
    history: cues.pageViews === 'history',
    cues: {
      dwell: cues.dwell !== false,
      scroll: cues.scroll !== false,
      exitIntent: cues.exitIntent === false ? false : { ...defaultExitIntentOptions, ...(typeof cues.exitIntent === 'object' ? cues.exitIntent : {}) },
      clicks: cues.clicks !== false,
      forms: cues.forms === false ? false : { idleMs: (typeof cues.forms === 'object' ? cues.forms.idleMs : undefined) ?? defaultFormIdleMs },
      checkout: cues.checkout !== false,
    },
    inApp: inApp === false ? false : { render: inApp?.render ?? true, labels: { ...defaultLabels, ...inApp?.labels } },
  };
}

const allOff: CueOptions = { pageViews: false, dwell: false, scroll: false, exitIntent: false, clicks: false, forms: false, checkout: false };
