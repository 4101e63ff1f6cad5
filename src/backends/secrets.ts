/**
 * Keys the server makes for itself when the config gives none (the key signing tracking links,
 * the in-app token key, the VAPID key pair): created once at random and kept in the data
 * directory (`secrets/<name>`, readable by the owner only), so links and subscriptions stay valid
 * across restarts. A key given in nudge.yaml (from the environment) always wins.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The stored value of `name`, created by `make` if there is none yet. */
export function storedSecret(dataDir: string, name: string, make: () => string = () => randomBytes(32).toString('base64url')): string {
  const dir = path.join(dataDir, 'secrets');
  const file = path.join(dir, name);
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const value = make();
  try {
    writeFileSync(file, `${value}\n`, { mode: 0o600, flag: 'wx' });
    return value;
  } catch (error) {
    // Another process created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(file, 'utf8').trim();
    throw error;
  }
}
