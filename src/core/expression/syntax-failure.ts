/**
 * Thrown inside the lexer and parser only, and caught by `compile`: it unwinds the recursive
 * descent in one step. It never leaves the expression module; callers get a positioned result.
 */
export class SyntaxFailure extends Error {
  override readonly name = 'SyntaxFailure';
  constructor(
    message: string,
    /** Offset in the source, 0-based. */
    readonly at: number,
  ) {
    super(message);
  }
}

/** 1-based line and column of an offset (columns count UTF-16 units, as editors' positions do). */
export function positionOf(source: string, at: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(Math.max(at, 0), source.length);
  for (let i = 0; i < end; i++) {
    if (source.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}
