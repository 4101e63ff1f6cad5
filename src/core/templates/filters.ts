/**
 * Liquid filters that need to know whom and when a message is for: `money` and `local_date`
 * format for the user's locale and time zone, and the built-in date filters take "now" from the
 * render time instead of the wall clock (the core reads no clock). Each render passes these facts
 * under a symbol key of its globals, which no template can name.
 */
import { filters as builtin, type FilterImplOptions, type Liquid } from 'liquidjs';

/** Who and when a render is for. */
export interface RenderFacts {
  now: number;
  locale: string;
  timeZone: string;
  currency: string | null;
}

export const renderFacts = Symbol('nudge render facts');

interface FilterThis {
  context: { globals: object };
}

const factsOf = (self: FilterThis): RenderFacts => {
  const facts = (self.context.globals as { [renderFacts]?: RenderFacts })[renderFacts];
  if (!facts) throw new Error('rendered without facts'); // only renderMessage renders
  return facts;
};

/** Intl formatters cost far more to build than to use: kept per (locale, options). */
const formatters = new Map<string, Intl.DateTimeFormat | Intl.NumberFormat>();
const maxFormatters = 512;

function cached<T extends Intl.DateTimeFormat | Intl.NumberFormat>(key: string, make: () => T): T {
  let f = formatters.get(key);
  if (!f) {
    if (formatters.size >= maxFormatters) formatters.clear();
    f = make();
    formatters.set(key, f);
  }
  return f as T;
}

/** Milliseconds since the epoch from a number of ms, an ISO-8601 string, or "now". */
function instantOf(value: unknown, facts: RenderFacts, filter: string): number {
  if (value === 'now' || value === 'today') return facts.now;
  const ms = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) throw new Error(`${filter}: expected a time (ms since the epoch or ISO-8601), got ${JSON.stringify(value) ?? String(value)}`);
  return ms;
}

const dateStyles = ['full', 'long', 'medium', 'short', 'none'] as const;
type DateStyle = (typeof dateStyles)[number];

function styleOf(value: unknown, filter: string): DateStyle {
  if (typeof value === 'string' && (dateStyles as readonly string[]).includes(value)) return value as DateStyle;
  throw new Error(`${filter}: a style is one of ${dateStyles.join(', ')}, not ${JSON.stringify(value)}`);
}

/** `{{ t | local_date }}`, `{{ t | local_date: 'long', 'short' }}`: date style (default medium), time style (default none). */
function localDate(this: FilterThis, value: unknown, dateStyle: unknown = 'medium', timeStyle: unknown = 'none'): string {
  const facts = factsOf(this);
  const ms = instantOf(value, facts, 'local_date');
  const d = styleOf(dateStyle, 'local_date');
  const t = styleOf(timeStyle, 'local_date');
  const options: Intl.DateTimeFormatOptions = { timeZone: facts.timeZone, ...(d === 'none' ? {} : { dateStyle: d }), ...(t === 'none' ? {} : { timeStyle: t }) };
  if (d === 'none' && t === 'none') throw new Error('local_date: give a date style, a time style or both');
  const f = cached(`d|${facts.locale}|${facts.timeZone}|${d}|${t}`, () => new Intl.DateTimeFormat(facts.locale, options));
  return (f as Intl.DateTimeFormat).format(new Date(ms));
}

/** `{{ amount | money }}`, `{{ amount | money: 'USD' }}`, `{{ amount | money: 'EUR', 'de-DE' }}`. */
function money(this: FilterThis, amount: unknown, currency?: unknown, locale?: unknown): string {
  const facts = factsOf(this);
  const n = typeof amount === 'number' ? amount : typeof amount === 'string' && amount.trim() !== '' ? Number(amount) : Number.NaN;
  if (!Number.isFinite(n)) throw new Error(`money: expected an amount, got ${JSON.stringify(amount) ?? String(amount)}`);
  const code = currency ?? facts.currency;
  if (typeof code !== 'string' || !/^[A-Za-z]{3}$/.test(code)) {
    throw new Error(code == null ? "money: no currency: give one (money: 'EUR') or set default_currency in the template" : `money: ${JSON.stringify(code)} is not an ISO 4217 currency code`);
  }
  const lang = typeof locale === 'string' ? locale : facts.locale;
  try {
    return (cached(`n|${lang}|${code}`, () => new Intl.NumberFormat(lang, { style: 'currency', currency: code })) as Intl.NumberFormat).format(n);
  } catch (error) {
    throw new Error(`money: ${(error as Error).message}`);
  }
}

/** The built-in date filters read the wall clock for "now" and "today": give them the render time. */
const clockReadingFilters = ['date', 'date_to_xmlschema', 'date_to_rfc822', 'date_to_string', 'date_to_long_string'] as const;

export function installFilters(liquid: Liquid): void {
  liquid.registerFilter('local_date', localDate as FilterImplOptions);
  liquid.registerFilter('money', money as FilterImplOptions);
  for (const name of clockReadingFilters) {
    const original = builtin[name] as (this: unknown, v: unknown, ...args: unknown[]) => unknown;
    liquid.registerFilter(name, function (this: FilterThis, value: unknown, ...args: unknown[]) {
      return original.call(this, value === 'now' || value === 'today' ? new Date(factsOf(this).now) : value, ...args);
    } as FilterImplOptions);
  }
}
