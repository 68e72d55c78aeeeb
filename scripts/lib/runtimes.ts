/**
 * The extra JavaScript runtimes (Node 22 and 24, Bun, Deno) and headless Chromium, installed on
 * demand. Versions are pinned in one file, test/runtimes/runtimes.json. Binaries come from the npm
 * packages that ship them (`npm pack` + `tar`, so no install script runs and `npm install` of this
 * repository stays fast), into a cache folder shared by every checkout:
 * `$BREAKWATER_RUNTIMES_DIR`, else `$XDG_CACHE_HOME/breakwater-runtimes`, else
 * `~/.cache/breakwater-runtimes`. A download is retried; an install becomes visible only once it is
 * complete (extracted into a temporary folder, checked, then renamed into place).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** One runtime pinned in test/runtimes/runtimes.json. */
export interface RuntimeSpec {
  /** Key in the file, e.g. `node24`. */
  readonly id: string;
  /** Name printed before the version: `node`, `bun`, `deno`. */
  readonly label: string;
  readonly package: string;
  readonly version: string;
  /** Path of the executable inside the package. */
  readonly bin: string;
}

interface RuntimesFile {
  readonly runtimes: Record<string, Omit<RuntimeSpec, 'id'>>;
  readonly bench: readonly string[];
}

/** The pinned runtimes, in file order. */
export function pinned(): { runtimes: RuntimeSpec[]; bench: string[] } {
  const file = JSON.parse(readFileSync(path.join(ROOT, 'test/runtimes/runtimes.json'), 'utf8')) as RuntimesFile;
  return {
    runtimes: Object.entries(file.runtimes).map(([id, r]) => ({ id, ...r })),
    bench: [...file.bench],
  };
}

/** The cache folder for runtime binaries. */
export function cacheDir(): string {
  const env = process.env.BREAKWATER_RUNTIMES_DIR;
  if (env !== undefined && env !== '') return path.resolve(env);
  const base = process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache');
  return path.join(base, 'breakwater-runtimes');
}

/** Output of a finished child process. */
interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion (no shell), collecting its output; kills it after `timeoutMs`. */
export function exec(
  cmd: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${options.timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 600_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: `${stderr}${error.message}` });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The last lines a failed command printed, for an error message. */
const tail = (r: Ran | undefined): string => {
  const lines = (r === undefined ? '' : `${r.stderr}\n${r.stdout}`).split('\n').filter((l) => l.trim() !== '');
  // npm's useful lines are its error code and the failed request, not the advice that follows.
  const key = lines.filter((l) => /error (code|errno|network|404)|request to|E:|^E[A-Z]/.test(l));
  return (key.length > 0 ? key : lines).slice(-4).join(' / ').slice(-600);
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Where a runtime's executable lives once installed. */
export function binaryPath(spec: RuntimeSpec): string {
  return path.join(cacheDir(), `${spec.id}-${spec.version}`, 'package', spec.bin);
}

/** Why a runtime cannot be installed on this machine at all, if it cannot. */
function unsupported(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return `the pinned packages are linux-x64 builds; this machine is ${process.platform}-${process.arch}`;
  }
  return undefined;
}

/**
 * Returns the runtime's executable, downloading it into the cache first if needed. Throws an
 * error that says what failed (and what to do) when it cannot.
 */
