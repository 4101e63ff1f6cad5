/**
 * The project's trigger folder as a source of triggers: read and validated (triggers.ts), written
 * by the management API (one file per trigger, `<id>.yaml`), and watched for edits so a running
 * server applies them without a restart.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Issue } from '../core/errors.js';
import { loadTriggers, parseTrigger, type LoadedTrigger } from './triggers.js';

/** Edits come in bursts (an editor writes, renames, touches): apply once they settle. */
const settleMs = 200;

export class TriggerFiles {
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(readonly dir: string) {}

  load(): { triggers: LoadedTrigger[]; issues: Issue[] } {
    return loadTriggers(this.dir);
  }

  /**
   * Writes one trigger's YAML (or JSON) text as `<id>.yaml` if it is valid and its id is `id`;
   * replaces any other file that defined the same id. Returns the problems otherwise.
   */
  write(id: string, text: string): { issues: Issue[] } {
    const file = path.join(this.dir, `${id}.yaml`);
    const { trigger, issues } = parseTrigger(text, file);
    if (!trigger) return { issues };
    if (trigger.id !== id) return { issues: [{ path: `${file}: id`, message: `the trigger's id is "${trigger.id}", but it is being written as "${id}"` }] };
    mkdirSync(this.dir, { recursive: true });
    const previous = this.fileOf(id);
    // Written aside and renamed, so a reader (or the watcher) never sees half a file.
    const temp = path.join(this.dir, `.${id}.yaml.tmp`);
    writeFileSync(temp, text.endsWith('\n') ? text : `${text}\n`);
    renameSync(temp, file);
    if (previous && previous !== file) rmSync(previous);
    return { issues: [] };
  }

  /** Removes the file that defines `id`; false if there is none. */
  remove(id: string): boolean {
    const file = this.fileOf(id);
    if (!file) return false;
    rmSync(file);
    return true;
  }

  /** Calls `onChange` once a burst of edits in the folder has settled (if the folder exists). */
  watch(onChange: () => void): void {
    if (!existsSync(this.dir)) return;
    this.watcher = watch(this.dir, (_event, name) => {
      if (name && !/\.ya?ml$/.test(name)) return;
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(onChange, settleMs);
      this.timer.unref();
    });
    this.watcher.unref();
  }

  close(): void {
    this.watcher?.close();
    if (this.timer) clearTimeout(this.timer);
  }

  private fileOf(id: string): string | null {
    if (!existsSync(this.dir)) return null;
    for (const name of readdirSync(this.dir)) {
      if (!/\.ya?ml$/.test(name)) continue;
      const file = path.join(this.dir, name);
      if (parseTrigger(readFileSync(file, 'utf8'), file).trigger?.id === id) return file;
    }
    return null;
  }
}
