// Section: telemetry as a sidecar. The LLM pipeline is instrumented from the outside (the code that
// calls it does not change); one traced call is printed as a span tree, then the metrics it fed.
import { context, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { type DataPoint, type Histogram, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { Policy } from '../../src/index.js';
import { instrument, readUsage } from '../../src/otel/index.js';
import { exponential, retry } from '../../src/retry/index.js';
import { timeout } from '../../src/timeout/index.js';
import { chat, type FakeLlm, HttpError } from './fake-llm.js';
import { color, heading } from './util.js';

class PullReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

const ms = (s: ReadableSpan): string => `${(s.duration[0] * 1e3 + s.duration[1] / 1e6).toFixed(0)} ms`;

function describe(s: ReadableSpan): string {
  const a = s.attributes;
  const parts: string[] = [];
  if (a['breakwater.attempt'] !== undefined) {
    parts.push(`#${a['breakwater.attempt']}`);
    const delay = a['breakwater.attempt.delay_ms'];
    if (typeof delay === 'number') parts.push(`after a ${delay.toFixed(0)} ms backoff`);
    const outcome = String(a['breakwater.attempt.outcome']);
    parts.push(outcome === 'success' ? color.green(outcome) : color.red(`${outcome} ${a['error.type'] ?? ''}`));
  } else if (a['breakwater.outcome'] !== undefined) {
    parts.push(`outcome=${a['breakwater.outcome']}`, `attempts=${a['breakwater.attempts']}`);
    if (a['gen_ai.usage.input_tokens'] !== undefined) {
      parts.push(`tokens in/out=${a['gen_ai.usage.input_tokens']}/${a['gen_ai.usage.output_tokens']}`);
    }
  }
  const events = s.events.filter((e) => e.name !== 'exception').map((e) => e.name.replace('breakwater.', ''));
  if (events.length > 0) parts.push(color.dim(`events: ${events.join(', ')}`));
  return [color.bold(s.name), ms(s), ...parts].join('  ');
}

/** Prints `spans` as a tree under their roots, children in start order. */
export function printTree(spans: readonly ReadableSpan[]): void {
  const byParent = new Map<string | undefined, ReadableSpan[]>();
  const ids = new Set(spans.map((s) => s.spanContext().spanId));
  for (const s of spans) {
    const p = s.parentSpanContext?.spanId;
    const key = p !== undefined && ids.has(p) ? p : undefined;
    byParent.set(key, [...(byParent.get(key) ?? []), s]);
  }
  const start = (s: ReadableSpan): number => s.startTime[0] * 1e9 + s.startTime[1];
  const walk = (parent: string | undefined, indent: string): void => {
    const children = [...(byParent.get(parent) ?? [])].sort((a, b) => start(a) - start(b));
    children.forEach((s, i) => {
      const last = i === children.length - 1;
      const root = parent === undefined;
      console.log(`  ${indent}${root ? '' : last ? '└─ ' : '├─ '}${describe(s)}`);
      walk(s.spanContext().spanId, root ? indent : `${indent}${last ? '   ' : '│  '}`);
    });
  };
  walk(undefined, '');
}

export async function telemetrySection(llm: FakeLlm, maxCalls = 30): Promise<void> {
  heading('telemetry: one traced call as a span tree (OpenTelemetry, attached from outside)');
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new PullReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  const tracer = tracerProvider.getTracer('demo-agent');

  // The pipeline as the agent already uses it; `instrument` is the only telemetry line.
  const llmPolicy = Policy.wrap(
    timeout({ after: 4_000, name: 'total' }),
    retry({
      maxRetries: 4,
      backoff: exponential({ initial: 100, max: 1_500 }),
      handle: (e) => !(e instanceof HttpError) || e.status === 429 || e.status >= 500,
    }),
    timeout({ after: 1_000, name: 'attempt' }),
  );
  const uninstrument = instrument(llmPolicy, {
    tracerProvider,
    meterProvider,
    genAi: { operation: 'chat', model: 'gpt-fake', provider: 'fake', usage: readUsage },
  });
  console.log(
    color.dim("  instrument(llmPolicy, { genAi: { operation: 'chat', model: 'gpt-fake', usage: readUsage } })"),
  );

  // The agent's own code, unchanged: its spans (one per HTTP request here) land under the attempts.
  const ask = (question: string) =>
    llmPolicy.execute(({ signal }) =>
      tracer.startActiveSpan('POST /v1/chat/gpt-fake', (span: Span) =>
        chat(llm.url, 'gpt-fake', question, signal).finally(() => span.end()),
      ),
    );

  // Trace calls until one needed more than one attempt: that is the interesting tree.
  let shown = false;
  for (let i = 0; i < maxCalls && !shown; i++) {
    exporter.reset();
    await ask(`traced question ${i}`).catch(() => undefined);
    const spans = exporter.getFinishedSpans();
    const call = spans.find((s) => s.name === 'chat gpt-fake');
    if (call !== undefined && ((call.attributes['breakwater.attempts'] as number) > 1 || i === maxCalls - 1)) {
      printTree(spans);
      shown = true;
    }
  }

  const { resourceMetrics } = await reader.collect();
  const metrics = new Map(resourceMetrics.scopeMetrics.flatMap((s) => s.metrics.map((m) => [m.descriptor.name, m])));
  const points = (name: string) => (metrics.get(name)?.dataPoints ?? []) as DataPoint<unknown>[];
  const calls = points('breakwater.call.duration').map(
    (p) =>
      `${p.attributes['breakwater.outcome']}${p.attributes['error.type'] ? ` (${p.attributes['error.type']})` : ''}: ${(p.value as Histogram).count}`,
  );
  const retries = points('breakwater.retries').reduce((n, p) => n + (p.value as number), 0);
  const tokens = points('gen_ai.client.token.usage').map(
    (p) => `${p.attributes['gen_ai.token.type']} ${(p.value as Histogram).sum}`,
  );
  console.log(`  ${color.bold('metrics')}: calls ${calls.join(', ')}; retries ${retries}; tokens ${tokens.join(', ')}`);

  uninstrument();
  context.disable();
  await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
}
