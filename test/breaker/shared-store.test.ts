// The fleet conformance suite on the in-memory twin of the Redis script, in virtual time.
import { SharedBreakerStore } from '../../src/breaker/redis/shared-store.js';
import { virtualClock } from '../../src/testing/index.js';
import { describeFleetConformance, type FleetEnv } from './fleet-conformance.js';
import { MemoryBackend } from './support/memory-backend.js';

describeFleetConformance('memory', async () => {
  const clock = virtualClock({ start: 1_000_000 });
  const backend = new MemoryBackend(() => clock.now());
  const silent = {
    exec: backend.exec.bind(backend),
    ready: backend.ready.bind(backend),
    listen: () => async () => {},
  };
  const env: FleetEnv = {
    clock,
    staleness: 200,
    store: (o) =>
      new SharedBreakerStore(o?.notify === false ? silent : backend, {
        staleness: 200,
        timeout: 100,
        lease: 1000,
        clock,
      }),
    advance: (ms) => clock.advance(ms),
    shared: async () => backend.rec?.s,
    writes: () => backend.log.filter((op) => op !== 'read').length,
    down: async () => {
      backend.down = true;
    },
    up: async () => backend.up(),
    restart: async () => backend.restart(),
    close: async () => {},
  };
  return env;
});
