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

  /** An issue at the value of `path`; `shift` moves it inside a one-line scalar (0-based line, 1-based column). */
  issue(path: YamlPath, message: string, options: { atKey?: boolean; within?: { line: number; column: number } } = {}): Issue {
    const pos = this.position(path, options.atKey);
    const within = options.within;
    const node = this.doc.getIn(path, true);
    // A quoted scalar starts one character before its text.
    const quote = isScalar(node) && (node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE') ? 1 : 0;
    const line = within && within.line > 1 ? pos.line + within.line - 1 : pos.line;
    const col = within ? (within.line > 1 ? within.column : pos.col + quote + within.column - 1) : pos.col;
    return { path: `${this.file}:${line}:${col}: ${fieldName(path)}`, message };
  }

  /** Ajv's errors as located issues; an unknown property is pointed at by its key. */
  schemaIssues(errors: readonly ErrorObject[]): Issue[] {
    return errors.map((e) => {
      const parts: YamlPath = e.instancePath.split('/').slice(1).map((p) => (/^\d+$/.test(p) ? Number(p) : p.replace(/~1/g, '/').replace(/~0/g, '~')));
      if (e.keyword === 'additionalProperties') {
        const unknown = (e.params as { additionalProperty: string }).additionalProperty;
        return this.issue([...parts, unknown], 'unknown option', { atKey: true });
      }
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
