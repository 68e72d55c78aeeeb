// Every export of the package (functions, factories, classes, constants, and the types and
// interfaces users write against: options, events, results, stores), in every entry point of the
// package.json `exports` map, carries an `@example` in its JSDoc, and that code type-checks against
// the sources: the API reference shows how to use each one.
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, test } from 'vitest';
import { type Block, checked, entryPoints, ROOT, typeCheck } from './guides.js';
import { jsdocExamples } from './jsdoc.js';

const entries = entryPoints();
const program = ts.createProgram([...entries.keys()], {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
  types: [],
  strict: true,
  noEmit: true,
  skipLibCheck: true,
});
const checker = program.getTypeChecker();
const VALUE = ts.SymbolFlags.Function | ts.SymbolFlags.Class | ts.SymbolFlags.Variable;

interface Export {
  readonly specifier: string;
  readonly name: string;
  readonly value: boolean;
  readonly example: boolean;
}

function exportsOf(file: string, specifier: string): Export[] {
  const sf = program.getSourceFile(file);
  const mod = sf === undefined ? undefined : checker.getSymbolAtLocation(sf);
  if (mod === undefined) throw new Error(`${path.relative(ROOT, file)} did not compile`);
  return checker.getExportsOfModule(mod).map((e) => {
    const s = e.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(e) : e;
    return {
      specifier,
      name: e.name,
      value: (s.flags & VALUE) !== 0,
      example: s.getJsDocTags(checker).some((t) => t.name === 'example'),
    };
  });
}

const all = [...entries].flatMap(([file, specifier]) => exportsOf(file, specifier));

describe('@example on every export', () => {
  test('the entry points come from package.json and export values', () => {
    expect(entries.size).toBeGreaterThan(5);
    expect(all.filter((e) => e.value).length).toBeGreaterThan(50);
    expect(all.filter((e) => !e.value).length, 'types and interfaces are checked too').toBeGreaterThan(250);
    // The check reads the tag: an export known to have one is found.
    expect(all.find((e) => e.specifier === 'breakwater/retry' && e.name === 'retry')?.example).toBe(true);
  });

  test.each([...entries.values()])('%s', (specifier) => {
    const missing = all.filter((e) => e.specifier === specifier && !e.example).map((e) => e.name);
    expect(missing, `exported without an @example in ${specifier}`).toEqual([]);
  });
});

describe('the @example code type-checks', () => {
  test('every ```ts block after an @example in src/ type-checks against src/ (and a wrong one is caught)', () => {
    const blocks = jsdocExamples();
    // Every export has one (above), so there are at least as many blocks as exports.
    expect(blocks.length).toBeGreaterThan(450);
    expect(
      blocks.filter((b) => !checked(b)).map((b) => `${b.page}:${b.line}`),
      'only ```ts examples',
    ).toEqual([]);
    const probe = {
      ...(blocks[0] as Block),
      page: 'src/probe.ts',
      line: 1,
      code: "import { retry } from 'breakwater/retry';\nretry({ maxRetry: 3 });",
    };
    const errors = typeCheck([...blocks, probe]).map((e) => `${e.where} ${e.message}`);
    expect(errors.filter((e) => e.startsWith('src/probe.ts')).length).toBeGreaterThan(0);
    expect(errors.filter((e) => !e.startsWith('src/probe.ts'))).toEqual([]);
  }, 120_000);
});
