// The documentation site (`npm run docs` → docs/api/index.html): the README as the landing page,
// every page in docs/*.md (a glob: a new guide appears by itself), and the API reference of every
// entry point. Entry points come from the package.json `exports` map, the one list of modules.
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const entryPoints = Object.keys(pkg.exports)
  .filter((sub) => typeof pkg.exports[sub] !== 'string') // package.json, the registry's JSON Schema
  .map((sub) => (sub === '.' ? 'src/index.ts' : `src/${sub.slice(2)}/index.ts`));

/** @type {import('typedoc').TypeDocOptions} */
export default {
  name: pkg.name,
  entryPoints,
  out: 'docs/api',
  tsconfig: 'tsconfig.build.json',
  readme: 'README.md',
  projectDocuments: ['docs/*.md'],
  plugin: ['./scripts/typedoc-guides.mjs'],
  customCss: './scripts/typedoc-site.css',
  highlightLanguages: ['typescript', 'javascript', 'json', 'bash', 'sh', 'sql', 'text', 'python'],
  groupOrder: ['Guides', 'Project', '*'],
  navigation: { includeGroups: true },
  excludePrivate: true,
  excludeInternal: true,
  disableSources: true,
  treatWarningsAsErrors: true,
  validation: { notExported: false, invalidLink: true, invalidPath: true, notDocumented: true },
  requiredToBeDocumented: ['Class', 'Function', 'Interface', 'TypeAlias', 'Variable'],
};
