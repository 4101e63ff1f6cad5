/**
 * Headless Chromium for browser tests: Debian's /usr/bin/chromium driven by playwright-core (no
 * browser is ever downloaded). Without Chromium a browser test skips, saying why — except when
 * CI=true, where a missing browser fails the run instead of hiding it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { chromium, type Browser } from 'playwright-core';

/** Where Chromium is looked for; `CHROMIUM_PATH` overrides it. */
export const chromiumPath = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

const args = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  // Tests talk to 127.0.0.1 only: every other host name fails to resolve.
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

export type ChromiumLaunch = { browser: Browser } | { missing: string };

/** Launches Chromium, or says why it is not there. A Chromium that is there but fails to start throws. */
export async function launchChromium(): Promise<ChromiumLaunch> {
  if (!existsSync(chromiumPath)) {
    return { missing: `Chromium not found at ${chromiumPath} (install it with "apt-get install -y chromium", or set CHROMIUM_PATH)` };
  }
  return { browser: await chromium.launch({ executablePath: chromiumPath, headless: true, args }) };
}

/** The browser, or null after skipping `t` loudly; with CI=true a missing browser fails `t`. */
export function requireChromium(t: TestContext, launch: ChromiumLaunch): Browser | null {
  if ('browser' in launch) return launch.browser;
  if (process.env['CI'] === 'true') assert.fail(`${launch.missing}; CI=true requires the browser tests to run`);
  process.stderr.write(`\n*** BROWSER TEST SKIPPED: ${launch.missing} ***\n\n`);
  t.skip(launch.missing);
  return null;
}
