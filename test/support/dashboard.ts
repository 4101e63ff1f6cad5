/**
 * For the dashboard's browser test: the dashboard built from its source as `npm run build` builds
 * it (into dist/dashboard, where the server serves it from), screenshots for review under
 * test-results/screenshots/, and a check that every control on a page has a name.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { build } from 'vite';

const root = path.resolve(import.meta.dirname, '../..');
export const screenshotDir = path.join(root, 'test-results', 'screenshots');

/** Builds dashboard/ into dist/dashboard, quietly. */
export async function buildDashboard(): Promise<void> {
  await build({ configFile: path.join(root, 'dashboard', 'vite.config.ts'), logLevel: 'silent' });
}

/** Writes the whole page as `<name>.png` for review. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true });
}

/** Controls on the page that a screen reader could not name (no label, aria-label or text): their HTML. */
export function unnamedControls(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea, button, a[href]')]
      .filter((el) => {
        const labelled = (el as HTMLInputElement).labels?.length || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
        return !labelled && !(el.textContent ?? '').trim();
      })
      .map((el) => el.outerHTML.slice(0, 120)),
  );
}