export async function ensureRuntime(spec: RuntimeSpec, log: (s: string) => void = () => undefined): Promise<string> {
  const bin = binaryPath(spec);
  if (existsSync(bin)) return bin;
  const why = unsupported();
  if (why !== undefined) throw new Error(why);
  const cache = cacheDir();
  mkdirSync(cache, { recursive: true });
  const tmp = mkdtempSync(path.join(cache, `.tmp-${spec.id}-`));
  try {
    const ref = `${spec.package}@${spec.version}`;
    let last: Ran | undefined;
    for (let attempt = 1; attempt <= 3; attempt++) {
      log(`installing ${ref} into ${cache} (attempt ${attempt}/3)…`);
      // npm's own retries are short here: ours, around it, wait longer between attempts.
      last = await exec(
        'npm',
        [
          'pack',
          ref,
          '--pack-destination',
          tmp,
          '--loglevel=error',
          '--fetch-retries=1',
          '--fetch-retry-mintimeout=1000',
          '--fetch-retry-maxtimeout=4000',
        ],
        { cwd: tmp, timeoutMs: 300_000 },
      );
      if (last.code === 0 && readdirSync(tmp).some((f) => f.endsWith('.tgz'))) break;
      if (attempt < 3) await sleep(2000 * attempt);
    }
    const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    if (tgz === undefined) {
      throw new Error(
        `\`npm pack ${ref}\` failed 3 times (registry: ${process.env.npm_config_registry ?? 'npm default'}): ${tail(last)}`,
      );
    }
    const out = path.join(tmp, 'out');
    mkdirSync(out);
    const untar = await exec('tar', ['-xzf', path.join(tmp, tgz), '-C', out], { timeoutMs: 300_000 });
    if (untar.code !== 0) throw new Error(`could not extract ${tgz}: ${untar.stderr.trim().slice(-500)}`);
    const inside = path.join(out, 'package', spec.bin);
    if (!existsSync(inside)) throw new Error(`${ref} has no ${spec.bin}`);
    const probe = spawnSync(inside, ['--version'], { encoding: 'utf8', timeout: 30_000 });
    if (probe.status !== 0) {
      throw new Error(`${ref}: \`${spec.bin} --version\` failed: ${(probe.stderr || String(probe.error)).slice(-300)}`);
    }
    const dest = path.join(cache, `${spec.id}-${spec.version}`);
    try {
      renameSync(out, dest);
    } catch (error) {
      // Another run installed it meanwhile: keep theirs.
      if (!existsSync(bin)) throw error;
    }
    log(`installed ${ref} (${probe.stdout.trim().split('\n')[0]})`);
    return bin;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const CHROMIUM_NAMES = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'];

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, name);
    if (dir !== '' && existsSync(p)) return p;
  }
  return undefined;
}

/** The headless browser's executable: `$CHROMIUM_BIN`, or a Chromium/Chrome on the PATH. */
export function findChromium(): string | undefined {
  const env = process.env.CHROMIUM_BIN;
  if (env !== undefined && env !== '') return existsSync(env) ? env : undefined;
  return firstOnPath();
}

function firstOnPath(): string | undefined {
  for (const n of CHROMIUM_NAMES) {
    const p = onPath(n);
    if (p !== undefined) return p;
  }
  return undefined;
}

/**
 * Installs the Debian package `chromium` with apt-get when this process may (root on a Debian-like
 * system); throws why not otherwise.
 */
export async function ensureChromium(log: (s: string) => void = () => undefined): Promise<string> {
  const found = findChromium();
  if (found !== undefined) return found;
  const given = process.env.CHROMIUM_BIN;
  if (given !== undefined && given !== '') throw new Error(`CHROMIUM_BIN=${given} does not exist`);
  if (process.platform !== 'linux' || onPath('apt-get') === undefined) {
    throw new Error('no chromium on the PATH and no apt-get to install it (set CHROMIUM_BIN to a Chromium or Chrome)');
  }
  if (process.getuid?.() !== 0) {
    throw new Error('no chromium on the PATH; install it with `sudo apt-get install chromium` (or set CHROMIUM_BIN)');
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends', 'chromium'];
  let r: Ran | undefined;
  for (let attempt = 1; attempt <= 3; attempt++) {
    log(`installing chromium with apt-get (attempt ${attempt}/3; the first install takes a minute or two)…`);
    r = await exec('apt-get', install, { env, timeoutMs: 900_000 });
    if (r.code === 0 && firstOnPath() !== undefined) break;
    // The package lists may be missing or stale: refresh them, then try again.
    await exec('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'update'], { env, timeoutMs: 600_000 });
    if (attempt < 3) await sleep(3000 * attempt);
  }
  const bin = firstOnPath();
  if (bin === undefined) throw new Error(`apt-get install chromium failed: ${tail(r)}`);
  return bin;
}
