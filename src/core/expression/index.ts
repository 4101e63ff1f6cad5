/**
 * Conditions and expressions over (event, user, now): CEL syntax and semantics, compiled once
 * into JS closures and evaluated without I/O, clock or randomness. See docs/conditions.md.
 *
 *   const compiled = compileCondition('event.properties.item_count > 0');
 *   if (compiled.ok) compiled.condition.test({ event, user, now });
 *
 * Compiling never throws: a syntax error, an unknown variable or function, or a constant that
 * cannot work comes back with its line and column. Evaluating never throws either: a run-time
 * error (a missing key, a wrong type) makes `test` false, and `evaluate` says why and where.
 */
import type { NudgeEvent, JsonObject } from '../event.js';
import type { Profile } from '../profile.js';
import { compileAst, maxSteps, type Compiled, type Frame } from './compiler.js';
import { parse } from './parser.js';
import { positionOf, SyntaxFailure } from './syntax-failure.js';
import { Fault, typeName } from './values.js';

export { parseCelDuration, parseCelTimestamp } from './functions.js';

/** What an expression can read: `event`, `user` (null before the user has a profile) and `now` (ms). */
export interface Activation {
  event: NudgeEvent | JsonObject;
  user: Profile | JsonObject | null;
  /** The current time, in ms since the epoch; the caller's clock, so evaluation stays pure. */
  now: number;
}

/** Where a problem is: 1-based line and column in the expression's source. */
export interface ExpressionError {
  message: string;
  line: number;
  column: number;
}

export type Evaluation<T> = { ok: true; value: T } | { ok: false; error: ExpressionError };

export interface Expression {
  readonly source: string;
  /** The value, or the run-time error (CEL's error value) with its position. */
  evaluate(activation: Activation): Evaluation<unknown>;
}

export interface Condition {
  readonly source: string;
  /** True only when the expression evaluates to true; false for false and for any error. */
  test(activation: Activation): boolean;
  /** The bool, or why it could not be computed (an error, or a value that is not a bool). */
  evaluate(activation: Activation): Evaluation<boolean>;
}

export type CompileResult<K extends string, T> = ({ ok: true } & { [P in K]: T }) | { ok: false; error: ExpressionError };

export function compileExpression(source: string): CompileResult<'expression', Expression> {
  const compiled = compileSource(source);
  if (!compiled.ok) return compiled;
  const evaluate = evaluator(source, compiled.value);
  return { ok: true, expression: { source, evaluate } };
}

export function compileCondition(source: string): CompileResult<'condition', Condition> {
  const compiled = compileSource(source);
  if (!compiled.ok) return compiled;
  const { type } = compiled.value;
  if (type !== 'bool' && type !== 'dyn') {
    return { ok: false, error: { message: `a condition must be true or false, but this expression is of type ${type}`, line: 1, column: 1 } };
  }
  const evaluate = evaluator(source, compiled.value);
  const run = compiled.value.run;
  const slots = compiled.value.slots;
  const test = (a: Activation): boolean => {
    try {
      return run(frameOf(a, slots)) === true;
    } catch {
      // Unreachable by design (every operation returns its errors); a last guard so a condition
      // can never take the engine down. `evaluate` reports such a case as an internal error.
      return false;
    }
  };
  return {
    ok: true,
    condition: {
      source,
      test,
      evaluate: (a) => {
        const result = evaluate(a);
        if (!result.ok || typeof result.value === 'boolean') return result as Evaluation<boolean>;
        return { ok: false, error: { message: `a condition must be true or false, got ${typeName(result.value)}`, line: 1, column: 1 } };
      },
    },
  };
}

function compileSource(source: string): { ok: true; value: Compiled } | { ok: false; error: ExpressionError } {
  try {
    return { ok: true, value: compileAst(parse(source)) };
  } catch (error) {
    if (error instanceof SyntaxFailure) return { ok: false, error: { message: error.message, ...positionOf(source, error.at) } };
    throw error;
  }
}

const noLocals: unknown[] = [];

function frameOf(a: Activation, slots: number): Frame {
  return { event: a.event, user: a.user, now: a.now, locals: slots === 0 ? noLocals : new Array<unknown>(slots), steps: maxSteps };
}

function evaluator(source: string, compiled: Compiled): (a: Activation) => Evaluation<unknown> {
  const { run, slots } = compiled;
  return (a) => {
    let value: unknown;
    try {
      value = run(frameOf(a, slots));
    } catch (error) {
      return { ok: false, error: { message: `internal error: ${error instanceof Error ? error.message : String(error)}`, line: 1, column: 1 } };
    }
    if (value instanceof Fault) return { ok: false, error: { message: value.message, ...positionOf(source, value.at) } };
    return { ok: true, value };
  };
}
