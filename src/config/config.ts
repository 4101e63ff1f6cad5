/**
 * Loads nudge.yaml into one typed, defaulted `Config`. Errors name the file, line, column and
 * field. `${NAME}` in a string is replaced by the environment variable NAME (an unset variable is
 * an error), so keys need not live in the file.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { parseDuration } from '../core/duration.js';
import { ConfigError, type Issue } from '../core/errors.js';
import { defaultEventLimits, type EventLimits } from '../core/event.js';
import { compileCodeKind, type CodeKind } from '../core/delivery/discount-codes.js';
import type { UtmTemplate } from '../core/delivery/links.js';
import type { DeliveryPolicy } from '../core/delivery/policy.js';
import { compilePhases, type PhaseRules } from '../core/phases.js';
import { defaultProfileOptions, type ProfileOptions } from '../core/profile.js';
import { ConfigSchema, type ConfigFile } from './schema.js';
import { YamlSource, type YamlPath } from './yaml-source.js';

export interface Workspace {
  id: string;
  name: string;
  writeKeys: string[];
  /** Signs users' in-app tokens; default: one kept in the data directory. */
  inboxSecret?: string;
}

export type ChannelConfig =
  | { kind: 'webhook'; url: string; headers: Record<string, string>; timeoutMs: number; secret?: string; allowPrivateNetworks: boolean }
  | { kind: 'smtp'; host: string; port: number; secure?: boolean; user?: string; pass?: string; from: string; replyTo?: string; timeoutMs: number }
  | {
      kind: 'web-push';
      subject: string;
      vapid: { publicKey: string; privateKey: string } | null;
      ttlSeconds: number;
      urgency: 'very-low' | 'low' | 'normal' | 'high';
      timeoutMs: number;
      allowPrivateNetworks: boolean;
      /** Extra trusted certificates (PEM file, absolute path). */
      caFile: string | null;
    }
  | {
      kind: 'twilio';
      baseUrl: string;
      accountSid: string;
      authToken: string;
      from?: string;
      messagingServiceSid?: string;
      statusCallback: boolean;
      maxSegments: number;
      timeoutMs: number;
      helpText?: string;
    }
  | { kind: 'in-app'; ttlMs: number }
  | { kind: 'log' };

export interface Config {
  /** The file it was read from, and the folder triggers and templates are read from. */
  file: string;
  projectDir: string;
  workspaces: Workspace[];
  adminKeys: string[];
  storage: { driver: 'sqlite' | 'memory'; file: string; synchronous: 'full' | 'normal'; cacheMiB: number; writerThread: boolean };
  ingest: EventLimits & { maxBatchBytes: number; dedupWindowMs: number; dedupMaxEntries: number };
  profiles: ProfileOptions & { cacheMaxProfiles: number; checkpointIntervalMs: number };
  triggers: { dir: string; watch: boolean };
  templates: { dir: string; watch: boolean };
  /** Provider per channel name. */
  channels: Record<string, ChannelConfig>;
  delivery: { maxAttempts: number; backoffMs: number; policy: DeliveryPolicy };
  /** Where people reach the server, for links in messages; null: the address it listens on. */
  publicUrl: string | null;
  tracking: { clicks: boolean; opens: boolean; utm: UtmTemplate | null; secret: string | null };
  /** Personal discount code kinds, by name. */
  codes: Map<string, CodeKind>;
  /** The example project's demo shop (site folder, absolute) and the mail server it stands in for; null in a real project. */
  demo: { siteDir: string; mail: { host: string; port: number } | null } | null;
}


