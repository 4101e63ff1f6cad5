/**
 * Message templates: each part compiled (parsed) once per file version, rendered per message.
 *
 * Liquid as configured here reads no file (`include`, `render` and `layout` do not exist, and the
 * engine's file system is an empty in-memory map), refers to own properties only, refuses unknown
 * variables and filters, and stops a render that loops or allocates too much. A missing variable
 * is an error naming the file, the part and the variable: `nudge validate` catches a template that
 * names what no message has, and at send time it is a permanent failure of that channel.
 *
 * Data of a render:
 * - `user`: the profile as conditions see it — `userId`, `profileId`, `traits`, `computed`
 *   (counts, sums, times in ms since the epoch, `timezone`, `locale`).
 * - `event`: the run's entry event — `name`, `type`, `properties`, `timestamp` (ISO-8601).
 * - `message`: `triggerId`, `runId`, `stepId`, `channel`, `template`, `variants`.
 * - `now`: the render time (ISO-8601).
 * Filters beyond Liquid's own: `money`, `local_date` (filters.ts); `default` also accepts a
 * missing variable.
 */
import { analyzeSync, Liquid, type Template } from 'liquidjs';
import type { Profile } from '../profile.js';
import type { Channel } from '../trigger-definition.js';
import type { EventSummary, OutboundMessage } from '../triggers/state.js';
import type { TemplateDefinition } from './definition.js';
import { installFilters, renderFacts, type RenderFacts } from './filters.js';

/** Limits of one part. Counted limits (not time) decide, so a render fails the same way everywhere. */
export const templateLimits = {
  /** Characters of one part. */
  parseChars: 200_000,
  /** Tags and outputs rendered in one part. */
  renders: 100_000,
  /** Characters allocated by filters and loops in one part (Liquid's `memoryLimit`). */
  memory: 10_000_000,
  /** A last resort against a render that still runs too long, in ms of wall time. */
  renderMs: 500,
} as const;

/** The names a template may start a variable with. */
export const templateVariables = ['user', 'event', 'message', 'now'] as const;

function engine(escapeHtml: boolean): Liquid {
  const liquid = new Liquid({
    templates: {},
    strictVariables: true,
    strictFilters: true,
    ownPropertyOnly: true,
    // So that `{{ user.traits.name | default: 'there' }}` and `{% if user.traits.vip %}` work for users without the trait.
    lenientIf: true,
    parseLimit: templateLimits.parseChars,
    renderLimit: templateLimits.renderMs,
    memoryLimit: templateLimits.memory,
    // Liquid's own date filters: UTC and en-US unless told otherwise, never the machine's zone.
    timezoneOffset: 0,
    locale: 'en-US',
    ...(escapeHtml ? { outputEscape: 'escape' as const } : {}),
  });
  for (const tag of ['include', 'render', 'layout', 'block']) delete liquid.tags[tag];
  installFilters(liquid);
  return liquid;
}

const plain = engine(false);
const html = engine(true);

/** Parts whose output is HTML: values written into them are escaped unless `| raw`. */
const htmlParts = new Set(['email.html']);

export interface CompiledPart {
  name: string;
  liquid: Template[];
  html: boolean;
}

export interface CompiledTemplate {
  readonly id: string;
  readonly file: string;
  readonly definition: TemplateDefinition;
  /** The parts of each channel the template defines, in file order. */
  readonly channels: ReadonlyMap<string, readonly CompiledPart[]>;
}

/** A problem of a template, at a field of its file and optionally a position inside the string (1-based). */
export interface TemplateProblem {
  path: (string | number)[];
  message: string;
  within?: { line: number; column: number };
}

const partChannels = ['email', 'push', 'in_app', 'sms', 'webhook'] as const satisfies readonly Channel[];

/** Parses every part; fails with every problem found. */
export function compileTemplate(definition: TemplateDefinition, file: string): { ok: true; template: CompiledTemplate } | { ok: false; problems: TemplateProblem[] } {
  const problems: TemplateProblem[] = [];
  const channels = new Map<string, CompiledPart[]>();
  if (definition.email && definition.email.html === undefined && definition.email.text === undefined) {
    problems.push({ path: ['email'], message: 'an email needs an html or a text part (or both)' });
  }
  for (const channel of partChannels) {
    const parts = definition[channel] as Record<string, string> | undefined;
    if (!parts) continue;
    const compiled: CompiledPart[] = [];
    for (const [name, text] of Object.entries(parts)) {
      const isHtml = htmlParts.has(`${channel}.${name}`);
      const result = compilePart(text, isHtml, [channel, name]);
      if ('problems' in result) problems.push(...result.problems);
      else compiled.push({ name, liquid: result.liquid, html: isHtml });
    }
    channels.set(channel, compiled);
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, template: { id: definition.id, file, definition, channels } };
}

const positionSuffix = /, line:(\d+), col:(\d+)$/;

function compilePart(text: string, isHtml: boolean, path: (string | number)[]): { liquid: Template[] } | { problems: TemplateProblem[] } {
  let liquid: Template[];
  try {
    liquid = (isHtml ? html : plain).parse(text);
  } catch (error) {
    const message = firstLine(error);
    const at = positionSuffix.exec(message);
    const clean = message.replace(positionSuffix, '').replace(/^tag "?(include|render|layout|block)"? not found$/, 'templates cannot $1 other files');
    return { problems: [{ path, message: clean, ...(at ? { within: { line: Number(at[1]), column: Number(at[2]) } } : {}) }] };
  }
  // A name no render provides (`usr.name`) would fail every send: refuse it now.
  const unknown: TemplateProblem[] = [];
  for (const [name, uses] of Object.entries(analyzeSync(liquid, { partials: false }).globals)) {
    if ((templateVariables as readonly string[]).includes(name)) continue;
    const first = uses[0];
    unknown.push({
      path,
      message: `unknown variable "${name}" (known: ${templateVariables.join(', ')})`,
      ...(first ? { within: { line: first.location.row, column: first.location.col } } : {}),
    });
  }
  return unknown.length > 0 ? { problems: unknown } : { liquid };
}

