/** The JSON Schemas published in `schemas/`, as the text of each file. */
import { TemplateSchema } from '../core/templates/definition.js';
import { TriggerSchema } from '../core/trigger-definition.js';
import { ConfigSchema } from './schema.js';

export function publishedSchemas(): Record<string, string> {
  const text = (schema: object, id: string, title: string) =>
    `${JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', ...schema, $id: id, title }, null, 2)}\n`;
  return {
    'trigger.schema.json': text(TriggerSchema, 'trigger.schema.json', 'Nudge trigger'),
    'template.schema.json': text(TemplateSchema, 'template.schema.json', 'Nudge message template'),
    'nudge.schema.json': text(ConfigSchema, 'nudge.schema.json', 'Nudge project (nudge.yaml)'),
  };
}
