/**
 * Starts a real Nudge server for a test: its own temporary data directory (SQLite by default),
 * a free port on 127.0.0.1, and a clean shutdown that leaves no handles behind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig, type Config } from '../../src/config/config.js';
import { createNudge, type Nudge } from '../../src/main.js';
import type { Clock } from '../../src/ports/clock.js';
import type { Wakeup } from '../../src/ports/wakeup.js';

export const writeKey = 'test-write-key';
export const adminKey = 'test-admin-key';

export function testConfig(extraYaml = '', driver: 'sqlite' | 'memory' = 'sqlite'): Config {
  return parseConfig(
    `workspaces:
  - id: test
    writeKeys: [${writeKey}]
  - id: other
    writeKeys: [other-write-key]
admin:
  keys: [${adminKey}]
storage:
  driver: ${driver}
${extraYaml}`,
    'test.yaml',
  );
}

export interface RunningNudge extends Nudge {
  url: string;
  dataDir: string;
  /** Calls the management API with the admin key; returns status and parsed body. */
  api<T = any>(pathAndQuery: string, init?: RequestInit): Promise<{ status: number; body: T }>;
  stop(): Promise<void>;
}

export async function startNudge(
  options: { config?: Config; clock?: Clock; wakeups?: { timers: Wakeup; outbox: Wakeup }; dataDir?: string } = {},
): Promise<RunningNudge> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'nudge-test-'));
  const nudge = await createNudge({ config: options.config ?? testConfig(), dataDir, clock: options.clock, wakeups: options.wakeups });
  const url = await nudge.listen(0);
  return {
    ...nudge,
    url,
    dataDir,
    async api(pathAndQuery, init = {}) {
      const res = await fetch(`${url}/api/v1${pathAndQuery}`, {
        ...init,
        headers: { authorization: `Bearer ${adminKey}`, ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers },
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    async stop() {
      await nudge.close();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface SendOptions {
  /** Write key sent as the Basic auth user; null sends no Authorization header. Default: the test key. */
  key?: string | null;
  headers?: Record<string, string>;
}

/** POSTs a body (objects as JSON, strings and bytes as given) to an ingestion path. */
export async function send(url: string, pathname: string, body: unknown, options: SendOptions = {}): Promise<{ status: number; body: any; bytes: number }> {
  const key = options.key === undefined ? writeKey : options.key;
  const res = await fetch(`${url}${pathname}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(key === null ? {} : { authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` }),
      ...options.headers,
    },
    body: typeof body === 'string' || body instanceof Uint8Array ? (body as BodyInit) : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, body: parsed, bytes: Buffer.byteLength(text) };
}
