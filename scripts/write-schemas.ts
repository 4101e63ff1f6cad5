// Writes the JSON Schemas editors use to complete and check project files: `npm run schemas`.
// test/config/triggers.test.ts fails when a committed schema differs from the source.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { publishedSchemas } from '../src/config/published-schemas.js';

const root = path.resolve(import.meta.dirname, '..');
for (const [file, schema] of Object.entries(publishedSchemas())) {
  writeFileSync(path.join(root, 'schemas', file), schema);
  console.log(`wrote schemas/${file}`);
}
