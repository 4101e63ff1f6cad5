/**
 * Turns the AST into composed JS closures, once per expression: no eval, no `new Function`.
 * Each closure takes the evaluation's `Frame` and returns a value or a `Fault`.
 *
 * Semantics follow CEL, with these deliberate differences (documented in docs/conditions.md):
 * - Numbers: JSON data has one number type, so ints and doubles are one run-time type; mixing them
 *   in arithmetic is allowed. Two int literals keep int semantics (`7 / 2 == 3`, overflow is an
 *   error); integers are exact up to ±2^53.
 * - Times are ms since the epoch and durations ms; `duration()` and `timestamp()` return numbers.
 *
 * Operations whose inputs are all constant are evaluated here; a constant that fails (such as
 * `duration("3 minutes")`) is a compile error at its position rather than a surprise at run time.
 */
import type { Ast, BinaryOperator } from './parser.js';
import { functions, type StaticType } from './functions.js';
import { SyntaxFailure } from './syntax-failure.js';
import { celEquals, contains, Fault, fieldReader, indexValue, isMap, typeName } from './values.js';

export interface Frame {
  event: unknown;
  user: unknown;
  now: unknown;
  /** Comprehension variables, by slot. */
  locals: unknown[];
  /** Comprehension iterations left in this evaluation. */
  steps: number;
}

export type Run = (frame: Frame) => unknown;

export interface Compiled {
  run: Run;
  type: StaticType;
  /** Slots needed for comprehension variables. */
  slots: number;
}

/** Comprehension iterations allowed per evaluation: nested macros over large lists stop here. */
export const maxSteps = 100_000;

const variables: Record<string, Run> = { event: (f) => f.event, user: (f) => f.user, now: (f) => f.now };
const macroNames = new Set(['has', 'all', 'exists', 'exists_one', 'map', 'filter']);

interface Node {
  run: Run;
  type: StaticType;
  constant: boolean;
}

const constantFrame: Frame = { event: null, user: null, now: null, locals: [], steps: maxSteps };

export function compileAst(ast: Ast): Compiled {
  const compiler = new Compiler();
  const node = compiler.compile(ast);
  return { run: node.run, type: node.type, slots: compiler.slotCount };
}

class Compiler {
  slotCount = 0;
  private readonly scope: { name: string; slot: number }[] = [];

  compile(ast: Ast): Node {
    switch (ast.kind) {
      case 'literal': {
        const value = ast.value;
        return { run: () => value, type: ast.type, constant: true };
      }
      case 'ident':
        return this.identifier(ast.name, ast.at);
      case 'select': {
        const operand = this.compile(ast.operand);
        return fold({ run: fieldReader(operand.run, ast.field, ast.at), type: 'dyn', constant: operand.constant });
      }
      case 'index': {
        const operand = this.compile(ast.operand);
        const index = this.compile(ast.index);
        const [o, i, at] = [operand.run, index.run, ast.at];
        return fold({ run: (f) => indexValue(o(f), i(f), at), type: 'dyn', constant: operand.constant && index.constant });
      }
      case 'unary':
        return this.unary(ast.op, this.compile(ast.operand), ast.at);
      case 'binary':
        return this.binary(ast.op, this.compile(ast.left), this.compile(ast.right), ast.at);
      case 'logical':
        return this.logical(ast.op, ast.operands.map((o) => this.compile(o)), ast.at);
      case 'conditional':
        return this.conditional(this.compile(ast.test), this.compile(ast.then), this.compile(ast.otherwise), ast.at);
      case 'list': {
        const elements = ast.elements.map((e) => this.compile(e));
        const runs = elements.map((e) => e.run);
        const run: Run = (f) => {
          const list: unknown[] = [];
          for (const element of runs) {
            const v = element(f);
            if (v instanceof Fault) return v;
            list.push(v);
          }
          return list;
        };
        return fold({ run, type: 'list', constant: elements.every((e) => e.constant) });
      }
      case 'map':
        return this.mapLiteral(ast.entries.map((e) => ({ key: this.compile(e.key), value: this.compile(e.value), at: e.key.at })));
      case 'call':
        return this.call(ast);
    }
  }

  private identifier(name: string, at: number): Node {
    for (let i = this.scope.length - 1; i >= 0; i--) {
      const local = this.scope[i]!;
      if (local.name === name) {
        const slot = local.slot;
        return { run: (f) => f.locals[slot], type: 'dyn', constant: false };
      }
    }
    const variable = Object.hasOwn(variables, name) ? variables[name] : undefined;
    if (variable) return { run: variable, type: name === 'now' ? 'double' : 'dyn', constant: false };
    throw new SyntaxFailure(`unknown variable '${name}' (known: event, user, now)`, at);
  }

