/** Runs bench/lib/child.ts in a fresh Node process and returns its result and exit delay. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

/** What a child reported, plus how long after its last line it took to exit (ms). */
export interface ChildResult<T> {
  readonly result: T;
  /**
   * ms from the child's result line (as this process read it) to its exit; Infinity when it had to
   * be killed. Measured on this process's clock alone: the child's own timestamp of its line is not
   * comparable across processes (on Node 24 a long-running parent read every exit as 0 ms).
   */
  readonly exitMs: number;
}

/** Spawns the child; kills it `killAfterMs` after its result line if it has not exited. */
export function runChild<T>(
  args: readonly string[],
  nodeFlags: readonly string[] = [],
  killAfterMs = 5000,
): Promise<ChildResult<T>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', CHILD, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let parsed: { result: T; at: number } | undefined;
    let lineAt = 0;
    let killer: ReturnType<typeof setTimeout> | undefined;
    let killed = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (parsed === undefined && line !== undefined) {
        parsed = JSON.parse(line.slice(7)) as { result: T; at: number };
        lineAt = performance.now();
        killer = setTimeout(() => {
          killed = true;
          child.kill('SIGKILL');
        }, killAfterMs);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      const t = performance.now();
      clearTimeout(killer);
      if (parsed === undefined) {
        reject(new Error(`child ${args.join(' ')} exited with ${code}: ${err.slice(-2000)}`));
        return;
      }
      resolve({ result: parsed.result, exitMs: killed ? Number.POSITIVE_INFINITY : Math.max(0, t - lineAt) });
    });
  });
}
