/**
 * Imports point inward: http/cli -> engine -> core/ports; backends -> ports/core. The core never
 * imports anything with I/O, a clock or randomness, and nothing but the composition root and
 * the CLI knows a concrete backend.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const src = path.resolve(import.meta.dirname, '../src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? files(full) : full.endsWith('.ts') ? [full] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*import\s[^'"]*['"]([^'"]+)['"]/gm), ...text.matchAll(/^\s*export\s[^'"]*from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
}

const layerOf = (file: string): string => path.relative(src, file).split(path.sep)[0]!.replace(/\.(ts|js)$/, '');

const allowed: Record<string, string[]> = {
  core: ['core'],
  ports: ['core', 'ports'],
  backends: ['core', 'ports', 'backends'],
  channels: ['core', 'ports', 'channels'],
  engine: ['core', 'ports', 'engine'],
  config: ['core', 'config'],
  http: ['core', 'ports', 'engine', 'config', 'http'],
  main: ['core', 'ports', 'engine', 'config', 'http', 'backends', 'channels'],
  cli: ['core', 'config', 'engine', 'http', 'main', 'cli'],
};

test('every module imports only from the layers it may depend on', () => {
  const violations: string[] = [];
  for (const file of files(src)) {
    const layer = layerOf(file);
    assert.ok(allowed[layer], `${path.relative(src, file)} is in no known layer`);
    for (const spec of importsOf(file)) {
      if (!spec.startsWith('.')) continue;
      const target = layerOf(path.resolve(path.dirname(file), spec));
      if (!allowed[layer]!.includes(target)) violations.push(`${path.relative(src, file)} imports ${spec} (${layer} -> ${target})`);
    }
  }
  assert.deepEqual(violations, []);
});

test('the core uses no I/O, clock or randomness', () => {
  const forbidden = /\b(Date\.now|new Date\(\)|Math\.random|performance\.now|randomUUID|process\.|setTimeout|setInterval)\b|from ['"]node:/;
  const offenders = files(path.join(src, 'core')).filter((f) => forbidden.test(readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')));
  assert.deepEqual(offenders.map((f) => path.relative(src, f)), []);
});
