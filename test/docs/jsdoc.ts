/**
 * The `@example` blocks of the JSDoc in src/: each ```ts fence that follows an `@example` tag, with
 * the comment's ` * ` prefixes removed, located by the source file and line of its first line of code.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Block } from './guides.js';
import { ROOT } from './guides.js';

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? walk(path.join(dir, d.name)) : d.name.endsWith('.ts') ? [path.join(dir, d.name)] : [],
  );
}

/** Every `@example` code block of every source file under src/. */
export function jsdocExamples(): Block[] {
  const out: Block[] = [];
  for (const file of walk(path.join(ROOT, 'src')).sort()) {
    const rel = path.relative(ROOT, file);
    const lines = readFileSync(file, 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (!/^\s*\*\s*@example\b/.test(lines[i] as string)) continue;
      const unstar = (l: string) => l.replace(/^\s*\* ?/, '');
      let j = i + 1;
      // The fence opens on the next non-empty comment line.
      while (j < lines.length && unstar(lines[j] as string).trim() === '' && !/\*\//.test(lines[j] as string)) j++;
      const open = /^```(\S*)\s*(.*)$/.exec(unstar(lines[j] as string));
      if (open === null) continue;
      const start = j + 1;
      let end = start;
      while (end < lines.length && !/^```\s*$/.test(unstar(lines[end] as string)) && !/\*\//.test(lines[end] as string))
        end++;
      out.push({
        page: rel,
        line: start + 1,
        lang: open[1] ?? '',
        info: open[2] ?? '',
        code: lines.slice(start, end).map(unstar).join('\n'),
        section: '',
      });
      i = end;
    }
  }
  return out;
}
