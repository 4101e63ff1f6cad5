/**
 * The triggers in force: loaded from their source (the project's trigger files), compiled, and
 * swapped in whole when the source changes. A definition that does not validate never replaces a
 * good one: the registry keeps the triggers it has and reports the problems.
 *
 * Every version ever applied is remembered in the engine store, so a run keeps the version it
 * started with across edits and restarts (`buildCatalog(current, retained)`).
 */
import type { Issue } from '../core/errors.js';
import type { TriggerDefinition } from '../core/trigger-definition.js';
import { buildCatalog, type Catalog } from '../core/triggers/catalog.js';
import { compileTrigger, type TriggerProgram } from '../core/triggers/program.js';
import type { Clock } from '../ports/clock.js';
import type { EngineStore } from '../ports/engine-store.js';

export interface LoadedDefinition {
  file: string;
  definition: TriggerDefinition;
}

export interface TriggerSource {
  load(): { triggers: LoadedDefinition[]; issues: Issue[] };
}

export interface AppliedTrigger {
  program: TriggerProgram;
  file: string;
}

export interface ReloadResult {
  /** False when the source had problems: the triggers in force did not change. */
  applied: boolean;
  issues: Issue[];
  added: string[];
  changed: string[];
  removed: string[];
}

export class TriggerRegistry {
  private applied = new Map<string, AppliedTrigger>();
  private readonly retained = new Map<string, TriggerProgram>();
  private catalog_: Catalog = buildCatalog([]);
  private lastIssues: Issue[] = [];

  constructor(
    private readonly source: TriggerSource,
    private readonly store: EngineStore,
    private readonly clock: Clock,
    private readonly onCatalog: (catalog: Catalog) => void = () => {},
  ) {}

  /** Loads the versions runs may be on, then the source. */
  async start(): Promise<ReloadResult> {
    for (const v of await this.store.versions()) {
      try {
        const program = compileTrigger(JSON.parse(v.definition) as TriggerDefinition);
        this.retained.set(`${program.id}@${program.version}`, program);
      } catch {
        // A version that no longer compiles: its runs end at their next input ("step_removed").
      }
    }
    return this.reload();
  }

  get catalog(): Catalog {
    return this.catalog_;
  }

  /** The triggers in force, by id. */
  list(): AppliedTrigger[] {
    return [...this.applied.values()];
  }

  get(id: string): AppliedTrigger | undefined {
    return this.applied.get(id);
  }

  /** Problems of the last load (the triggers in force are the last good ones). */
  issues(): Issue[] {
    return this.lastIssues;
  }

  async reload(): Promise<ReloadResult> {
    const { triggers, issues } = this.source.load();
    this.lastIssues = issues;
    if (issues.length > 0) return { applied: false, issues, added: [], changed: [], removed: [] };
    const next = new Map<string, AppliedTrigger>();
    for (const t of triggers) next.set(t.definition.id, { program: compileTrigger(t.definition), file: t.file });
    const added = [...next.keys()].filter((id) => !this.applied.has(id));
    const removed = [...this.applied.keys()].filter((id) => !next.has(id));
    const changed = [...next.keys()].filter((id) => this.applied.has(id) && this.applied.get(id)!.program.version !== next.get(id)!.program.version);
    const fresh = [...next.values()].filter((t) => !this.retained.has(`${t.program.id}@${t.program.version}`));
    if (fresh.length > 0) {
      const firstSeenAt = this.clock.now();
      await this.store.saveVersions(
        fresh.map((t) => ({ triggerId: t.program.id, version: t.program.version, definition: JSON.stringify(t.program.definition), firstSeenAt })),
      );
    }
    for (const t of next.values()) this.retained.set(`${t.program.id}@${t.program.version}`, t.program);
    this.applied = next;
    this.catalog_ = buildCatalog(
      [...next.values()].map((t) => t.program),
      [...this.retained.values()],
    );
    this.onCatalog(this.catalog_);
    return { applied: true, issues: [], added, changed, removed };
  }
}
