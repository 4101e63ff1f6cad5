/**
 * What ships: the snippet built from its sources (sdk/vite.config.ts) is one IIFE that writes no
 * global but `nudge`, within its size budget (10 KB gzipped), with the service worker beside it;
 * and the modules that hold the snippet's logic stay pure (no DOM, clock, randomness or network),
 * so that they run in these tests as they run in a page.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { builtSdk } from '../support/sdk-build.js';

const sdkSrc = path.resolve(import.meta.dirname, '../../sdk/src');
const snippetBudgetBytes = 10 * 1024;

test('nudge.js and nudge-sw.js: self-contained IIFEs; the snippet is under 10 KB gzipped', async () => {
  const dir = await builtSdk();
  assert.deepEqual(readdirSync(dir).sort(), ['nudge-sw.js', 'nudge.js']);
  for (const name of ['nudge.js', 'nudge-sw.js']) {
    const code = readFileSync(path.join(dir, name), 'utf8');
    assert.match(code, /^\(function\(\)\{[\s\S]*\}\)\(\);\s*$/, `${name} is one IIFE, so it declares no global`);
    assert.doesNotMatch(code, /\bimport\s*\(|\brequire\(/, `${name} loads nothing`);
  }
  const snippet = readFileSync(path.join(dir, 'nudge.js'));
  assert.match(snippet.toString(), /\.nudge=/, 'it installs window.nudge');
  const gzipped = gzipSync(snippet, { level: 9 }).length;
  assert.ok(gzipped <= snippetBudgetBytes, `nudge.js is ${gzipped} bytes gzipped, over the ${snippetBudgetBytes}-byte budget`);
});

test('the logic modules are pure: no DOM, clock, randomness or network, and no import of the DOM layer', () => {
  const pure = readdirSync(sdkSrc, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.startsWith(`dom${path.sep}`) && !['main.ts', 'sw.ts'].includes(f));
  assert.ok(pure.length >= 10, `found ${pure.length} modules`);
  // Globals in use; not properties, fields or strings of the same name (`scope.location`, `{ location: … }`, `'window'`).
  const forbidden = /(?<![.\w'"])(window|document|navigator|localStorage|sessionStorage|location|fetch|EventSource|setTimeout|setInterval|Date\.now|Math\.random|performance|crypto|self)\b(?!\s*[:?]?:)|from ['"]\.\.?\/(\.\.\/)?dom\//;
  const offenders = pure.filter((f) => forbidden.test(readFileSync(path.join(sdkSrc, f), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')));
  assert.deepEqual(offenders, []);
});