const firstLine = (error: unknown): string => (error instanceof Error ? error.message : String(error)).split('\n')[0]!;

/** What a message is, for `message` in templates. */
export interface MessageInfo {
  triggerId: string;
  runId: string;
  stepId: string;
  channel: string;
  template: string;
  variants: Readonly<Record<string, string>>;
  /** The personal discount code reserved for the message, when its template asks for one. */
  code?: string;
  /** Until when the code is valid (ISO 8601). */
  code_expires_at?: string;
}

export interface RenderData {
  user: Profile | null;
  /** The run's entry event. */
  event: EventSummary | null;
  message: MessageInfo;
}

export type RenderedParts = Readonly<Record<string, string>>;

export const RenderFailure = {
  /** The template defines no parts for the channel. */
  noParts: 'no_parts',
  /** A part failed: a missing variable, a filter's error, a limit. */
  failed: 'render_failed',
  /** No template has the message's id. */
  unknownTemplate: 'unknown_template',
} as const;
export type RenderFailure = (typeof RenderFailure)[keyof typeof RenderFailure];

export type RenderResult = { ok: true; content: RenderedParts } | { ok: false; error: { code: RenderFailure; message: string } };

/** Renders the parts of `channel` for one message at `now` (ms since the epoch). Pure: same inputs, same output. */
export function renderMessage(template: CompiledTemplate, channel: string, data: RenderData, now: number): RenderResult {
  const parts = template.channels.get(channel);
  if (!parts) return { ok: false, error: { code: RenderFailure.noParts, message: `${template.file}: template "${template.id}" has no ${channel} parts` } };
  // Without a user or an event the name is left out, so a template that uses it fails as for any missing variable.
  const scope = {
    ...(data.user ? { user: { userId: data.user.userId, profileId: data.user.profileId, traits: data.user.traits, computed: data.user.computed } } : {}),
    ...(data.event ? { event: { name: data.event.name, type: data.event.type, properties: data.event.properties, timestamp: new Date(data.event.timestamp).toISOString() } } : {}),
    message: data.message,
    now: new Date(now).toISOString(),
  };
  const facts: RenderFacts = { now, locale: localeOf(data.user, template.definition.default_locale), timeZone: timeZoneOf(data.user), currency: template.definition.default_currency ?? null };
  const options = { globals: { [renderFacts]: facts }, templateLimit: templateLimits.renders };
  const content: Record<string, string> = {};
  for (const part of parts) {
    try {
      content[part.name] = String((part.html ? html : plain).renderSync(part.liquid, scope, options));
    } catch (error) {
      return { ok: false, error: { code: RenderFailure.failed, message: `${template.file}: ${channel}.${part.name}: ${firstLine(error)}` } };
    }
  }
  return { ok: true, content };
}

/** A personal discount code reserved for a message. */
export interface ReservedCode {
  code: string;
  expiresAt: number;
}

/** Renders an outbox message on one of its channels from the templates in force. */
export function renderOutbound(
  templates: ReadonlyMap<string, CompiledTemplate>,
  message: OutboundMessage,
  channel: string,
  user: Profile | null,
  now: number,
  code: ReservedCode | null = null,
): RenderResult {
  const template = templates.get(message.template);
  if (!template) return { ok: false, error: { code: RenderFailure.unknownTemplate, message: `no template "${message.template}"` } };
  return renderMessage(template, channel, {
    user,
    event: message.entry,
    message: {
      triggerId: message.triggerId,
      runId: message.runId,
      stepId: message.stepId,
      channel,
      template: message.template,
      variants: message.variants,
      ...(code ? { code: code.code, code_expires_at: new Date(code.expiresAt).toISOString() } : {}),
    },
  }, now);
}

const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** Whether Intl knows a locale tag or a time zone; asked once per value (asking costs a formatter). */
const known = new Map<string, boolean>();
const maxKnown = 4096;

function knows(kind: 'locale' | 'zone', value: string): boolean {
  const key = `${kind}|${value}`;
  let ok = known.get(key);
  if (ok === undefined) {
    try {
      ok = kind === 'locale' ? Intl.DateTimeFormat.supportedLocalesOf(value).length > 0 : Boolean(new Intl.DateTimeFormat('en-US', { timeZone: value }));
    } catch {
      ok = false;
    }
    if (known.size >= maxKnown) known.clear();
    known.set(key, ok);
  }
  return ok;
}

/** The user's locale if Intl knows it, else the template's default, else en-US. Browsers send en_US; Intl wants en-US. */
function localeOf(user: Profile | null, fallback: string | undefined): string {
  const candidates = [text(user?.computed.locale), text(user?.traits['locale']), fallback ?? null];
  return candidates.map((c) => c?.replace(/_/g, '-')).find((c): c is string => c !== undefined && knows('locale', c)) ?? 'en-US';
}

/** The user's IANA time zone if Intl knows it, else UTC. */
function timeZoneOf(user: Profile | null): string {
  return [text(user?.computed.timezone), text(user?.traits['timezone'])].find((c): c is string => c !== null && knows('zone', c)) ?? 'UTC';
}
