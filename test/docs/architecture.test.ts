// docs/architecture.md stays true to the code: its module map is the generated one (exports map,
// @module comments, test/pkg/arrows.ts), and the core files that implement the protocol it describes
// link to it.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { moduleMap, PAGE, withFreshMap } from '../../scripts/module-map.js';
import { ARROWS } from '../pkg/arrows.js';
import { ROOT } from './guides.js';

const page = readFileSync(PAGE, 'utf8');

describe('docs/architecture.md', () => {
  test('the module map is current (refresh: npx tsx scripts/module-map.ts --write)', () => {
    expect(withFreshMap(page) === page, 'the module map is stale: run `npx tsx scripts/module-map.ts --write`').toBe(
      true,
    );
  });

  test('the map shows every arrow of test/pkg/arrows.ts', () => {
    const map = moduleMap();
    for (const [from, tos] of Object.entries(ARROWS)) {
      expect(map).toContain(`\`${from}\``);
      for (const to of tos) expect(map).toContain(`\`${to}\``);
    }
    expect(map).toMatch(/\| `messaging` \| `breakwater\/messaging` \|.*\| `idempotency` \|/);
  });

  test.each(['src/core/policy.ts', 'src/core/context.ts', 'src/core/deadline-queue.ts'])(
    '%s links to it where the protocol is implemented',
    (file) => {
      expect(readFileSync(`${ROOT}${file}`, 'utf8')).toContain('docs/architecture.md');
    },
  );
});
