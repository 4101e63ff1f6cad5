/**
 * The project's template folder as the templates in force: loaded at start, reloaded when its
 * files change (a reload with problems keeps the templates in force and reports them), and
 * rendered for the dispatcher. A file is compiled again only when its text changes.
 *
 * A project without a template folder sends messages without content, as before templates
 * existed; once the folder exists, a message whose template is missing fails on its channel.
 */
import { existsSync, watch, type FSWatcher } from 'node:fs';
import type { Issue } from '../core/errors.js';
import type { Profile } from '../core/profile.js';
import { renderOutbound, type CompiledTemplate, type RenderedParts, type ReservedCode } from '../core/templates/render.js';
import type { OutboundMessage } from '../core/triggers/state.js';
import { loadTemplates, type TemplateCache } from './templates.js';

/** Edits come in bursts (an editor writes, renames, touches): apply once they settle. */
const settleMs = 200;

export class TemplateFiles {
  private current = new Map<string, CompiledTemplate>();
  private found = false;
  private problems: Issue[] = [];
  private readonly cache: TemplateCache = new Map();
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(readonly dir: string) {}

  /** Reads the folder; applies it unless a file has problems (then the templates in force stay). */
  reload(): { applied: boolean; issues: Issue[] } {
    const loaded = loadTemplates(this.dir, this.cache);
    this.problems = loaded.issues;
    const applied = loaded.issues.length === 0 || this.current.size === 0;
    // At start (nothing in force yet) the good files are used even if others have problems.
    if (applied) {
      this.current = loaded.templates;
      this.found = loaded.found;
    }
    return { applied, issues: loaded.issues };
  }

  get(id: string): CompiledTemplate | undefined {
    return this.current.get(id);
  }

  list(): CompiledTemplate[] {
    return [...this.current.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Problems of the last reload. */
  issues(): Issue[] {
    return this.problems;
  }

  /** The kind of personal discount code a message's template asks for, if any. */
  codeKindOf(message: OutboundMessage): string | null {
    return this.current.get(message.template)?.definition.code ?? null;
  }

  /** A message's content on one channel, in the dispatcher's terms. */
  render(message: OutboundMessage, channel: string, user: Profile | null, now: number, code: ReservedCode | null = null): { ok: true; content: RenderedParts } | { ok: false; error: string } {
    if (!this.found) return { ok: true, content: {} };
    const result = renderOutbound(this.current, message, channel, user, now, code);
    return result.ok ? result : { ok: false, error: result.error.message };
  }

  /** Reloads once a burst of edits in the folder has settled (if the folder exists). */
  watch(onReload: (result: { applied: boolean; issues: Issue[] }) => void): void {
    if (!existsSync(this.dir)) return;
    this.watcher = watch(this.dir, (_event, name) => {
      if (name && !/\.ya?ml$/.test(name)) return;
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => onReload(this.reload()), settleMs);
      this.timer.unref();
    });
    this.watcher.unref();
  }

  close(): void {
    this.watcher?.close();
    if (this.timer) clearTimeout(this.timer);
  }
}
