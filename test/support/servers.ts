// Which real servers answer on this machine. Tests that need one use `describe.skipIf(!HAS.postgres)`.
// The probes use the same PG_URL / REDIS_URL / NATS_URL the tests connect to (defaults: 127.0.0.1 on
// the standard ports). vitest.config.ts probes once per run, says once what is skipped and provides
// the answer; a file run under another config probes by itself. Under CI=true a missing server fails the run.
import { inject } from 'vitest';
import { probeServers, type Servers } from './probe.js';

export { type Endpoint, NATS, NATS_URL, PG, PG_URL, REDIS, REDIS_URL, type Servers } from './probe.js';

declare module 'vitest' {
  export interface ProvidedContext {
    servers: Servers;
  }
}

/** Which servers are reachable: from the global setup, or probed by this file. */
export const HAS: Servers = inject('servers') ?? (await probeServers());
