// Every value the package exports (functions, factories, classes, constants), in every entry point of
// the package.json `exports` map, carries an `@example` in its JSDoc: the API reference shows how to
// call it. Types and interfaces are described by the values that use them and are not required to.
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, test } from 'vitest';
import { entryPoints, ROOT } from './guides.js';

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

describe('@example on every exported value', () => {
  test('the entry points come from package.json and export values', () => {
    expect(entries.size).toBeGreaterThan(5);
    expect(all.filter((e) => e.value).length).toBeGreaterThan(50);
    // The check reads the tag: an export known to have one is found.
    expect(all.find((e) => e.specifier === 'breakwater/retry' && e.name === 'retry')?.example).toBe(true);
  });

  test.each([...entries.values()])('%s', (specifier) => {
    const missing = all.filter((e) => e.specifier === specifier && e.value && !e.example).map((e) => e.name);
    expect(missing, `exported without an @example in ${specifier}`).toEqual([]);
  });
});
