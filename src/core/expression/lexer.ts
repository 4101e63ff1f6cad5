/**
 * Splits CEL source into tokens. Every token keeps its start offset so errors can name a line and
 * column. Literal values are decoded here (escapes, hex, exponent), so the parser never re-reads text.
 */
import { SyntaxFailure } from './syntax-failure.js';

export type Token =
  | { kind: 'int' | 'uint' | 'double'; value: number; at: number }
  | { kind: 'string'; value: string; at: number }
  | { kind: 'ident'; value: string; at: number }
  | { kind: 'punct'; value: string; at: number }
  | { kind: 'eof'; value: ''; at: number };

const punctuation = ['==', '!=', '<=', '>=', '&&', '||', '(', ')', '[', ']', '{', '}', '.', ',', ':', '?', '+', '-', '*', '/', '%', '!', '<', '>'];
const identStart = /[A-Za-z_]/;
const identPart = /[A-Za-z0-9_]/;
const digit = /[0-9]/;
/** Integers are JS numbers: beyond ±2^53 they would silently lose precision, so they are refused. */
const maxExactInteger = Number.MAX_SAFE_INTEGER;

const simpleEscapes: Record<string, string> = {
  a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', "'": "'", '"': '"', '`': '`', '?': '?',
};

export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') {
      i++;
    } else if (c === '/' && source[i + 1] === '/') {
      while (i < source.length && source[i] !== '\n') i++;
    } else if (digit.test(c) || (c === '.' && digit.test(source[i + 1] ?? ''))) {
      i = readNumber(source, i, tokens);
    } else if (c === '"' || c === "'") {
      i = readString(source, i, i, false, tokens);
    } else if ((c === 'r' || c === 'R') && (source[i + 1] === '"' || source[i + 1] === "'")) {
      i = readString(source, i, i + 1, true, tokens);
    } else if ((c === 'b' || c === 'B') && /["'rR]/.test(source[i + 1] ?? '')) {
      throw new SyntaxFailure('bytes literals are not supported', i);
    } else if (identStart.test(c)) {
      const start = i;
      while (i < source.length && identPart.test(source[i]!)) i++;
      tokens.push({ kind: 'ident', value: source.slice(start, i), at: start });
    } else {
      const op = punctuation.find((p) => source.startsWith(p, i));
      if (op === undefined) {
        const hint = c === '=' ? " (did you mean '=='?)" : c === '&' ? " (did you mean '&&'?)" : c === '|' ? " (did you mean '||'?)" : '';
        throw new SyntaxFailure(`unexpected character ${JSON.stringify(String.fromCodePoint(source.codePointAt(i)!))}${hint}`, i);
      }
      tokens.push({ kind: 'punct', value: op, at: i });
      i += op.length;
    }
  }
  tokens.push({ kind: 'eof', value: '', at: source.length });
  return tokens;
}

function readNumber(source: string, start: number, tokens: Token[]): number {
  let i = start;
  if (source[i] === '0' && (source[i + 1] === 'x' || source[i + 1] === 'X')) {
    i += 2;
    const digitsStart = i;
    while (/[0-9a-fA-F]/.test(source[i] ?? '')) i++;
    if (i === digitsStart) throw new SyntaxFailure('a hex literal needs digits after 0x', start);
    return pushInteger(source, start, i, Number.parseInt(source.slice(digitsStart, i), 16), tokens);
  }
  while (digit.test(source[i] ?? '')) i++;
  let isDouble = false;
  if (source[i] === '.' && digit.test(source[i + 1] ?? '')) {
    isDouble = true;
    i++;
    while (digit.test(source[i] ?? '')) i++;
  }
  if (source[i] === 'e' || source[i] === 'E') {
    let j = i + 1;
    if (source[j] === '+' || source[j] === '-') j++;
    if (!digit.test(source[j] ?? '')) throw new SyntaxFailure('an exponent needs digits', i);
    while (digit.test(source[j] ?? '')) j++;
    isDouble = true;
    i = j;
  }
  if (isDouble) {
    tokens.push({ kind: 'double', value: Number(source.slice(start, i)), at: start });
    return i;
  }
  return pushInteger(source, start, i, Number(source.slice(start, i)), tokens);
}

function pushInteger(source: string, start: number, end: number, value: number, tokens: Token[]): number {
  if (value > maxExactInteger) throw new SyntaxFailure(`integer literal ${source.slice(start, end)} is beyond ±2^53 and cannot be represented exactly`, start);
  if (source[end] === 'u' || source[end] === 'U') {
    tokens.push({ kind: 'uint', value, at: start });
    return end + 1;
  }
  tokens.push({ kind: 'int', value, at: start });
  return end;
}

/** `at` is where the token starts (including an r prefix); `quoteAt` is the opening quote. */
function readString(source: string, at: number, quoteAt: number, raw: boolean, tokens: Token[]): number {
  const quote = source[quoteAt]!;
  const triple = source.startsWith(quote.repeat(3), quoteAt);
  const close = triple ? quote.repeat(3) : quote;
  let i = quoteAt + close.length;
  let value = '';
  for (;;) {
    if (i >= source.length) throw new SyntaxFailure('unterminated string literal', at);
    if (source.startsWith(close, i)) break;
    const c = source[i]!;
    if (!triple && (c === '\n' || c === '\r')) throw new SyntaxFailure('unterminated string literal (a line break needs a triple-quoted string)', at);
    if (c === '\\' && !raw) {
      const [decoded, next] = readEscape(source, i);
      value += decoded;
      i = next;
    } else if (c === '\\' && raw && source[i + 1] === quote && !triple) {
      value += '\\' + quote;
      i += 2;
    } else {
      value += c;
      i++;
    }
  }
  tokens.push({ kind: 'string', value, at });
  return i + close.length;
}

function readEscape(source: string, at: number): [string, number] {
  const c = source[at + 1] ?? '';
  const simple = simpleEscapes[c];
  if (simple !== undefined && Object.hasOwn(simpleEscapes, c)) return [simple, at + 2];
  const hexLength = c === 'x' || c === 'X' ? 2 : c === 'u' ? 4 : c === 'U' ? 8 : 0;
  if (hexLength > 0) {
    const hex = source.slice(at + 2, at + 2 + hexLength);
    if (!new RegExp(`^[0-9a-fA-F]{${hexLength}}$`).test(hex)) throw new SyntaxFailure(`\\${c} needs ${hexLength} hex digits`, at);
    return [codePoint(Number.parseInt(hex, 16), at), at + 2 + hexLength];
  }
  if (/[0-3]/.test(c) && /^[0-7]{2}$/.test(source.slice(at + 2, at + 4))) {
    return [String.fromCodePoint(Number.parseInt(source.slice(at + 1, at + 4), 8)), at + 4];
  }
  throw new SyntaxFailure(`invalid escape sequence \\${c}`, at);
}

function codePoint(value: number, at: number): string {
  if (value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff)) throw new SyntaxFailure('escape is not a valid Unicode code point', at);
  return String.fromCodePoint(value);
}