  private unary(op: '!' | '-', operand: Node, at: number): Node {
    const o = operand.run;
    if (op === '!') {
      expectType(operand, 'bool', '!', at);
      return fold({ run: (f) => { const v = o(f); return typeof v === 'boolean' ? !v : v instanceof Fault ? v : new Fault(`no such overload: !${typeName(v)}`, at); }, type: 'bool', constant: operand.constant });
    }
    expectType(operand, 'number', '-', at);
    const type = operand.type === 'int' ? 'int' : operand.type === 'uint' ? 'uint' : 'double';
    return fold({ run: (f) => { const v = o(f); return typeof v === 'number' ? -v : v instanceof Fault ? v : new Fault(`no such overload: -${typeName(v)}`, at); }, type, constant: operand.constant });
  }

  private binary(op: BinaryOperator, left: Node, right: Node, at: number): Node {
    const constant = left.constant && right.constant;
    const [l, r] = [left.run, right.run];
    switch (op) {
      case '==':
      case '!=': {
        const negate = op === '!=';
        const run: Run = (f) => {
          const a = l(f);
          if (a instanceof Fault) return a;
          const b = r(f);
          if (b instanceof Fault) return b;
          // Scalars need no deep comparison: the common case stays one strict comparison.
          const same = typeof a !== 'object' || typeof b !== 'object' || a === null || b === null ? a === b : celEquals(a, b, at);
          return typeof same === 'boolean' ? same !== negate : same;
        };
        return fold({ run, type: 'bool', constant });
      }
      case 'in': {
        expectType(right, 'collection', 'in', at);
        return fold({ run: (f) => contains(r(f), l(f), at), type: 'bool', constant });
      }
      case '<':
      case '<=':
      case '>':
      case '>=':
        return fold({ run: comparison(op, l, r, at), type: 'bool', constant });
      default:
        return fold(arithmetic(op, left, right, at));
    }
  }

  private logical(op: '&&' | '||', operands: Node[], at: number): Node {
    for (const o of operands) expectType(o, 'bool', op, at);
    const runs = operands.map((o) => o.run);
    // CEL's commutative && and ||: a decisive operand wins over an error in any other operand.
    const decisive = op === '||';
    const neutral = !decisive;
    const notBool = (v: unknown) => (v instanceof Fault ? v : new Fault(`no such overload: ${op} needs bools, got ${typeName(v)}`, at));
    let run: Run;
    if (runs.length === 2) {
      const [a, b] = runs as [Run, Run];
      run = (f) => {
        const x = a(f);
        if (x === decisive) return decisive;
        const y = b(f);
        if (y === decisive) return decisive;
        if (x !== neutral) return notBool(x);
        return y === neutral ? neutral : notBool(y);
      };
    } else {
      run = (f) => {
        let failure: Fault | null = null;
        for (const operand of runs) {
          const v = operand(f);
          if (v === decisive) return decisive;
          if (v !== neutral) failure ??= notBool(v);
        }
        return failure ?? neutral;
      };
    }
    return fold({ run, type: 'bool', constant: operands.every((o) => o.constant) });
  }

  private conditional(test: Node, then: Node, otherwise: Node, at: number): Node {
    expectType(test, 'bool', '?:', at);
    const [t, a, b] = [test.run, then.run, otherwise.run];
    const run: Run = (f) => {
      const c = t(f);
      return c === true ? a(f) : c === false ? b(f) : c instanceof Fault ? c : new Fault(`the condition of ?: must be a bool, got ${typeName(c)}`, at);
    };
    return fold({ run, type: then.type === otherwise.type ? then.type : 'dyn', constant: test.constant && then.constant && otherwise.constant });
  }