const validate = new Ajv({ allErrors: true, useDefaults: false }).compile<ConfigFile>(ConfigSchema);

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [{ path: '', message: `cannot read: ${(error as Error).message}` }]);
  }
  return parseConfig(text, file, env);
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = {}): Config {
  const source = new YamlSource(text, file);
  const located = (pathParts: YamlPath, message: string): Issue => source.issue(pathParts, message);
  const syntax = source.syntaxIssues();
  if (syntax.length > 0) throw new ConfigError(file, syntax);
  const doc = source.doc;

  const issues: Issue[] = [];
  const raw = substituteEnv(doc.toJS(), env, [], (p, m) => issues.push(located(p, m)));
  if (issues.length > 0) throw new ConfigError(file, issues);
  if (!validate(raw)) throw new ConfigError(file, source.schemaIssues(validate.errors ?? []));
  const c = raw;

  const ids = new Set<string>();
  const writeKeys = new Set<string>();
  c.workspaces.forEach((w, i) => {
    if (ids.has(w.id)) issues.push(located(['workspaces', i, 'id'], `duplicate workspace id "${w.id}"`));
    ids.add(w.id);
    w.writeKeys.forEach((k, j) => {
      if (writeKeys.has(k)) issues.push(located(['workspaces', i, 'writeKeys', j], 'write key used twice'));
      writeKeys.add(k);
    });
  });
  for (const [name, p] of Object.entries(c.channels ?? {})) {
    if ([p.webhook, p.log, p.smtp, p.webPush, p.twilio, p.inApp].filter(Boolean).length !== 1) {
      issues.push(located(['channels', name], 'give exactly one provider: smtp: { host, port, from }, inApp: {}, webPush: { subject }, twilio: { accountSid, authToken, from }, webhook: { url } or log: true'));
    }
    if (p.twilio?.statusCallback && c.publicUrl === undefined) {
      issues.push(located(['channels', name, 'twilio', 'statusCallback'], 'needs publicUrl: the address Twilio reports to'));
    }
    if (p.twilio && (p.twilio.from === undefined) === (p.twilio.messagingServiceSid === undefined)) {
      issues.push(located(['channels', name, 'twilio'], 'give from or messagingServiceSid (one of them)'));
    }
    if (p.webPush && (p.webPush.vapidPublicKey === undefined) !== (p.webPush.vapidPrivateKey === undefined)) {
      issues.push(located(['channels', name, 'webPush'], 'give both vapidPublicKey and vapidPrivateKey, or neither (a pair is then made and kept in the data directory)'));
    }
  }
  for (const provider of ['webPush', 'twilio'] as const) {
    const named = Object.entries(c.channels ?? {}).filter(([, p]) => p[provider]).map(([name]) => name);
    // One VAPID key for the browsers to subscribe with; one Twilio account to check incoming messages with.
    if (named.length > 1) issues.push(located(['channels', named[1]!], `only one channel may use ${provider}; ${named[0]} does already`));
  }
  const codes = new Map<string, CodeKind>();
  for (const [name, definition] of Object.entries(c.codes ?? {})) {
    const compiled = compileCodeKind(name, definition);
    if (compiled.ok) codes.set(name, compiled.kind);
    else for (const p of compiled.problems) issues.push(located(['codes', name, ...p.path], p.message));
  }
  for (const name of Object.keys(c.profiles?.latest ?? {})) {
    if (!/^[a-z][a-z0-9_]*$/.test(name)) issues.push(source.issue(['profiles', 'latest', name], 'a name is lower-case letters, digits and _, starting with a letter', { atKey: true }));
  }
  const demoMail = c.demo?.mail === undefined ? undefined : c.channels?.[c.demo.mail]?.smtp;
  if (c.demo?.mail !== undefined && demoMail === undefined) issues.push(located(['demo', 'mail'], `no smtp channel "${c.demo.mail}" in channels`));
  if (demoMail && !['127.0.0.1', 'localhost', '::1'].includes(demoMail.host)) {
    issues.push(located(['demo', 'mail'], `the demo listens on loopback only; channel ${c.demo!.mail}'s smtp host is ${demoMail.host}`));
  }
  let phases: PhaseRules | null = null;
  if (c.phases) {
    const compiled = compilePhases(c.phases);
    if (compiled.ok) phases = compiled.phases;
    else for (const p of compiled.problems) issues.push(source.issue(['phases', ...p.path], p.message, p.within ? { within: p.within } : {}));
  }
  if (issues.length > 0) throw new ConfigError(file, issues);

  const ms = (value: string | undefined, fallback: number): number => {
    if (value === undefined) return fallback;
    const parsed = parseDuration(value);
    return parsed.ok ? parsed.ms : fallback; // the schema's pattern already rejected bad ones
  };

  return {
    file,
    projectDir: path.dirname(path.resolve(file)),
    workspaces: c.workspaces.map((w) => ({ id: w.id, name: w.name ?? w.id, writeKeys: w.writeKeys, ...(w.inboxSecret === undefined ? {} : { inboxSecret: w.inboxSecret }) })),
    adminKeys: c.admin.keys,
    storage: {
      driver: c.storage?.driver ?? 'sqlite',
      file: c.storage?.file ?? 'nudge.db',
      synchronous: c.storage?.synchronous ?? 'full',
      cacheMiB: c.storage?.cacheMiB ?? 64,
      writerThread: c.storage?.writerThread ?? false,
    },
    ingest: {
      maxEventBytes: c.ingest?.maxEventBytes ?? defaultEventLimits.maxEventBytes,
      maxFutureMs: ms(c.ingest?.maxFutureSkew, defaultEventLimits.maxFutureMs),
      maxBatchBytes: c.ingest?.maxBatchBytes ?? 512_000,
      dedupWindowMs: ms(c.ingest?.dedupWindow, 86_400_000),
      dedupMaxEntries: c.ingest?.dedupMaxEntries ?? 5_000_000,
    },
    profiles: {
      sessionTimeoutMs: ms(c.profiles?.sessionTimeout, defaultProfileOptions.sessionTimeoutMs),
      sumProperties: c.profiles?.sumProperties ?? defaultProfileOptions.sumProperties,
      pageLeaveEvents: c.profiles?.pageLeaveEvents ?? defaultProfileOptions.pageLeaveEvents,
      latest: Object.entries(c.profiles?.latest ?? {}).map(([name, l]) => ({ name, event: l.event, property: l.property, clearedBy: l.clearedBy ?? [] })),
      phases,
      cacheMaxProfiles: c.profiles?.cacheMaxProfiles ?? 100_000,
      checkpointIntervalMs: ms(c.profiles?.checkpointInterval, 5000),
    },
    triggers: {
      dir: path.resolve(path.dirname(path.resolve(file)), c.triggers?.dir ?? 'triggers'),
      watch: c.triggers?.watch ?? true,
    },
    templates: {
      dir: path.resolve(path.dirname(path.resolve(file)), c.templates?.dir ?? 'templates'),
      watch: c.templates?.watch ?? true,
    },
    channels: Object.fromEntries(
      Object.entries(c.channels ?? {}).map(([name, p]): [string, ChannelConfig] => [
        name,
        p.webhook
          ? {
              kind: 'webhook',
              url: p.webhook.url,
              headers: p.webhook.headers ?? {},
              timeoutMs: ms(p.webhook.timeout, 10_000),
              ...(p.webhook.secret === undefined ? {} : { secret: p.webhook.secret }),
              allowPrivateNetworks: p.webhook.allowPrivateNetworks ?? false,
            }
          : p.smtp
            ? {
                kind: 'smtp',
                host: p.smtp.host,
                port: p.smtp.port,
                from: p.smtp.from,
                timeoutMs: ms(p.smtp.timeout, 30_000),
                ...(p.smtp.secure === undefined ? {} : { secure: p.smtp.secure }),
                ...(p.smtp.user === undefined ? {} : { user: p.smtp.user }),
                ...(p.smtp.pass === undefined ? {} : { pass: p.smtp.pass }),
                ...(p.smtp.replyTo === undefined ? {} : { replyTo: p.smtp.replyTo }),
              }
            : p.webPush
              ? {
                  kind: 'web-push',
                  subject: p.webPush.subject,
                  vapid: p.webPush.vapidPublicKey && p.webPush.vapidPrivateKey ? { publicKey: p.webPush.vapidPublicKey, privateKey: p.webPush.vapidPrivateKey } : null,
                  ttlSeconds: Math.round(ms(p.webPush.ttl, 86_400_000) / 1000),
                  urgency: p.webPush.urgency ?? 'normal',
                  timeoutMs: ms(p.webPush.timeout, 10_000),
                  allowPrivateNetworks: p.webPush.allowPrivateNetworks ?? false,
                  caFile: p.webPush.ca === undefined ? null : path.resolve(path.dirname(path.resolve(file)), p.webPush.ca),
                }
              : p.twilio
                ? {
                    kind: 'twilio',
                    baseUrl: p.twilio.baseUrl ?? 'https://api.twilio.com',
                    accountSid: p.twilio.accountSid,
                    authToken: p.twilio.authToken,
                    ...(p.twilio.from === undefined ? {} : { from: p.twilio.from }),
                    ...(p.twilio.messagingServiceSid === undefined ? {} : { messagingServiceSid: p.twilio.messagingServiceSid }),
                    statusCallback: p.twilio.statusCallback ?? c.publicUrl !== undefined,
                    maxSegments: p.twilio.maxSegments ?? 10,
                    timeoutMs: ms(p.twilio.timeout, 15_000),
                    ...(p.twilio.helpText === undefined ? {} : { helpText: p.twilio.helpText }),
                  }
                : p.inApp
                  ? { kind: 'in-app', ttlMs: ms(p.inApp.ttl, 30 * 86_400_000) }
                  : { kind: 'log' },
      ]),
    ),
    delivery: {
      maxAttempts: c.delivery?.maxAttempts ?? 5,
      backoffMs: ms(c.delivery?.backoff, 1000),
      policy: {
        caps: (c.delivery?.caps ?? []).map((cap) => ({
          max: cap.max,
          windowMs: ms(cap.per, 3_600_000),
          ...(cap.channel === undefined ? {} : { channel: cap.channel }),
          ...(cap.trigger === undefined ? {} : { triggerId: cap.trigger }),
        })),
        quietHours: c.delivery?.quietHours
          ? { from: c.delivery.quietHours.from, to: c.delivery.quietHours.to, action: c.delivery.quietHours.action ?? 'defer', ...(c.delivery.quietHours.channels ? { channels: c.delivery.quietHours.channels } : {}) }
          : null,
        defaultConsent: c.delivery?.consent ?? 'granted',
      },
    },
    publicUrl: c.publicUrl?.replace(/\/+$/, '') ?? null,
    tracking: {
      clicks: c.tracking?.clicks ?? true,
      opens: c.tracking?.opens ?? true,
      utm:
        c.tracking?.utm === false
          ? null
          : { source: 'nudge', medium: '{channel}', campaign: '{trigger}', content: '{step}', ...c.tracking?.utm },
      secret: c.tracking?.secret ?? null,
    },
    codes,
    demo: c.demo
      ? { siteDir: path.resolve(path.dirname(path.resolve(file)), c.demo.site), mail: demoMail ? { host: demoMail.host, port: demoMail.port } : null }
      : null,
  };
}

function substituteEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  at: (string | number)[],
  report: (path: (string | number)[], message: string) => void,
): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (_, name: string) => {
      const v = env[name];
      if (v === undefined) report(at, `environment variable ${name} is not set`);
      return v ?? '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, [...at, i], report));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, [...at, k], report)]));
  }
  return value;
}
