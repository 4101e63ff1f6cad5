/**
 * A YAML file read so that every problem can be located: `file:line:column: field`. Shared by
 * nudge.yaml and trigger files.
 */
import type { ErrorObject } from 'ajv';
import { isMap, isNode, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import type { Issue } from '../core/errors.js';

export type YamlPath = (string | number)[];

export class YamlSource {
  readonly doc: Document;
  private readonly lines = new LineCounter();

  constructor(
    readonly text: string,
    readonly file: string,
  ) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: true });
  }

  /** Syntax errors, located. */
  syntaxIssues(): Issue[] {
    return this.doc.errors.map((e) => ({
      path: `${this.file}:${e.linePos?.[0].line ?? 1}:${e.linePos?.[0].col ?? 1}`,
      message: e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''),
    }));
  }

  /** Where the value at `path` starts (or its key, with `atKey`), 1-based. */
  position(path: YamlPath, atKey = false): { line: number; col: number } {
    const node = atKey ? keyNode(this.doc.getIn(path.slice(0, -1), true), path[path.length - 1]) : this.doc.getIn(path, true);
    const offset = isNode(node) && node.range ? node.range[0] : 0;
    return this.lines.linePos(offset);
  }

  /**
   * An issue at the value of `path`. `within` points inside a string value (1-based line and
   * column of the string itself), e.g. at the token of a condition that failed to compile.
   */
  issue(path: YamlPath, message: string, options: { atKey?: boolean; within?: { line: number; column: number } } = {}): Issue {
    const pos = this.position(path, options.atKey);
    const at = options.within ? this.inside(path, pos, options.within) : pos;
    return { path: `${this.file}:${at.line}:${at.col}: ${fieldName(path)}`, message };
  }

  /** Maps a position inside a scalar's text to the file: quotes and block indentation shift it. */
  private inside(path: YamlPath, start: { line: number; col: number }, within: { line: number; column: number }): { line: number; col: number } {
    const node = this.doc.getIn(path, true);
    const type = isScalar(node) ? node.type : undefined;
    if (type === 'BLOCK_LITERAL' || type === 'BLOCK_FOLDED') {
      // The text starts on the line after the `|` or `>`, indented; each of its lines is a line of the file.
      const firstLine = this.text.split('\n')[start.line] ?? '';
      const indent = firstLine.length - firstLine.trimStart().length;
      return { line: start.line + within.line, col: indent + within.column };
    }
    const quote = type === 'QUOTE_DOUBLE' || type === 'QUOTE_SINGLE' ? 1 : 0;
    return within.line > 1 ? { line: start.line + within.line - 1, col: within.column } : { line: start.line, col: start.col + quote + within.column - 1 };
  }

  /** Ajv's errors (about the value at `prefix`) as located issues; an unknown property is pointed at by its key. */
  schemaIssues(errors: readonly ErrorObject[], prefix: YamlPath = []): Issue[] {
    // Where a value matches none of several forms, Ajv complains about each form and then about
    // the union; one issue saying what the union allows (its description, with verbose errors) is clearer.
    const unions = new Map(errors.filter((e) => e.keyword === 'anyOf').map((e) => [e.instancePath, e]));
    const kept = errors.filter((e) => !unions.has(e.instancePath) || e.keyword === 'anyOf');
    return kept.map((e) => {
      const parts: YamlPath = [...prefix, ...e.instancePath.split('/').slice(1).map((p) => (/^\d+$/.test(p) ? Number(p) : p.replace(/~1/g, '/').replace(/~0/g, '~')))];
      if (e.keyword === 'additionalProperties') {
        const unknown = (e.params as { additionalProperty: string }).additionalProperty;
        return this.issue([...parts, unknown], 'unknown option', { atKey: true });
      }
      if (e.keyword === 'anyOf') {
        const description = (e.parentSchema as { description?: string } | undefined)?.description;
        return this.issue(parts, description ? `expected ${description}` : 'matches none of the allowed forms');
      }
      if (e.keyword === 'enum') return this.issue(parts, `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`);
      return this.issue(parts, e.message ?? 'invalid');
    });
  }
}

export function fieldName(path: YamlPath): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '') || '(root)';
}

/** The key node of `key` in a YAML map node, to point at an unknown option itself. */
function keyNode(map: unknown, key: string | number | undefined): unknown {
  if (!isMap(map)) return map;
  const pair = map.items.find((p) => isScalar(p.key) && p.key.value === key);
  return pair?.key ?? map;
}
