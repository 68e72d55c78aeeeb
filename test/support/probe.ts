// The server addresses the tests use and a TCP probe of each, free of the vitest runtime (vitest.config.ts
// imports it). Test files import servers.ts instead.
import { Socket } from 'node:net';

export const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const NATS_URL = process.env.NATS_URL ?? '127.0.0.1:4222';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** Host and port of a server URL (`scheme://user@host:port/…` or a bare `host:port`). */
export function endpoint(url: string, defaultPort: number): Endpoint {
  const first = url.split(',')[0] ?? url; // NATS takes a list of servers: probe the first
  const u = new URL(first.includes('://') ? first : `tcp://${first}`);
  return { host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1', port: Number(u.port || defaultPort) };
}

export const PG: Endpoint = endpoint(PG_URL, 5432);
export const REDIS: Endpoint = endpoint(REDIS_URL, 6379);
export const NATS: Endpoint = endpoint(NATS_URL, 4222);

function probe({ host, port }: Endpoint, ms = 1000): Promise<boolean> {
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

export interface Servers {
  readonly postgres: boolean;
  readonly redis: boolean;
  readonly nats: boolean;
}

/**
 * Probes the three servers (in parallel) and warns about each missing one; under CI=true rejects,
 * naming every server that does not answer.
 */
export async function probeServers(): Promise<Servers> {
  const wanted = [
    { name: 'PostgreSQL', variable: 'PG_URL', at: PG },
    { name: 'Redis', variable: 'REDIS_URL', at: REDIS },
    { name: 'NATS', variable: 'NATS_URL', at: NATS },
  ];
  const [postgres = false, redis = false, nats = false] = await Promise.all(wanted.map((w) => probe(w.at)));
  const missing = wanted
    .filter((_, i) => ![postgres, redis, nats][i])
    .map((w) => `${w.name} on ${w.at.host}:${w.at.port} (${w.variable})`);
  if (missing.length > 0 && process.env.CI === 'true') {
    throw new Error(`required in CI (CI=true) but not answering: ${missing.join(', ')}`);
  }
  for (const m of missing) console.warn(`[breakwater tests] ${m} not reachable: its tests are skipped`);
  return { postgres, redis, nats };
}
