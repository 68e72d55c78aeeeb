/**
 * What the documentation tests read: the guides in docs/*.md (every page but the project pages
 * listed in PROJECT_PAGES, so a new guide is checked by itself), their ```ts blocks, and a
 * type-checker for those blocks against the package sources.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOCS = path.join(ROOT, 'docs');

/** Pages of docs/ that are about the project, not one pattern: no seed pattern, no agent mapping. */
export const PROJECT_PAGES: readonly string[] = ['architecture.md', 'benchmarks.md', 'choosing.md'];

/** Every markdown page in docs/ (not the generated site in docs/api/). */
export function pages(): string[] {
  return readdirSync(DOCS)
    .filter((f) => f.endsWith('.md'))
    .sort();
}

/** The pattern guides: every page but the project pages. */
export function guides(): string[] {
  return pages().filter((f) => !PROJECT_PAGES.includes(f));
}

export function read(page: string): string {
  return readFileSync(path.join(DOCS, page), 'utf8');
}

/** One fenced code block. */
export interface Block {
  readonly page: string;
  /** 1-based line of the first line of code (after the fence). */
  readonly line: number;
  readonly lang: string;
  /** The rest of the info string, e.g. `no-check`. */
  readonly info: string;
  readonly code: string;
  /** The `## ` section it sits in. */
  readonly section: string;
}

/** The fenced code blocks of a page, with the section each sits in. */
export function blocks(page: string, text = read(page)): Block[] {
  const out: Block[] = [];
  const lines = text.split('\n');
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i] as string;
    if (l.startsWith('## ')) section = l.slice(3).trim();
    const open = /^```(\S*)\s*(.*)$/.exec(l);
    if (open === null) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end] as string)) end++;
    out.push({
      page,
      line: start + 1,
      lang: open[1] ?? '',
      info: open[2] ?? '',
      code: lines.slice(start, end).join('\n'),
      section,
    });
    i = end;
  }
  return out;
}

/** A ```ts block that is type-checked: every one, unless its info string says `no-check`. */
export const checked = (b: Block): boolean => /^(ts|typescript)$/.test(b.lang) && !/\bno-check\b/.test(b.info);

/** The package's entry files and their specifiers, from the package.json `exports` map. */
export function entryPoints(): Map<string, string> {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    name: string;
    exports: Record<string, unknown>;
  };
  const out = new Map<string, string>();
  for (const sub of Object.keys(pkg.exports)) {
    if (typeof pkg.exports[sub] === 'string') continue; // package.json, the registry's JSON Schema
    const file = sub === '.' ? 'src/index.ts' : `src/${sub.slice(2)}/index.ts`;
    out.set(path.join(ROOT, file), sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`);
  }
  return out;
}

/** A type error in a guide's code, located in the guide. */
export interface BlockError {
  readonly where: string;
  readonly message: string;
}

// Cannot find name (…, did you mean), namespace, shorthand property without a value in scope.
const FREE_NAME = new Set([2304, 2552, 2503, 2581, 2582, 2591, 2580, 18004]);

/**
 * Type-checks every block as its own module against the package sources (`breakwater` →
 * src/index.ts, `breakwater/*` → src/\*\/index.ts) with the project's strict options. A name a
 * block uses without declaring it is imported from the entry point that exports it, when one does
 * (a fragment that continues an earlier block still checks breakwater's API), and is otherwise the
 * reader's own (`client`, `db`, `request`…) and declared `any`: the check is about breakwater's API
 * — imports, options, events, return types — not the surroundings a snippet assumes.
 */
export function typeCheck(all: readonly Block[]): BlockError[] {
  const entries = entryPoints();
  const files = new Map<string, { block: Block; text: string }>();
  all.forEach((b, i) => {
    const base = b.page.replace(/\.(md|ts)$/, '').replaceAll('/', '-');
    files.set(path.join(ROOT, '.docs-check', `${base}-${i}.ts`), { block: b, text: b.code });
  });
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    // No DOM lib: guides are for Node services, and DOM globals (`prompt`, `name`, `event`…) would
    // capture the reader's own names. @types/node provides AbortController, fetch, timers, console.
    lib: ['lib.es2023.d.ts'],
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    moduleDetection: ts.ModuleDetectionKind.Force,
    types: ['node'],
    strict: true,
    // A callback passed to the reader's own (undeclared, so \`any\`) objects has untyped parameters;
    // callbacks passed to breakwater are typed by context either way.
    noImplicitAny: false,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: true,
    noEmit: true,
    allowImportingTsExtensions: false,
    baseUrl: ROOT,
    paths: { breakwater: ['src/index.ts'], 'breakwater/*': ['src/*/index.ts'] },
    typeRoots: [path.join(ROOT, 'node_modules/@types')],
  };
  const build = (old?: ts.Program): ts.Program => {
    const host = ts.createCompilerHost(options, true);
    const getSourceFile = host.getSourceFile.bind(host);
    host.getSourceFile = (name, lang, onError, create) => {
      const v = files.get(path.resolve(name));
      return v !== undefined
        ? ts.createSourceFile(name, v.text, lang, true)
        : getSourceFile(name, lang, onError, create);
    };
    const fileExists = host.fileExists.bind(host);
    host.fileExists = (name) => files.has(path.resolve(name)) || fileExists(name);
    const readFile = host.readFile.bind(host);
    host.readFile = (name) => files.get(path.resolve(name))?.text ?? readFile(name);
    const rootNames = [...files.keys(), ...entries.keys()];
    return old === undefined
      ? ts.createProgram({ rootNames, options, host })
      : ts.createProgram({ rootNames, options, host, oldProgram: old });
  };
  const diagnostics = (program: ts.Program) =>
    [...files.keys()].flatMap((f) => {
      const sf = program.getSourceFile(f);
      return sf === undefined ? [] : [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)];
    });

  // Pass 1 finds the free names; pass 2 declares them (after the code, so lines do not move).
  const first = build();
  const exported = new Map<string, string>();
  const checker = first.getTypeChecker();
  for (const [file, specifier] of entries) {
    const sf = first.getSourceFile(file);
    const mod = sf === undefined ? undefined : checker.getSymbolAtLocation(sf);
    if (mod === undefined) continue;
    for (const e of checker.getExportsOfModule(mod)) if (!exported.has(e.name)) exported.set(e.name, specifier);
  }
  for (const d of diagnostics(first)) {
    if (!FREE_NAME.has(d.code) || d.file === undefined || d.start === undefined) continue;
    const f = files.get(path.resolve(d.file.fileName));
    if (f === undefined) continue;
    const name = d.file.text.slice(d.start, d.start + (d.length ?? 0));
    if (!/^[A-Za-z_$][\w$]*$/.test(name)) continue;
    const from = exported.get(name);
    const decl =
      from !== undefined ? `\nimport { ${name} } from '${from}';` : `\ndeclare var ${name}: any; type ${name} = any;`;
    if (!f.text.includes(decl)) f.text += decl;
  }
  const second = build(first);
  return diagnostics(second).map((d) => {
    const f = d.file === undefined ? undefined : files.get(path.resolve(d.file.fileName));
    const pos =
      d.file !== undefined && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
    const where =
      f !== undefined && pos !== undefined
        ? `${f.block.page.startsWith('src/') ? '' : 'docs/'}${f.block.page}:${f.block.line + pos.line}`
        : (d.file?.fileName ?? '?');
    return { where, message: `TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}` };
  });
}
