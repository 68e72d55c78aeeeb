// Writes schema/registry.schema.json, the JSON Schema of a registry config that the package ships
// as `breakwater/registry/schema.json` (`npm run schema`). test/registry/schema.test.ts checks that
// the shipped file equals what this generates.
import { writeFileSync } from 'node:fs';
import { registrySchema } from '../src/registry/index.js';

export const SCHEMA_FILE: URL = new URL('../schema/registry.schema.json', import.meta.url);

/** The text of the schema file: the generated schema, two-space indented, newline at the end. */
export function schemaText(): string {
  return `${JSON.stringify(registrySchema(), null, 2)}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(SCHEMA_FILE, schemaText());
  console.log(`wrote ${SCHEMA_FILE.pathname}`);
}
