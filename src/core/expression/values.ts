/**
 * Run-time values of the expression language and the operations on them that never throw.
 *
 * Values are the activation's own JSON-like data, used as they are (no conversion per evaluation):
 * null, booleans, numbers, strings, arrays (CEL lists) and plain objects (CEL maps with string
 * keys). An error is a `Fault` value that flows up through the operators, as CEL's error values do;
 * `&&`, `||` and the macros absorb it where CEL says so.
 *
 * Safety: a field or key is read only when it is an own property of the object, so names such as
 * `__proto__`, `constructor` or `toString` are ordinary missing keys and never reach a prototype.
 */

export class Fault {
  constructor(
    readonly message: string,
    /** Offset in the source of the operation that failed. */
    readonly at: number,
  ) {}
}

export type CelMap = Record<string, unknown>;

export function isMap(value: unknown): value is CelMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Fault);
}

/** CEL's name for a value's type, for messages. JSON has one number type, reported as `number`. */
export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  switch (typeof value) {
    case 'boolean':
      return 'bool';
    case 'number':
      return 'number';
    case 'string':
      return 'string';
    case 'object':
      return 'map';
    default:
      return `unsupported ${typeof value}`;
  }
}

/**
 * Names that an object in the activation may inherit rather than own: everything on
 * Object.prototype and Array.prototype, and a Fault's own fields. Only these need the own-property
 * check; for any other name a JSON object or array can only hold it as its own property, so the
 * hot path reads it directly (see `fieldReader`).
 */
const inheritable = new Set<string>([
  ...Object.getOwnPropertyNames(Object.prototype),
  ...Object.getOwnPropertyNames(Array.prototype),
  ...Object.keys(new Fault('', 0)),
  '__proto__',
]);

/**
 * `operand.field` specialised for one field name and operand, for the compiled hot path. Activations are JSON
 * data (plain objects and arrays), whose prototypes are Object.prototype and Array.prototype.
 */
export function fieldReader<F>(operandOf: (frame: F) => unknown, field: string, at: number): (frame: F) => unknown {
  if (inheritable.has(field)) return (frame) => selectField(operandOf(frame), field, at);
  return (frame) => {
    const operand = operandOf(frame);
    if (typeof operand === 'object' && operand !== null) {
      const value = (operand as CelMap)[field];
      if (value !== undefined && !Array.isArray(operand)) return value;
    }
    return selectField(operand, field, at);
  };
}

/** The own, defined property `key` of a map, or undefined. */
export function ownValue(map: CelMap, key: string): unknown {
  return Object.hasOwn(map, key) ? map[key] : undefined;
}

/** `operand.field` (and `operand["field"]` on maps): CEL's no_such_key for a missing key. */
export function selectField(operand: unknown, field: string, at: number): unknown {
  if (operand instanceof Fault) return operand;
  if (isMap(operand)) {
    if (Object.hasOwn(operand, field)) {
      const value = operand[field];
      if (value !== undefined) return value;
    }
    return new Fault(`no such key: ${JSON.stringify(field)}`, at);
  }
  return new Fault(`cannot read field ${JSON.stringify(field)} of ${typeName(operand)}`, at);
}

export function indexValue(operand: unknown, index: unknown, at: number): unknown {
  if (operand instanceof Fault) return operand;
  if (index instanceof Fault) return index;
  if (Array.isArray(operand)) {
    if (typeof index !== 'number' || !Number.isInteger(index)) return new Fault(`a list index must be an integer, got ${typeName(index)}`, at);
    if (index < 0 || index >= operand.length) return new Fault(`index ${index} out of range for a list of size ${operand.length}`, at);
    const value: unknown = operand[index];
    return value === undefined ? null : value;
  }
  if (isMap(operand)) {
    if (typeof index !== 'string') return new Fault(`no such key: ${typeName(index)} keys are not supported, map keys are strings`, at);
    return selectField(operand, index, at);
  }
  return new Fault(`cannot index ${typeName(operand)}`, at);
}

/** Nested deeper than this, two values are not compared but reported as an error. */
const maxEqualityDepth = 100;

/**
 * CEL equality: heterogeneous (values of different types are unequal, not an error), numbers by
 * value (NaN equals nothing), lists element-wise, maps by key set and values. Returns a Fault only
 * when the data is nested too deeply to compare.
 */
export function celEquals(a: unknown, b: unknown, at: number): boolean | Fault {
  return deepEquals(a, b, 0) ?? new Fault(`cannot compare values nested more than ${maxEqualityDepth} levels deep`, at);
}

function deepEquals(a: unknown, b: unknown, depth: number): boolean | undefined {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (depth >= maxEqualityDepth) return undefined;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) {
      const same = deepEquals(a[i] ?? null, b[i] ?? null, depth + 1);
      if (same !== true) return same;
    }
    return true;
  }
  if (Array.isArray(b)) return false;
  const aMap = a as CelMap;
  const bMap = b as CelMap;
  const keys = Object.keys(aMap).filter((k) => aMap[k] !== undefined);
  if (keys.length !== Object.keys(bMap).filter((k) => bMap[k] !== undefined).length) return false;
  for (const key of keys) {
    if (!Object.hasOwn(bMap, key) || bMap[key] === undefined) return false;
    const same = deepEquals(aMap[key], bMap[key], depth + 1);
    if (same !== true) return same;
  }
  return true;
}

/** `value in container`: list membership by CEL equality, or an own key of a map. */
export function contains(container: unknown, value: unknown, at: number): boolean | Fault {
  if (container instanceof Fault) return container;
  if (value instanceof Fault) return value;
  if (Array.isArray(container)) {
    // A scalar equals only the identical scalar: no need for the general comparison.
    if (typeof value !== 'object') return container.includes(value) && value === value;
    for (const element of container) {
      const same = celEquals(element ?? null, value, at);
      if (same !== false) return same;
    }
    return false;
  }
  if (isMap(container)) return typeof value === 'string' && ownValue(container, value) !== undefined;
  return new Fault(`'in' needs a list or a map on its right, got ${typeName(container)}`, at);
}

/** Number of Unicode code points, as CEL's size() counts a string. */
export function codePointLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}
