// Private redis-server processes for fault tests (restart, SIGSTOP, kill) that must not touch the
// shared server on :6379. Without persistence: a restart loses every key.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/** Whether a `redis-server` binary is installed; under CI=true its absence fails the run. */
export const HAS_REDIS_SERVER: boolean = spawnSync('redis-server', ['--version']).status === 0;
if (!HAS_REDIS_SERVER && process.env.CI === 'true') throw new Error('redis-server is required in CI (CI=true)');

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` every 10 ms; resolves with the ms it took, or throws naming `what` after `ms`. */
export async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<number> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > ms) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(10);
  }
  return Date.now() - start;
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Starts a redis-server on `port` and resolves once it answers PING. */
export async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  const probe = new Redis({ port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on('error', () => {});
  await until(
    () =>
      probe
        .connect()
        .then(() => probe.ping())
        .then(
          () => true,
          () => false,
        ),
    5000,
    'redis-server up',
  );
  probe.disconnect();
  return child;
}

/** Kills a server (resumed first if it was stopped) and resolves once it has exited. */
export async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGCONT');
  child.kill('SIGKILL');
  await exited;
}
