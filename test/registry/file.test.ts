// registryFromFile against the real file system in a temp dir. Waits are bounded: each one ends
// with a failure after a few seconds instead of hanging.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { type FileRegistry, registryFromFile } from '../../src/registry/file/index.js';
import {
  type ConfigAppliedEvent,
  type ConfigRejectedEvent,
  isRegistryConfigError,
  type RegistryConfig,
} from '../../src/registry/index.js';

let dir: string;
let file: string;
const open: FileRegistry[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bw-registry-'));
  file = join(dir, 'resilience.json');
});

afterEach(() => {
  for (const r of open.splice(0)) r.close();
  rmSync(dir, { recursive: true, force: true });
});

const config = (maxRetries: number): RegistryConfig => ({
  targets: { llm: [{ timeout: '5s' }, { retry: { maxRetries, backoff: 0 } }] },
});
const write = (c: unknown, path = file) => writeFileSync(path, typeof c === 'string' ? c : JSON.stringify(c, null, 2));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function load(
  options: Parameters<typeof registryFromFile>[1] = { watch: true, debounce: 30 },
): Promise<FileRegistry> {
  const r = await registryFromFile(file, options);
  open.push(r);
  return r;
}

/** Collects config events; `next()` waits (at most `ms`) for the next one. */
function events(r: FileRegistry) {
  const seen: (ConfigAppliedEvent | ConfigRejectedEvent)[] = [];
  let wake: (() => void) | undefined;
  const push = (e: ConfigAppliedEvent | ConfigRejectedEvent) => {
    seen.push(e);
    wake?.();
  };
  r.on('config-applied', push);
  r.on('config-rejected', push);
  let read = 0;
  return {
    seen,
    async next(ms = 5000): Promise<ConfigAppliedEvent | ConfigRejectedEvent> {
      const deadline = Date.now() + ms;
      while (seen.length <= read) {
        if (Date.now() > deadline) throw new Error(`no config event within ${ms} ms (seen ${seen.length})`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
      }
      return seen[read++] as ConfigAppliedEvent | ConfigRejectedEvent;
    },
  };
}

const maxRetries = (r: FileRegistry) => r.describe('llm')[1]?.options.maxRetries;

describe('registryFromFile', () => {
  test('loads a JSON file into a registry', async () => {
    write(config(2));
    const r = await load({});
    expect(r.path).toBe(file);
    expect(maxRetries(r)).toBe(2);
    expect(await r.get('llm').execute(() => 'ok')).toBe('ok');
  });

  test('a missing file, invalid JSON or an invalid config fails the first load', async () => {
    await expect(registryFromFile(join(dir, 'nope.json'))).rejects.toMatchObject({ code: 'ENOENT' });
    write('{ "targets": ');
    const e1 = await registryFromFile(file).catch((e: unknown) => e);
    expect(isRegistryConfigError(e1)).toBe(true);
    expect((e1 as Error).message).toContain(`${file} is not valid JSON`);
    write({ targets: { llm: { retry: -1 } } });
    const e2 = await registryFromFile(file).catch((e: unknown) => e);
    expect(isRegistryConfigError(e2)).toBe(true);
    expect((e2 as { errors: unknown }).errors).toEqual([
      { path: 'targets.llm.retry', message: 'expected an integer ≥ 0, got -1' },
    ]);
  });

  test('a file saved with a UTF-8 byte order mark (Windows editors) loads, and reloads', async () => {
    write(`\uFEFF${JSON.stringify(config(2))}`);
    const r = await load();
    expect(maxRetries(r)).toBe(2);
    const ev = events(r);
    write(`\uFEFF${JSON.stringify(config(3))}`);
    expect(await ev.next()).toMatchObject({ type: 'config-applied', version: 2 });
    expect(maxRetries(r)).toBe(3);
  });

  test('bad options are TypeErrors', async () => {
    await expect(registryFromFile('')).rejects.toThrow(TypeError);
    await expect(registryFromFile(file, { debounce: -1 })).rejects.toThrow(RangeError);
    await expect(registryFromFile(file, { debounce: Number.POSITIVE_INFINITY })).rejects.toThrow(
      /`debounce` to be a finite number/,
    );
    await expect(registryFromFile(file, { watch: 'yes' as never })).rejects.toThrow(/`watch` to be a boolean/);
  });

  test('with watch: a change is applied, with the file as the source', async () => {
    write(config(1));
    const r = await load();
    const ev = events(r);
    const policy = r.get('llm');
    write(config(4));
    const e = await ev.next();
    expect(e).toMatchObject({ type: 'config-applied', version: 2, source: file, changed: ['llm'] });
    expect(maxRetries(r)).toBe(4);
    expect(r.get('llm')).toBe(policy);
  });

  test('changes in quick succession are debounced into one reload of the last text', async () => {
    write(config(1));
    const r = await load({ watch: true, debounce: 400 });
    const ev = events(r);
    // Five saves 20 ms apart (well inside the quiet time): the intermediate texts are never applied.
    for (let n = 2; n <= 6; n++) {
      write(config(n));
      await sleep(20);
    }
    const e = await ev.next();
    expect(e).toMatchObject({ type: 'config-applied', version: 2 });
    expect(maxRetries(r)).toBe(6);
    await sleep(500);
    expect(ev.seen).toHaveLength(1);
  });

  test('an editor that saves by renaming a new file over the old one is followed, every time', async () => {
    write(config(1));
    const r = await load();
    const ev = events(r);
    for (const n of [7, 8]) {
      const tmp = join(dir, `.resilience.json.${n}.tmp`);
      write(config(n), tmp);
      renameSync(tmp, file);
      expect(await ev.next()).toMatchObject({ type: 'config-applied' });
      expect(maxRetries(r)).toBe(n);
    }
  });

  test('a bad file is reported as config-rejected and ignored; a fixed file is applied', async () => {
    write(config(1));
    const r = await load();
    const ev = events(r);
    write('{ "targets": { "llm": ');
    const bad = await ev.next();
    expect(bad).toMatchObject({ type: 'config-rejected', version: 1, source: file });
    expect((bad as ConfigRejectedEvent).errors[0]?.message).toContain('is not valid JSON');
    expect(maxRetries(r)).toBe(1);
    write({ targets: { llm: [{ timeout: '5s' }, { retry: { maxRetries: -3 } }] } });
    expect(await ev.next()).toMatchObject({
      type: 'config-rejected',
      version: 1,
      errors: [{ path: 'targets.llm[1].retry.maxRetries', message: 'expected an integer ≥ 0, got -3' }],
    });
    expect(await r.get('llm').execute(() => 'still served')).toBe('still served');
    write(config(3));
    expect(await ev.next()).toMatchObject({ type: 'config-applied', version: 2 });
    expect(maxRetries(r)).toBe(3);
  });

  test('a deleted file is reported and ignored; written again, it is applied', async () => {
    write(config(1));
    const r = await load();
    const ev = events(r);
    rmSync(file);
    const gone = await ev.next();
    expect(gone).toMatchObject({ type: 'config-rejected', version: 1 });
    expect((gone as ConfigRejectedEvent).errors[0]?.message).toMatch(/cannot read .* \(ENOENT\)/);
    write(config(5));
    expect(await ev.next()).toMatchObject({ type: 'config-applied', version: 2 });
  });

  test('saving the same text again changes nothing', async () => {
    write(config(1));
    const r = await load();
    const ev = events(r);
    write(config(1));
    await sleep(300);
    expect(ev.seen).toEqual([]);
    expect(r.version).toBe(1);
  });

  test('other files in the directory are not read', async () => {
    write(config(1));
    const r = await load();
    const ev = events(r);
    write('not json', join(dir, 'other.json'));
    await sleep(300);
    expect(ev.seen).toEqual([]);
  });

  test('close() stops watching; the registry keeps working', async () => {
    write(config(1));
    const r = await load();
    const ev = events(r);
    r.close();
    r.close();
    write(config(9));
    await sleep(300);
    expect(ev.seen).toEqual([]);
    expect(maxRetries(r)).toBe(1);
    expect(await r.get('llm').execute(() => 1)).toBe(1);
  });

  test('reload() reads now and returns the result; without watch nothing reloads by itself', async () => {
    write(config(1));
    const r = await load({});
    const ev = events(r);
    write(config(2));
    await sleep(200);
    expect(ev.seen).toEqual([]);
    expect(await r.reload()).toMatchObject({ ok: true, version: 2 });
    expect(await r.reload()).toMatchObject({ ok: true, version: 2 }); // same text: the same result
    write('[]');
    expect(await r.reload()).toMatchObject({ ok: false, version: 2 });
    expect(ev.seen.map((e) => e.type)).toEqual(['config-applied', 'config-rejected']);
  });

  test('reloads asked for during a read are folded into one more read', async () => {
    write(config(1));
    const r = await load({});
    write(config(2));
    const [a, b, c] = await Promise.all([r.reload(), r.reload(), r.reload()]);
    expect(a).toBe(b);
    expect(b).toBe(c);
    await sleep(50);
    expect(r.version).toBe(2);
  });
});