  private mapLiteral(entries: { key: Node; value: Node; at: number }[]): Node {
    const runs = entries.map((e) => [e.key.run, e.value.run, e.at] as const);
    const run: Run = (f) => {
      const map: Record<string, unknown> = {};
      for (const [key, value, at] of runs) {
        const k = key(f);
        if (k instanceof Fault) return k;
        if (typeof k !== 'string') return new Fault(`map keys must be strings, got ${typeName(k)}`, at);
        if (Object.hasOwn(map, k)) return new Fault(`duplicate map key ${JSON.stringify(k)}`, at);
        const v = value(f);
        if (v instanceof Fault) return v;
        // defineProperty: a key named __proto__ becomes an ordinary own key, not the prototype.
        Object.defineProperty(map, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      return map;
    };
    return fold({ run, type: 'map', constant: entries.every((e) => e.key.constant && e.value.constant) });
  }

  private call(ast: Extract<Ast, { kind: 'call' }>): Node {
    const { name, target, args, at } = ast;
    if (macroNames.has(name)) return this.macro(ast);
    if (name === 'matches') return this.matches(target ? [target, ...args] : args, at);
    const def = functions.get(name);
    const style = target ? 'method' : 'function';
    if (!def || (target ? !def.method : !def.global)) {
      const known = [...functions.entries()].filter(([, d]) => (target ? d.method : d.global)).map(([n]) => n);
      throw new SyntaxFailure(`unknown ${style} '${name}' (known: ${known.join(', ')})`, at);
    }
    const operands = (target ? [target, ...args] : args).map((a) => this.compile(a));
    if (operands.length !== def.arity) {
      const expected = target ? def.arity - 1 : def.arity;
      throw new SyntaxFailure(`${name}() takes ${expected} argument${expected === 1 ? '' : 's'}, got ${args.length}`, at);
    }
    const impl = def.impl;
    const constant = operands.every((o) => o.constant);
    if (def.arity === 1) {
      const a = operands[0]!.run;
      return fold({ run: (f) => { const x = a(f); return x instanceof Fault ? x : impl(x, undefined, at); }, type: def.result, constant });
    }
    const [a, b] = [operands[0]!.run, operands[1]!.run];
    const run: Run = (f) => {
      const x = a(f);
      if (x instanceof Fault) return x;
      const y = b(f);
      return y instanceof Fault ? y : impl(x, y, at);
    };
    return fold({ run, type: def.result, constant });
  }

  /** `s.matches(re)`: the pattern must be a literal, compiled once (JS RegExp with the u flag). */
  private matches(operands: Ast[], at: number): Node {
    if (operands.length !== 2) throw new SyntaxFailure('matches() takes a string and a pattern', at);
    const pattern = this.compile(operands[1]!);
    const source = pattern.constant ? pattern.run(constantFrame) : undefined;
    if (typeof source !== 'string') throw new SyntaxFailure('the pattern of matches() must be a string literal', operands[1]!.at);
    let regex: RegExp;
    try {
      regex = new RegExp(source, 'u');
    } catch (error) {
      throw new SyntaxFailure(`invalid pattern: ${(error as Error).message}`, operands[1]!.at);
    }
    const s = this.compile(operands[0]!);
    const run = s.run;
    return fold({ run: (f) => { const v = run(f); return typeof v === 'string' ? regex.test(v) : v instanceof Fault ? v : new Fault(`no such overload: matches(${typeName(v)})`, at); }, type: 'bool', constant: s.constant });
  }

  private macro(ast: Extract<Ast, { kind: 'call' }>): Node {
    const { name, target, args, at } = ast;
    if (name === 'has') {
      const field = args[0];
      if (target || args.length !== 1 || field?.kind !== 'select') throw new SyntaxFailure('has() takes one field selection, such as has(event.properties.coupon)', at);
      const operand = this.compile(field.operand).run;
      const key = field.field;
      const run: Run = (f) => {
        const o = operand(f);
        if (isMap(o)) return Object.hasOwn(o, key) && o[key] !== undefined;
        return o instanceof Fault ? o : new Fault(`has() needs a map, got ${typeName(o)}`, field.at);
      };
      return { run, type: 'bool', constant: false };
    }
    const variable = args[0];
    const arity = name === 'map' ? [2, 3] : [2];
    if (!target || !arity.includes(args.length) || variable?.kind !== 'ident') {
      throw new SyntaxFailure(`${name}() is called as list.${name}(x, ${name === 'map' ? 'expression' : 'predicate'})`, at);
    }
    const range = this.compile(target).run;
    const slot = this.slotCount++;
    this.scope.push({ name: variable.name, slot });
    const bodies = args.slice(1).map((a) => this.compile(a));
    this.scope.pop();
    const body = bodies[0]!.run;
    const transform = bodies[1]?.run;
    const iterate = comprehension(name, range, slot, body, transform, at);
    return { run: iterate, type: name === 'map' || name === 'filter' ? 'list' : 'bool', constant: false };
  }
}

/** Evaluates an operation on constants once, here; a constant that fails is a compile error. */
function fold(node: Node): Node {
  if (!node.constant) return node;
  const value = node.run(constantFrame);
  if (value instanceof Fault) throw new SyntaxFailure(value.message, value.at);
  return { run: () => value, type: node.type, constant: true };
}

/** Refuses at compile time what can never work, such as `!"a"` or `1 && true`; dyn passes. */
function expectType(node: Node, expected: 'bool' | 'number' | 'collection', op: string, at: number): void {
  const t = node.type;
  if (t === 'dyn') return;
  const ok = expected === 'bool' ? t === 'bool' : expected === 'number' ? t === 'int' || t === 'uint' || t === 'double' : t === 'list' || t === 'map';
  if (!ok) throw new SyntaxFailure(`no such overload: ${op} does not apply to ${t}`, at);
}

function comparison(op: '<' | '<=' | '>' | '>=', l: Run, r: Run, at: number): Run {
  const compare = op === '<' ? (a: number | string, b: number | string) => a < b : op === '<=' ? (a: number | string, b: number | string) => a <= b : op === '>' ? (a: number | string, b: number | string) => a > b : (a: number | string, b: number | string) => a >= b;
  return (f) => {
    const a = l(f);
    const b = r(f);
    if (typeof a === 'number' && typeof b === 'number') return compare(a, b);
    if (a instanceof Fault) return a;
    if (b instanceof Fault) return b;
    if ((typeof a === 'string' && typeof b === 'string') || (typeof a === 'boolean' && typeof b === 'boolean')) return compare(a as never, b as never);
    return new Fault(`no such overload: ${typeName(a)} ${op} ${typeName(b)}`, at);
  };
}

function arithmetic(op: '+' | '-' | '*' | '/' | '%', left: Node, right: Node, at: number): Node {
  const [l, r] = [left.run, right.run];
  const constant = left.constant && right.constant;
  const integral = (left.type === 'int' || left.type === 'uint') && left.type === right.type;
  const type: StaticType = integral ? left.type : op === '+' && left.type === right.type && (left.type === 'string' || left.type === 'list') ? left.type : op === '+' ? 'dyn' : 'double';
  const unsigned = type === 'uint';
  const numeric = (a: number, b: number): number | Fault => {
    let n: number;
    switch (op) {
      case '+': n = a + b; break;
      case '-': n = a - b; break;
      case '*': n = a * b; break;
      case '/':
        if (!integral) return a / b;
        if (b === 0) return new Fault('division by zero', at);
        n = Math.trunc(a / b);
        break;
      case '%':
        if (!Number.isInteger(a) || !Number.isInteger(b)) return new Fault(`% needs integers, got ${a} % ${b}`, at);
        if (b === 0) return new Fault('modulus by zero', at);
        n = a % b;
        break;
    }
    if (integral && (!Number.isSafeInteger(n) || (unsigned && n < 0))) return new Fault(unsigned && n < 0 ? 'uint result is negative' : 'integer overflow (beyond ±2^53)', at);
    return n === 0 ? 0 : n; // -0 would print as 0 but divide differently
  };
  const run: Run = (f) => {
    const a = l(f);
    if (a instanceof Fault) return a;
    const b = r(f);
    if (b instanceof Fault) return b;
    if (typeof a === 'number' && typeof b === 'number') return numeric(a, b);
    if (op === '+' && typeof a === 'string' && typeof b === 'string') return a + b;
    if (op === '+' && Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
    return new Fault(`no such overload: ${typeName(a)} ${op} ${typeName(b)}`, at);
  };
  return { run, type, constant };
}

function comprehension(name: string, range: Run, slot: number, body: Run, transform: Run | undefined, at: number): Run {
  return (f) => {
    const target = range(f);
    if (target instanceof Fault) return target;
    const items = Array.isArray(target) ? target : isMap(target) ? Object.keys(target).filter((k) => target[k] !== undefined) : null;
    if (items === null) return new Fault(`${name}() needs a list or a map, got ${typeName(target)}`, at);
    const results: unknown[] = [];
    let matched = 0;
    let failure: Fault | null = null;
    for (const item of items) {
      if (--f.steps < 0) return new Fault(`evaluation stopped after ${maxSteps} comprehension steps`, at);
      f.locals[slot] = item === undefined ? null : item;
      const v = body(f);
      if (name === 'map' && transform === undefined) {
        if (v instanceof Fault) return v;
        results.push(v);
        continue;
      }
      if (typeof v !== 'boolean') {
        const fault = v instanceof Fault ? v : new Fault(`${name}() needs a bool predicate, got ${typeName(v)}`, at);
        // all/exists absorb an error when another element decides the result, as && and || do.
        if (name === 'all' || name === 'exists') {
          failure ??= fault;
          continue;
        }
        return fault;
      }
      if (name === 'all' && !v) return false;
      if (name === 'exists' && v) return true;
      if (!v) continue;
      matched++;
      if (name === 'filter') results.push(item);
      if (name === 'map') {
        const mapped = transform!(f);
        if (mapped instanceof Fault) return mapped;
        results.push(mapped);
      }
    }
    if (failure) return failure;
    switch (name) {
      case 'all':
        return true;
      case 'exists':
        return false;
      case 'exists_one':
        return matched === 1;
      default:
        return results;
    }
  };
}
