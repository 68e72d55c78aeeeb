// registryFromFile with watch: close() with a reload pending (changes within the debounce) leaves
// no timer or watcher behind and reloads nothing afterwards; an atomic save (write tmp, rename over)
// right after a burst of writes is applied as the final content, once.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { registryFromFile } from '../../src/registry/file/index.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bw-qa6-registry-'));
  file = join(dir, 'resilience.json');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const cfg = (n: number) => JSON.stringify({ targets: { llm: [{ retry: { maxRetries: n, backoff: 0 } }] } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const resources = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'FSEvent');

test('close() with a reload pending leaves no timer or watcher and reloads nothing afterwards', async () => {
  writeFileSync(file, cfg(1));
  const before = resources().length;
  const r = await registryFromFile(file, { watch: true, debounce: 200 });
  let applied = 0;
  r.on('config-applied', () => applied++);
  writeFileSync(file, cfg(2));
  await sleep(50); // the change event has armed the debounce timer
  r.close();
  expect(resources().length).toBeLessThanOrEqual(before);
  await sleep(400);
  expect(applied).toBe(0);
  expect(r.version).toBe(1);
});

test('a burst of writes ending in an atomic save (tmp + rename) is one reload of the final content', async () => {
  writeFileSync(file, cfg(1));
  // A debounce far above the burst's gaps, so a loaded machine does not split the burst.
  const r = await registryFromFile(file, { watch: true, debounce: 250 });
  try {
    const applied: number[] = [];
    r.on('config-applied', (e) => applied.push(e.version));
    for (let i = 2; i < 8; i++) {
      writeFileSync(file, cfg(i));
      await sleep(5);
    }
    writeFileSync(join(dir, '.resilience.json.tmp'), cfg(42));
    renameSync(join(dir, '.resilience.json.tmp'), file);
    const end = Date.now() + 3000;
    while (applied.length === 0 && Date.now() < end) await sleep(20);
    await sleep(600);
    expect(applied).toHaveLength(1);
    expect(JSON.stringify(r.config)).toContain('"maxRetries":42');
    // Still watched after the rename.
    writeFileSync(file, cfg(43));
    const end2 = Date.now() + 3000;
    while (applied.length === 1 && Date.now() < end2) await sleep(20);
    expect(applied).toHaveLength(2);
  } finally {
    r.close();
  }
});
