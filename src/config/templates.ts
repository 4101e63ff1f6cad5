/**
 * Template files (`templates/*.yaml` beside nudge.yaml): read, checked against the schema, every
 * Liquid part parsed, and checked against the triggers that name them. Every problem is reported
 * as `file:line:column: field: message`; a Liquid error points inside the part where it is.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import type { Issue } from '../core/errors.js';
import { TemplateSchema, type TemplateDefinition } from '../core/templates/definition.js';
import { compileTemplate, type CompiledTemplate } from '../core/templates/render.js';
import type { StepDefinition } from '../core/trigger-definition.js';
import { nestedSteps, type LoadedTrigger } from './triggers.js';
import { YamlSource, type YamlPath } from './yaml-source.js';

const validate = new Ajv({ allErrors: true, strict: false, verbose: true }).compile<TemplateDefinition>(TemplateSchema);

/** Reads one template file's text; `template` is set only when there are no issues. */
export function parseTemplate(text: string, file: string): { template: CompiledTemplate | null; issues: Issue[] } {
  const source = new YamlSource(text, file);
  const syntax = source.syntaxIssues();
  if (syntax.length > 0) return { template: null, issues: syntax };
  const raw: unknown = source.doc.toJS();
  if (!validate(raw)) return { template: null, issues: source.schemaIssues(validate.errors ?? []) };
  const compiled = compileTemplate(raw, file);
  if (compiled.ok) return { template: compiled.template, issues: [] };
  return { template: null, issues: compiled.problems.map((p) => source.issue(p.path, p.message, p.within ? { within: p.within } : {})) };
}

/** A file's text and what it compiled to: a file is parsed again only when its text changes. */
export type TemplateCache = Map<string, { text: string; parsed: ReturnType<typeof parseTemplate> }>;

export interface LoadedTemplates {
  /** False when the folder does not exist. */
  found: boolean;
  templates: Map<string, CompiledTemplate>;
  issues: Issue[];
}

/** Every `*.yaml`/`*.yml` file of `dir`, in name order. */
export function loadTemplates(dir: string, cache: TemplateCache = new Map()): LoadedTemplates {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /\.ya?ml$/.test(n)).sort();
  } catch {
    return { found: false, templates: new Map(), issues: [] };
  }
  const templates = new Map<string, CompiledTemplate>();
  const issues: Issue[] = [];
  const files = new Set<string>();
  for (const name of names) {
    const file = path.join(dir, name);
    files.add(file);
    const text = readFileSync(file, 'utf8');
    let entry = cache.get(file);
    if (entry?.text !== text) {
      entry = { text, parsed: parseTemplate(text, file) };
      cache.set(file, entry);
    }
    const { template, issues: found } = entry.parsed;
    issues.push(...found);
    if (!template) continue;
    const other = templates.get(template.id);
    if (other) {
      issues.push(new YamlSource(text, file).issue(['id'], `template id "${template.id}" is also used by ${other.file}`));
      continue;
    }
    templates.set(template.id, template);
  }
  for (const file of cache.keys()) if (!files.has(file)) cache.delete(file);
  return { found: true, templates, issues };
}

/**
 * Every `template:` of a send step names a template that has parts for the step's channel and
 * for each of its fallbacks. Problems are located in the trigger files.
 */
export function checkTemplateReferences(triggers: readonly LoadedTrigger[], templates: ReadonlyMap<string, CompiledTemplate>, dir: string): Issue[] {
  const issues: Issue[] = [];
  for (const { file, definition } of triggers) {
    let source: YamlSource | null = null;
    const at = (where: YamlPath, message: string): void => {
      source ??= new YamlSource(readFileSync(file, 'utf8'), file);
      issues.push(source.issue(where, message));
    };
    const visit = (steps: readonly unknown[], where: YamlPath): void =>
      steps.forEach((raw, i) => {
        const step = raw as StepDefinition;
        const here = [...where, i];
        if ('send' in step) {
          const template = templates.get(step.template);
          if (!template) return at([...here, 'template'], `no template "${step.template}" in ${dir}`);
          if (!template.channels.has(step.send)) at([...here, 'template'], `template "${step.template}" (${template.file}) has no ${step.send} parts`);
          step.fallback?.forEach((channel, j) => {
            if (!template.channels.has(channel)) at([...here, 'fallback', j], `template "${step.template}" (${template.file}) has no ${channel} parts for this fallback`);
          });
        }
        for (const [list, nested] of nestedSteps(step, here)) visit(list, nested);
      });
    visit(definition.steps, ['steps']);
  }
  return issues;
}

/** Templates asking for a kind of discount code nudge.yaml does not define. */
export function checkTemplateCodes(templates: ReadonlyMap<string, CompiledTemplate>, kinds: ReadonlySet<string>): Issue[] {
  return [...templates.values()]
    .filter((t) => t.definition.code !== undefined && !kinds.has(t.definition.code))
    .map((t) => new YamlSource(readFileSync(t.file, 'utf8'), t.file).issue(['code'], `no code kind "${t.definition.code}" in nudge.yaml \`codes\` (${kinds.size ? [...kinds].join(', ') : 'none defined'})`));
}
