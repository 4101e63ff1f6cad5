/**
 * Builds the browser snippet from its sources (sdk/vite.config.ts) into a temporary folder, once
 * per test process (removed when it exits), so that tests run what the sources say rather than a
 * stale dist/sdk.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createBuilder } from 'vite';
import { sdkBuildConfig } from '../../sdk/vite.config.js';

let built: Promise<string> | undefined;

/** The folder holding nudge.js and nudge-sw.js, built on the first call. */
export function builtSdk(): Promise<string> {
  built ??= (async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nudge-sdk-build-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const builder = await createBuilder({ ...sdkBuildConfig(dir), configFile: false });
    await builder.buildApp();
    return dir;
  })();
  return built;
}
