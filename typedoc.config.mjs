// API docs. Entry points come from the package.json `exports` map, the one list of modules.
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const entryPoints = Object.keys(pkg.exports)
  .filter((sub) => typeof pkg.exports[sub] !== 'string') // package.json, the registry's JSON Schema
  .map((sub) => (sub === '.' ? 'src/index.ts' : `src/${sub.slice(2)}/index.ts`));

/** @type {import('typedoc').TypeDocOptions} */
export default {
  entryPoints,
  out: 'docs/api',
  tsconfig: 'tsconfig.build.json',
  excludePrivate: true,
  excludeInternal: true,
  disableSources: true,
  treatWarningsAsErrors: true,
  validation: { notExported: false, invalidLink: true, notDocumented: true },
  requiredToBeDocumented: ['Class', 'Function', 'Interface', 'TypeAlias', 'Variable'],
};
