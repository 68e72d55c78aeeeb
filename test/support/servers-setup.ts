// Global setup: probes PostgreSQL, Redis and NATS once per run (not once per test file) and hands the
// answer to the test files (servers.ts reads it with inject). Under CI=true a missing server fails here.
import type { TestProject } from 'vitest/node';
import { probeServers, type Servers } from './probe.js';

// Each project runs the global setup; the probe (and its warnings) happens once.
const once = globalThis as { breakwaterServers?: Promise<Servers> };

export async function setup(project: TestProject): Promise<void> {
  once.breakwaterServers ??= probeServers();
  project.provide('servers', await once.breakwaterServers);
}
