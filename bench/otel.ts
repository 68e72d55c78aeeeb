/**
 * OpenTelemetry instrumentation cost (standalone: `npx tsx bench/otel.ts`, bounded to ~30 s).
 *
 * One policy (`retry()`, a call that succeeds at once) per row, sequential `await policy.execute(fn)`:
 *
 * A. No SDK registered (the global API is a no-op, no context manager):
 *    - bare `await fn()` (baseline);
 *    - the policy, never instrumented;
 *    - the policy after `instrument()` then uninstrument (must equal the row above: nothing left behind);
 *    - the policy instrumented with the global no-op API.
 * B. The SDK: `AsyncLocalStorageContextManager`, a `BasicTracerProvider` with a `SimpleSpanProcessor`
 *    to an exporter that drops spans, a `MeterProvider` whose reader never collects:
 *    - bare `await fn()` (baseline, measured again: the context manager changes every await's cost);
 *    - a hand-written floor: the two spans made current, as any instrumentation of this shape must;
 *    - the policy, never instrumented;
 *    - the policy instrumented with that SDK (2 spans, 1 histogram recording per call).
 *
 * Rows interleave subject and baseline rounds and report the median of the rounds, in process CPU
 * time (user + system), as `bench/run.ts` does by default.
 */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Policy } from '../src/index.js';
import { instrument } from '../src/otel/index.js';
import { retry } from '../src/retry/index.js';

const ROUNDS = 7;
const BUDGET_MS = 25_000;
const CALLS = 20_000;
const log = (s: string): void => console.log(s);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const fn = (): Promise<number> => Promise.resolve(1);

/** µs of process CPU time (user + system) per call: steadier than wall time on a shared machine. */
async function perCall(run: () => Promise<unknown>): Promise<number> {
  const t0 = process.cpuUsage();
  for (let i = 0; i < CALLS; i++) await run();
  const t = process.cpuUsage(t0);
  return (t.user + t.system) / CALLS;
}

type Rows = Record<string, () => Promise<unknown>>;

async function measure(rows: Rows, started: number, budget: number): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const name of Object.keys(rows)) out[name] = [];
  for (const run of Object.values(rows)) await perCall(run); // warm-up
  for (let r = 0; r < ROUNDS && (r < 3 || performance.now() - started < budget); r++) {
    for (const [name, run] of Object.entries(rows)) out[name]?.push(await perCall(run));
  }
  return out;
}

function table(title: string, results: Record<string, number[]>): void {
  const entries = Object.entries(results);
  const base = median(entries[0]?.[1] ?? []);
  log(`\n### ${title}\n`);
  log('| subject | per call (median) | overhead | ratio |');
  log('|---|---:|---:|---:|');
  for (const [i, [name, xs]] of entries.entries()) {
    const m = median(xs);
    if (i === 0) log(`| ${name} (baseline) | ${m.toFixed(3)} µs | — | 1.00× |`);
    else log(`| ${name} | ${m.toFixed(3)} µs | +${(m - base).toFixed(3)} µs | ${(m / base).toFixed(2)}× |`);
  }
}

class NeverCollect extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

const drop: SpanExporter = {
  export: (_spans, done) => done({ code: 0 }),
  shutdown: async () => {},
};

async function main(): Promise<void> {
  const started = performance.now();
  const plain: Policy = retry();
  const after: Policy = retry();
  instrument(after)(); // instrumented, then uninstrumented
  const noop: Policy = retry();
  instrument(noop);
  const a = await measure(
    {
      '`await fn()`': fn,
      '`retry()` never instrumented': () => plain.execute(fn),
      '`retry()` after instrument + uninstrument': () => after.execute(fn),
      '`retry()` instrumented, global API without an SDK (no-op)': () => noop.execute(fn),
    },
    started,
    BUDGET_MS / 2,
  );
  table('A. No OpenTelemetry SDK registered', a);

  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(drop)] });
  const meterProvider = new MeterProvider({ readers: [new NeverCollect()] });
  const plainB: Policy = retry();
  const traced: Policy = retry();
  instrument(traced, { tracerProvider, meterProvider });
  const tracer = tracerProvider.getTracer('floor');
  // What any instrumentation of this shape costs at least: two spans, each made current once.
  const floor = (): Promise<number> => {
    const call = tracer.startSpan('call', { attributes: { target: 'retry' } });
    const c = trace.setSpan(context.active(), call);
    return context
      .with(c, () => {
        const attempt = tracer.startSpan('attempt', { attributes: { attempt: 1 } }, c);
        return context.with(trace.setSpan(c, attempt), fn).then((v) => {
          attempt.end();
          return v;
        });
      })
      .then((v) => {
        call.end();
        return v;
      });
  };
  const b = await measure(
    {
      '`await fn()`': fn,
      'hand-written floor: 2 spans, each current once (no metrics)': floor,
      '`retry()` never instrumented': () => plainB.execute(fn),
      '`retry()` instrumented with the SDK (call + attempt span, duration histogram)': () => traced.execute(fn),
    },
    started,
    BUDGET_MS,
  );
  table('B. OpenTelemetry SDK with AsyncLocalStorageContextManager (spans dropped by the exporter)', b);
  log(
    `\n_Node ${process.version}, ${a['`await fn()`']?.length}/${b['`await fn()`']?.length} interleaved rounds of ${CALLS.toLocaleString()} sequential calls, CPU time; ${((performance.now() - started) / 1000).toFixed(1)} s._`,
  );
}

await main();
