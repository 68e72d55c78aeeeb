/**
 * Entry of the child processes (`node --expose-gc --import tsx bench/lib/child.ts <task> …`).
 * Prints one JSON line prefixed with `RESULT ` and then lets the process end by itself.
 */

import type { Kind } from '../scenarios/catalog.js';
import { childMemory } from '../scenarios/memory.js';
import { childTimers } from '../scenarios/timers.js';
import { loadLibs } from './libs.js';

const [task, kind, lib] = process.argv.slice(2);
const libs = await loadLibs();
let result: unknown;
if (task === 'memory') result = await childMemory(libs);
else if (task === 'timers') result = await childTimers(libs, kind as Kind | 'bare', lib ?? '');
else throw new Error(`unknown task ${task}`);
const at = performance.timeOrigin + performance.now();
process.stdout.write(`RESULT ${JSON.stringify({ result, at })}\n`);
