// The pattern guides (docs/*.md, found by a glob): each names its seed pattern, has an agent mapping
// in TypeScript that imports breakwater, and every ```ts block type-checks against the sources.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { type Block, blocks, checked, guides, PROJECT_PAGES, pages, ROOT, read, typeCheck } from './guides.js';

const all = guides();

describe('guides', () => {
  test('the glob finds the guides', () => {
    expect(all.length).toBeGreaterThan(10);
    expect(all).toContain('retry.md');
    for (const p of PROJECT_PAGES) expect(pages(), `docs/${p} is missing`).toContain(p);
  });

  test.each(all)('%s opens with its title, then names its seed pattern', (page) => {
    const lines = read(page).split('\n');
    expect(lines[0], 'the first line is the `# ` title').toMatch(/^# \S/);
    const first = lines.slice(1).find((l) => l.trim() !== '') ?? '';
    expect(first, 'the first line after the title says "Seed pattern: …"').toMatch(/seed pattern/i);
  });

  test.each(all)('%s has an `## Agent mapping` section with checked TypeScript that imports breakwater', (page) => {
    const text = read(page);
    expect(text, 'no `## Agent mapping` section').toMatch(/^## Agent mapping\b/m);
    const mapping = blocks(page, text).filter((b) => /^Agent mapping\b/.test(b.section));
    const ts = mapping.filter((b) => /^(ts|typescript)$/.test(b.lang));
    expect(ts.length, 'no ```ts block in the agent mapping').toBeGreaterThan(0);
    expect(
      ts.filter((b) => !checked(b)).map((b) => `docs/${page}:${b.line}`),
      'the agent mapping may not opt out of the type check',
    ).toEqual([]);
    expect(ts.some((b) => /from '(breakwater(\/[\w/-]+)?)'/.test(b.code))).toBe(true);
  });

  test('every ```ts block of every guide type-checks against src/ (and the checker catches misuse)', () => {
    const real = all.flatMap((p) => blocks(p)).filter(checked);
    // Probes that must fail: a wrong option, a wrong import, a wrong event field — with and without imports.
    let n = 0;
    const probe = (code: string): Block => ({
      page: `probe-${++n}.md`,
      line: 1,
      lang: 'ts',
      info: '',
      code,
      section: '',
    });
    const probes = [
      probe("import { retry } from 'breakwater/retry';\nretry({ maxRetry: 3 });"),
      probe("import { retryy } from 'breakwater/retry';\nvoid retryy;"),
      probe("timeout(1000).on('timeout', (e) => e.attempt.toFixed());"),
      probe('const ok: number = Policy.wrap(retry()).layers;\nvoid client.anything(ok);'),
    ];
    const errors = typeCheck([...real, ...probes]);
    const fromProbes = errors.filter((e) => e.where.startsWith('docs/probe-'));
    expect(new Set(fromProbes.map((e) => e.where)).size, JSON.stringify(fromProbes)).toBe(probes.length);
    expect(errors.filter((e) => !e.where.startsWith('docs/probe-')).map((e) => `${e.where} ${e.message}`)).toEqual([]);
  }, 120_000);

  test("the README's quick start type-checks too", () => {
    const readme = blocks('../README.md', readFileSync(`${ROOT}README.md`, 'utf8')).filter(checked);
    expect(readme.length).toBeGreaterThan(0);
    expect(typeCheck(readme).map((e) => `${e.where} ${e.message}`)).toEqual([]);
  }, 60_000);
});
