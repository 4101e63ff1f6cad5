/**
 * The functions an expression may call: CEL's standard library as far as triggers need it, plus
 * `lowerAscii`, `upperAscii` and `trim` from cel-go's strings extension. Macros (has, all, exists,
 * exists_one, map, filter) and `matches` (whose pattern is compiled once) live in the compiler.
 *
 * Times are milliseconds since the epoch and durations are milliseconds, as everywhere in Nudge:
 * `duration("3m")` is 180000 and `timestamp("2026-11-29T12:00:00Z")` is 1795953600000.
 */
import { codePointLength, Fault, isMap, typeName } from './values.js';

export type StaticType = 'int' | 'uint' | 'double' | 'string' | 'bool' | 'null' | 'list' | 'map' | 'dyn';

export interface FunctionDef {
  /** Callable as `name(x, …)`. */
  global: boolean;
  /** Callable as `x.name(…)`; the receiver is the first argument. */
  method: boolean;
  /** Number of arguments, counting a method's receiver. */
  arity: 1 | 2;
  result: StaticType;
  /** Arguments are never Faults (the compiler checks first); returns a value or a Fault. */
  impl(a: unknown, b: unknown, at: number): unknown;
}

const noOverload = (name: string, ...args: unknown[]) => (at: number) => new Fault(`no such overload: ${name}(${args.map(typeName).join(', ')})`, at);

function stringMethod(name: string, test: (s: string, arg: string) => boolean): FunctionDef {
  return {
    global: false,
    method: true,
    arity: 2,
    result: 'bool',
    impl: (s, arg, at) => (typeof s === 'string' && typeof arg === 'string' ? test(s, arg) : noOverload(name, s, arg)(at)),
  };
}

function stringTransform(name: string, transform: (s: string) => string): FunctionDef {
  return { global: false, method: true, arity: 1, result: 'string', impl: (s, _, at) => (typeof s === 'string' ? transform(s) : noOverload(name, s)(at)) };
}

const integerPattern = /^[+-]?\d+$/;
const doublePattern = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function toInteger(name: 'int' | 'uint', value: unknown, at: number): unknown {
  let n: number;
  if (typeof value === 'number') n = Math.trunc(value);
  else if (typeof value === 'string' && integerPattern.test(value)) n = Number(value);
  else return new Fault(`${name}() cannot convert ${typeof value === 'string' ? JSON.stringify(value) : typeName(value)}`, at);
  if (!Number.isSafeInteger(n) || (name === 'uint' && n < 0)) return new Fault(`${name}() value out of range: ${String(value)}`, at);
  return n;
}

const durationUnitsMs: Record<string, number> = { ns: 1e-6, us: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const durationPattern = /^([+-])?((?:\d+(?:\.\d+)?|\.\d+)(?:ns|us|ms|s|m|h|d))+$/;
const durationPart = /(\d+(?:\.\d+)?|\.\d+)(ns|us|ms|s|m|h|d)/g;

/** CEL's duration syntax ("1h30m", "1.5s", "-90s", "250ms") plus days ("7d"), in milliseconds. */
export function parseCelDuration(text: string): number | null {
  const match = durationPattern.exec(text);
  if (!match) return text === '0' ? 0 : null;
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(durationPart)) ms += Number(amount) * durationUnitsMs[unit!]!;
  return match[1] === '-' ? -ms : ms;
}

const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** An RFC 3339 timestamp ("2026-11-29T12:00:00Z", with a zone) in ms since the epoch. */
export function parseCelTimestamp(text: string): number | null {
  if (!rfc3339.test(text)) return null;
  // Date.parse reads at most milliseconds; finer digits are cut, as they are in the stored events.
  const ms = Date.parse(text.replace(/(\.\d{3})\d+/, '$1'));
  return Number.isFinite(ms) ? ms : null;
}

export const functions: ReadonlyMap<string, FunctionDef> = new Map<string, FunctionDef>([
  [
    'size',
    {
      global: true,
      method: true,
      arity: 1,
      result: 'int',
      impl: (v, _, at) => (typeof v === 'string' ? codePointLength(v) : Array.isArray(v) ? v.length : isMap(v) ? Object.keys(v).length : noOverload('size', v)(at)),
    },
  ],
  ['contains', stringMethod('contains', (s, arg) => s.includes(arg))],
  ['startsWith', stringMethod('startsWith', (s, arg) => s.startsWith(arg))],
  ['endsWith', stringMethod('endsWith', (s, arg) => s.endsWith(arg))],
  ['lowerAscii', stringTransform('lowerAscii', (s) => s.replace(/[A-Z]+/g, (m) => m.toLowerCase()))],
  ['upperAscii', stringTransform('upperAscii', (s) => s.replace(/[a-z]+/g, (m) => m.toUpperCase()))],
  ['trim', stringTransform('trim', (s) => s.trim())],
  ['int', { global: true, method: false, arity: 1, result: 'int', impl: (v, _, at) => toInteger('int', v, at) }],
  ['uint', { global: true, method: false, arity: 1, result: 'uint', impl: (v, _, at) => toInteger('uint', v, at) }],
  [
    'double',
    {
      global: true,
      method: false,
      arity: 1,
      result: 'double',
      impl: (v, _, at) => (typeof v === 'number' ? v : typeof v === 'string' && doublePattern.test(v) ? Number(v) : new Fault(`double() cannot convert ${typeName(v)} ${JSON.stringify(v)}`, at)),
    },
  ],
  [
    'string',
    {
      global: true,
      method: false,
      arity: 1,
      result: 'string',
      impl: (v, _, at) => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : noOverload('string', v)(at)),
    },
  ],
  [
    'bool',
    {
      global: true,
      method: false,
      arity: 1,
      result: 'bool',
      impl: (v, _, at) => (typeof v === 'boolean' ? v : v === 'true' ? true : v === 'false' ? false : new Fault(`bool() cannot convert ${typeName(v)} ${JSON.stringify(v)}`, at)),
    },
  ],
  ['dyn', { global: true, method: false, arity: 1, result: 'dyn', impl: (v) => v }],
  [
    'duration',
    {
      global: true,
      method: false,
      arity: 1,
      result: 'double',
      impl: (v, _, at) => {
        const ms = typeof v === 'string' ? parseCelDuration(v) : null;
        return ms ?? new Fault(`duration() expects a string such as "90s", "3m", "1h30m" or "7d", got ${typeof v === 'string' ? JSON.stringify(v) : typeName(v)}`, at);
      },
    },
  ],
  [
    'timestamp',
    {
      global: true,
      method: false,
      arity: 1,
      result: 'double',
      impl: (v, _, at) => {
        const ms = typeof v === 'string' ? parseCelTimestamp(v) : null;
        return ms ?? new Fault(`timestamp() expects an RFC 3339 string such as "2026-11-29T12:00:00Z", got ${typeof v === 'string' ? JSON.stringify(v) : typeName(v)}`, at);
      },
    },
  ],
]);
