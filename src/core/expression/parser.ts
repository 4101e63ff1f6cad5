/**
 * CEL syntax to a small AST, by recursive descent over the grammar of the CEL spec
 * (https://github.com/google/cel-spec/blob/master/doc/langdef.md#syntax):
 *
 *   Expr    = Or ["?" Or ":" Expr]          Or  = And {"||" And}     And = Rel {"&&" Rel}
 *   Rel     = Add {("<"|"<="|">="|">"|"=="|"!="|"in") Add}          Add = Mul {("+"|"-") Mul}
 *   Mul     = Unary {("*"|"/"|"%") Unary}   Unary = Member | "!"{"!"} Member | "-"{"-"} Member
 *   Member  = Primary {"." IDENT ["(" Args ")"] | "[" Expr "]"}
 *   Primary = IDENT ["(" Args ")"] | "(" Expr ")" | "[" List "]" | "{" MapInits "}" | LITERAL
 *
 * Chains of && and || become one n-ary node, so a long list of alternatives adds no depth. Every
 * node records its depth; deeper trees are refused, so neither compiling nor evaluating can
 * exhaust the stack.
 */
import { tokenize, type Token } from './lexer.js';
import { SyntaxFailure } from './syntax-failure.js';

export type LiteralType = 'int' | 'uint' | 'double' | 'string' | 'bool' | 'null';
export type BinaryOperator = '<' | '<=' | '>' | '>=' | '==' | '!=' | 'in' | '+' | '-' | '*' | '/' | '%';

interface Located {
  /** Offset of the token that names the node (an operator, a field, a function). */
  at: number;
  depth: number;
}

export type Ast = Located &
  (
    | { kind: 'literal'; type: LiteralType; value: number | string | boolean | null }
    | { kind: 'ident'; name: string }
    | { kind: 'select'; operand: Ast; field: string }
    | { kind: 'index'; operand: Ast; index: Ast }
    | { kind: 'call'; name: string; target: Ast | null; args: Ast[] }
    | { kind: 'unary'; op: '!' | '-'; operand: Ast }
    | { kind: 'binary'; op: BinaryOperator; left: Ast; right: Ast }
    | { kind: 'logical'; op: '&&' | '||'; operands: Ast[] }
    | { kind: 'conditional'; test: Ast; then: Ast; otherwise: Ast }
    | { kind: 'list'; elements: Ast[] }
    | { kind: 'map'; entries: { key: Ast; value: Ast }[] }
  );

export interface ParseLimits {
  /** Longest accepted source, in characters. Default 16,384. */
  maxSourceLength: number;
  /** Deepest accepted tree (nesting of operators, calls, brackets). Default 128. */
  maxDepth: number;
}

export const defaultParseLimits: ParseLimits = { maxSourceLength: 16_384, maxDepth: 128 };

/** Words CEL reserves: they may not name a variable or a field. */
const reserved = new Set(['as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import', 'let', 'loop', 'package', 'namespace', 'return', 'var', 'void', 'while', 'in']);
const relations = new Set(['<', '<=', '>', '>=', '==', '!=', 'in']);

type Body = Ast extends infer A ? (A extends Ast ? Omit<A, 'depth'> : never) : never;

/** Parses `source`; throws SyntaxFailure (with an offset) on any error. */
export function parse(source: string, limits: ParseLimits = defaultParseLimits): Ast {
  if (source.length > limits.maxSourceLength) {
    throw new SyntaxFailure(`expression is ${source.length} characters long, over the limit of ${limits.maxSourceLength}`, limits.maxSourceLength);
  }
  return new Parser(tokenize(source), limits.maxDepth).parseAll();
}

