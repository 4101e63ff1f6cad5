/**
 * nudge.js: installs `window.nudge`, the snippet's one global.
 *
 * Calls made before the script loaded wait in the stub's queue (`nudge.q`, filled by
 * `nudge('track', …)`) and run in order; calls made before `init` wait for it. After loading,
 * `nudge('method', …args)` and `nudge.method(…args)` are the same. A script tag with
 * `data-write-key` (and optionally `data-host`) initialises by itself.
 */
import { NudgeClient } from './dom/client.js';
import { resolveOptions, type SnippetOptions } from './options.js';

type Method = Exclude<keyof NudgeClient, 'constructor'>;
const methods: readonly Method[] = ['track', 'page', 'identify', 'reset', 'flush', 'user', 'on', 'report', 'subscribePush', 'unsubscribePush'];

interface Stub {
  (...args: unknown[]): unknown;
  q?: ArrayLike<unknown>[];
}

const win = window;
const queued = (win as unknown as { nudge?: Stub }).nudge?.q ?? [];
const script = document.currentScript as HTMLScriptElement | null;
const scriptOrigin = script?.src ? new URL(script.src).origin : location.origin;
let client: NudgeClient | null = null;
const waiting: unknown[][] = [];

function call(method: string, ...args: unknown[]): unknown {
  if (method === 'init') {
    if (client) return console.warn('nudge: init was called twice; the second is ignored');
    client = new NudgeClient(win, resolveOptions(args[0] as SnippetOptions, scriptOrigin));
    for (const [m, ...a] of waiting.splice(0)) call(m as string, ...a);
    return;
  }
  if (!methods.includes(method as Method)) return console.warn(`nudge: no method "${method}"`);
  if (!client) return void waiting.push([method, ...args]);
  return (client[method as Method] as (...a: unknown[]) => unknown)(...args);
}

const nudge = Object.assign(
  (method: string, ...args: unknown[]) => call(method, ...args),
  Object.fromEntries(['init', ...methods].map((m) => [m, (...args: unknown[]) => call(m, ...args)])),
);
(win as unknown as { nudge: unknown }).nudge = nudge;

const writeKey = script?.getAttribute('data-write-key');
if (writeKey) call('init', { writeKey, host: script!.getAttribute('data-host') ?? undefined });
for (const args of queued) call(...(Array.from(args) as [string, ...unknown[]]));
