/**
 * Trigger files (`triggers/*.yaml` beside nudge.yaml): read, checked against the schema, and
 * checked for what a schema cannot say — every condition compiles, ids are unique, `else` comes
 * last. Every problem is reported as `file:line:column: field: message`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import { Ajv, type ValidateFunction } from 'ajv';
import type { Issue } from '../core/errors.js';
import { compileCondition } from '../core/expression/index.js';
import { stepKinds, stepKindSchemas, TriggerSchema, type StepDefinition, type StepKind, type TriggerDefinition } from '../core/trigger-definition.js';
import { YamlSource, type YamlPath } from './yaml-source.js';

export interface LoadedTrigger {
  file: string;
  definition: TriggerDefinition;
}

/*
 * The published schema says a step is any one of its kinds; validated that way, a wrong step gets
 * a complaint from every kind. So the trigger is validated with steps left open, and each step
 * then against the one kind its keyword names (nested steps again left open, and visited next).
 */
const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
const validateTrigger = ajv.compile(Type.Object({ ...TriggerSchema.properties, steps: Type.Array(Type.Unknown(), { minItems: 1 }) }, { additionalProperties: false }));
const shallowKinds = stepKindSchemas(Type.Unknown());
const validateStep = Object.fromEntries(stepKinds.map((k) => [k, ajv.compile(shallowKinds[k])])) as Record<StepKind, ValidateFunction>;

/** Reads one trigger file's text; `trigger` is set only when there are no issues. */
export function parseTrigger(text: string, file: string): { trigger: TriggerDefinition | null; issues: Issue[] } {
  const source = new YamlSource(text, file);
  const syntax = source.syntaxIssues();
  if (syntax.length > 0) return { trigger: null, issues: syntax };
  const raw: unknown = source.doc.toJS();
  if (!validateTrigger(raw)) return { trigger: null, issues: source.schemaIssues(validateTrigger.errors ?? []) };
  const shapeIssues = stepIssues((raw as { steps: unknown[] }).steps, ['steps'], source);
  if (shapeIssues.length > 0) return { trigger: null, issues: shapeIssues };
  const trigger = raw as TriggerDefinition;
  const issues = semanticIssues(trigger, source);
  return { trigger: issues.length === 0 ? trigger : null, issues };
}

function stepIssues(steps: readonly unknown[], at: YamlPath, source: YamlSource): Issue[] {
  return steps.flatMap((step, i) => {
    const here = [...at, i];
    const kinds = typeof step === 'object' && step !== null ? stepKinds.filter((k) => k in step) : [];
    if (kinds.length !== 1) {
      const message = kinds.length === 0 ? `a step needs one of ${stepKinds.join(', ')}` : `a step is one of ${stepKinds.join(', ')}, not ${kinds.join(' and ')}`;
      return [source.issue(here, message)];
    }
    const validate = validateStep[kinds[0]!];
    if (!validate(step)) return source.schemaIssues(validate.errors ?? [], here);
    return nestedSteps(step as StepDefinition, here).flatMap(([list, path]) => stepIssues(list, path, source));
  });
}

/** The step lists inside a step, with their paths. */
export function nestedSteps(step: StepDefinition, at: YamlPath): [readonly unknown[], YamlPath][] {
  if ('wait_for' in step) {
    return [
      ...(step.on_event ? [[step.on_event, [...at, 'on_event']] as [unknown[], YamlPath]] : []),
      ...(step.on_timeout ? [[step.on_timeout, [...at, 'on_timeout']] as [unknown[], YamlPath]] : []),
    ];
  }
  if ('branch' in step) {
    return step.branch.map((arm, j) => ('else' in arm ? [arm.else, [...at, 'branch', j, 'else']] : [arm.steps, [...at, 'branch', j, 'steps']]));
  }
  if ('experiment' in step) return step.experiment.variants.map((v, j) => [v.steps, [...at, 'experiment', 'variants', j, 'steps']]);
  return [];
}

/** Every `*.yaml`/`*.yml` file of `dir` (none if it does not exist), in name order. */
export function loadTriggers(dir: string): { triggers: LoadedTrigger[]; issues: Issue[] } {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /\.ya?ml$/.test(n)).sort();
  } catch {
    return { triggers: [], issues: [] };
  }
  const triggers: LoadedTrigger[] = [];
  const issues: Issue[] = [];
  const seen = new Map<string, string>();
  for (const name of names) {
    const file = path.join(dir, name);
    const parsed = parseTrigger(readFileSync(file, 'utf8'), file);
    issues.push(...parsed.issues);
    if (!parsed.trigger) continue;
    const other = seen.get(parsed.trigger.id);
    if (other) {
      issues.push(new YamlSource(readFileSync(file, 'utf8'), file).issue(['id'], `trigger id "${parsed.trigger.id}" is also used by ${other}`));
      continue;
    }
    seen.set(parsed.trigger.id, file);
    triggers.push({ file, definition: parsed.trigger });
  }
  return { triggers, issues };
}

function semanticIssues(trigger: TriggerDefinition, source: YamlSource): Issue[] {
  const issues: Issue[] = [];
  const condition = (at: YamlPath, expression: string | undefined): void => {
    if (expression === undefined) return;
    const compiled = compileCondition(expression);
    if (!compiled.ok) issues.push(source.issue(at, compiled.error.message, { within: compiled.error }));
  };
  condition(['entry', 'when'], trigger.entry.when);
  trigger.exit_on?.forEach((m, i) => condition(['exit_on', i, 'when'], m.when));
  condition(['goal', 'when'], trigger.goal?.when);

  const stepIds = new Set<string>();
  const steps = (list: readonly StepDefinition[], at: YamlPath): void =>
    list.forEach((step, i) => {
      const here = [...at, i];
      if (step.id !== undefined) {
        if (stepIds.has(step.id)) issues.push(source.issue([...here, 'id'], `step id "${step.id}" is used twice in this trigger`));
        stepIds.add(step.id);
      }
      if ('wait_for' in step) {
        step.wait_for.forEach((m, j) => condition([...here, 'wait_for', j, 'when'], m.when));
        if (step.on_event) steps(step.on_event, [...here, 'on_event']);
        if (step.on_timeout) steps(step.on_timeout, [...here, 'on_timeout']);
      } else if ('branch' in step) {
        step.branch.forEach((arm, j) => {
          if ('else' in arm) {
            if (j !== step.branch.length - 1) issues.push(source.issue([...here, 'branch', j, 'else'], 'else must be the last arm of a branch'));
            steps(arm.else, [...here, 'branch', j, 'else']);
          } else {
            condition([...here, 'branch', j, 'when'], arm.when);
            steps(arm.steps, [...here, 'branch', j, 'steps']);
          }
        });
      } else if ('experiment' in step) {
        const names = new Set<string>();
        step.experiment.variants.forEach((v, j) => {
          if (names.has(v.name)) issues.push(source.issue([...here, 'experiment', 'variants', j, 'name'], `variant "${v.name}" appears twice`));
          names.add(v.name);
          steps(v.steps, [...here, 'experiment', 'variants', j, 'steps']);
        });
      }
    });
  steps(trigger.steps, ['steps']);
  return issues;
}