class Parser {
  private position = 0;
  /** Open `expr` calls: brackets nest without creating nodes, so they are counted here. */
  private nesting = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly maxDepth: number,
  ) {}

  parseAll(): Ast {
    const ast = this.expr();
    const rest = this.peek();
    if (rest.kind !== 'eof') throw new SyntaxFailure(`unexpected ${describe(rest)} after a complete expression`, rest.at);
    return ast;
  }

  private peek(): Token {
    return this.tokens[this.position]!;
  }

  private next(): Token {
    const token = this.tokens[this.position]!;
    if (token.kind !== 'eof') this.position++;
    return token;
  }

  private isPunct(value: string): boolean {
    const t = this.peek();
    return t.kind === 'punct' && t.value === value;
  }

  private expect(value: string, context: string): Token {
    const t = this.peek();
    if (t.kind !== 'punct' || t.value !== value) throw new SyntaxFailure(`expected '${value}' ${context}, found ${describe(t)}`, t.at);
    return this.next();
  }

  /** Builds a node, computing its depth from its children and refusing trees that are too deep. */
  private node(body: Body, ...children: Ast[]): Ast {
    let depth = 0;
    for (const child of children) if (child.depth > depth) depth = child.depth;
    if (depth + 1 > this.maxDepth) throw new SyntaxFailure(`expression is nested more than ${this.maxDepth} levels deep`, body.at);
    return { ...body, depth: depth + 1 } as Ast;
  }

  private expr(): Ast {
    if (++this.nesting > this.maxDepth) throw new SyntaxFailure(`expression is nested more than ${this.maxDepth} levels deep`, this.peek().at);
    try {
      return this.conditional();
    } finally {
      this.nesting--;
    }
  }

  private conditional(): Ast {
    const test = this.logical('||');
    if (!this.isPunct('?')) return test;
    const at = this.next().at;
    const then = this.logical('||');
    this.expect(':', "in a conditional 'a ? b : c'");
    const otherwise = this.expr();
    return this.node({ kind: 'conditional', test, then, otherwise, at }, test, then, otherwise);
  }

  private logical(op: '&&' | '||'): Ast {
    const parseOperand = () => (op === '||' ? this.logical('&&') : this.relation());
    const first = parseOperand();
    if (!this.isPunct(op)) return first;
    const at = this.peek().at;
    const operands = [first];
    while (this.isPunct(op)) {
      this.next();
      operands.push(parseOperand());
    }
    return this.node({ kind: 'logical', op, operands, at }, ...operands);
  }

  private relation(): Ast {
    let left = this.addition();
    for (;;) {
      const t = this.peek();
      const op = t.kind === 'punct' || (t.kind === 'ident' && t.value === 'in') ? t.value : '';
      if (!relations.has(op)) return left;
      this.next();
      const right = this.addition();
      left = this.node({ kind: 'binary', op: op as BinaryOperator, left, right, at: t.at }, left, right);
    }
  }

  private addition(): Ast {
    let left = this.multiplication();
    while (this.isPunct('+') || this.isPunct('-')) {
      const t = this.next();
      const right = this.multiplication();
      left = this.node({ kind: 'binary', op: t.value as BinaryOperator, left, right, at: t.at }, left, right);
    }
    return left;
  }

  private multiplication(): Ast {
    let left = this.unary();
    while (this.isPunct('*') || this.isPunct('/') || this.isPunct('%')) {
      const t = this.next();
      const right = this.unary();
      left = this.node({ kind: 'binary', op: t.value as BinaryOperator, left, right, at: t.at }, left, right);
    }
    return left;
  }

  private unary(): Ast {
    const ops: Token[] = [];
    while (this.isPunct('!') || this.isPunct('-')) ops.push(this.next());
    let operand = this.member();
    for (let i = ops.length - 1; i >= 0; i--) {
      const t = ops[i]!;
      // A negative literal is one literal: `-9007199254740991` stays exact and costs nothing at run time.
      if (t.value === '-' && operand.kind === 'literal' && (operand.type === 'int' || operand.type === 'double') && typeof operand.value === 'number') {
        operand = { ...operand, value: -operand.value, at: t.at };
      } else {
        operand = this.node({ kind: 'unary', op: t.value as '!' | '-', operand, at: t.at }, operand);
      }
    }
    return operand;
  }

  private member(): Ast {
    let operand = this.primary();
    for (;;) {
      if (this.isPunct('.')) {
        this.next();
        const name = this.next();
        if (name.kind !== 'ident') throw new SyntaxFailure(`expected a field or method name after '.', found ${describe(name)}`, name.at);
        if (reserved.has(name.value)) throw new SyntaxFailure(`'${name.value}' is a reserved word and cannot name a field; use ["${name.value}"]`, name.at);
        if (this.isPunct('(')) {
          const args = this.args();
          operand = this.node({ kind: 'call', name: name.value, target: operand, args, at: name.at }, operand, ...args);
        } else {
          operand = this.node({ kind: 'select', operand, field: name.value, at: name.at }, operand);
        }
      } else if (this.isPunct('[')) {
        const at = this.next().at;
        const index = this.expr();
        this.expect(']', 'to close the index');
        operand = this.node({ kind: 'index', operand, index, at }, operand, index);
      } else {
        return operand;
      }
    }
  }

  private primary(): Ast {
    const t = this.next();
    switch (t.kind) {
      case 'int':
      case 'uint':
      case 'double':
        return this.node({ kind: 'literal', type: t.kind, value: t.value, at: t.at });
      case 'string':
        return this.node({ kind: 'literal', type: 'string', value: t.value, at: t.at });
      case 'ident':
        return this.identifier(t.value, t.at);
      case 'eof':
        throw new SyntaxFailure('unexpected end of expression', t.at);
      case 'punct':
        break;
    }
    if (t.value === '(') {
      const inner = this.expr();
      this.expect(')', 'to close the parenthesis');
      return inner;
    }
    if (t.value === '[') {
      const elements = this.sequence(']', () => this.expr());
      return this.node({ kind: 'list', elements, at: t.at }, ...elements);
    }
    if (t.value === '{') {
      const entries = this.sequence('}', () => {
        const key = this.expr();
        this.expect(':', 'between a map key and its value');
        return { key, value: this.expr() };
      });
      return this.node({ kind: 'map', entries, at: t.at }, ...entries.flatMap((e) => [e.key, e.value]));
    }
    if (t.value === '.') throw new SyntaxFailure('qualified names with a leading dot are not supported', t.at);
    throw new SyntaxFailure(`unexpected ${describe(t)}`, t.at);
  }

  private identifier(name: string, at: number): Ast {
    if (name === 'true' || name === 'false') return this.node({ kind: 'literal', type: 'bool', value: name === 'true', at });
    if (name === 'null') return this.node({ kind: 'literal', type: 'null', value: null, at });
    if (reserved.has(name)) throw new SyntaxFailure(`'${name}' is a reserved word`, at);
    if (this.isPunct('(')) {
      const args = this.args();
      return this.node({ kind: 'call', name, target: null, args, at }, ...args);
    }
    if (this.isPunct('{')) throw new SyntaxFailure('message construction (Type{field: value}) is not supported', at);
    return this.node({ kind: 'ident', name, at });
  }

  private args(): Ast[] {
    this.expect('(', 'to open the arguments');
    return this.sequence(')', () => this.expr());
  }

  /** Comma-separated items up to `close`; a trailing comma is allowed, as in CEL. */
  private sequence<T>(close: string, item: () => T): T[] {
    const items: T[] = [];
    while (!this.isPunct(close)) {
      items.push(item());
      if (this.isPunct(',')) this.next();
      else if (!this.isPunct(close)) throw new SyntaxFailure(`expected ',' or '${close}', found ${describe(this.peek())}`, this.peek().at);
    }
    this.next();
    return items;
  }
}

function describe(t: Token): string {
  switch (t.kind) {
    case 'eof':
      return 'end of expression';
    case 'string':
      return 'a string';
    case 'ident':
      return `'${t.value}'`;
    case 'punct':
      return `'${t.value}'`;
    default:
      return 'a number';
  }
}
