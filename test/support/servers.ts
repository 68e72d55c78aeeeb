// Which real servers answer on this machine. Tests that need one use `describe.skipIf(!HAS.postgres)`.
// Under CI=true a missing server is a failure, not a skip: the probe throws.
import { Socket } from 'node:net';

export const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const NATS_URL = process.env.NATS_URL ?? '127.0.0.1:4222';

function probe(port: number, host = '127.0.0.1', ms = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(ms, () => done(false));
    s.once('error', () => done(false));
    s.connect(port, host, () => done(true));
  });
}

async function need(name: string, port: number): Promise<boolean> {
  const ok = await probe(port);
  if (!ok && process.env.CI === 'true') {
    throw new Error(`${name} on 127.0.0.1:${port} is required in CI (CI=true) but does not answer`);
  }
  if (!ok) console.warn(`[breakwater tests] ${name} not reachable on 127.0.0.1:${port}: its tests are skipped`);
  return ok;
}

/** Which servers are reachable; evaluated once per test file. */
export const HAS: { readonly postgres: boolean; readonly redis: boolean; readonly nats: boolean } = {
  postgres: await need('PostgreSQL', 5432),
  redis: await need('Redis', 6379),
  nats: await need('NATS', 4222),
};
