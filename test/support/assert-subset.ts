/** Asserts that `actual` has every field of `expected` (recursively) with equal values. */
import assert from 'node:assert/strict';

export function assertSubset(actual: unknown, expected: unknown, path = '$'): void {
  if (expected === null || typeof expected !== 'object' || Array.isArray(expected)) {
    assert.deepEqual(actual, expected, `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
    return;
  }
  assert.ok(actual !== null && typeof actual === 'object', `${path}: expected an object, got ${JSON.stringify(actual)}`);
  for (const [key, value] of Object.entries(expected)) {
    assertSubset((actual as Record<string, unknown>)[key], value, `${path}.${key}`);
  }
}
