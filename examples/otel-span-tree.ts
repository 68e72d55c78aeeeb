// Telemetry as a sidecar: an agent's LLM and tool pipelines are instrumented from the outside with
// `instrument()` (breakwater/otel); the agent's code does not change. One agent step — a chat call
// whose first attempt meets a 429, then a tool call — is recorded by the OpenTelemetry SDK's
// in-memory exporter and printed as a span tree: the call spans, one span per attempt with its
// backoff and outcome, the agent's own HTTP spans under their attempt, and the retry as a span event.
//
// Run: `npx tsx examples/otel-span-tree.ts`
import { context, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { Policy } from '../src/index.js';
import { instrument, readUsage } from '../src/otel/index.js';
import { constant, retry } from '../src/retry/index.js';
import { timeout } from '../src/timeout/index.js';

// The agent's pipelines, as the agent already uses them.
export const llm = Policy.wrap(
  timeout({ after: 5_000, name: 'total' }),
  retry({ maxRetries: 2, backoff: constant(40) }),
);
export const tools = Policy.wrap(timeout(1_000), retry({ maxRetries: 1 }));

let chatRequests = 0;
/** A fake chat endpoint: the first request is rate limited; replies carry OpenAI-style `usage`. */
async function postChat(
  prompt: string,
): Promise<{ text: string; usage: { prompt_tokens: number; completion_tokens: number } }> {
  await new Promise((r) => setTimeout(r, 15));
  if (++chatRequests === 1) throw Object.assign(new Error('429 Too Many Requests'), { status: 429 });
  return { text: `plan for "${prompt}"`, usage: { prompt_tokens: 812, completion_tokens: 64 } };
}

async function searchTool(query: string): Promise<string[]> {
  await new Promise((r) => setTimeout(r, 10));
  return [`doc about ${query}`];
}

const ms = (s: ReadableSpan): string => `${Math.round(s.duration[0] * 1e3 + s.duration[1] / 1e6)} ms`;

/** One line per span: its name, duration and the attributes breakwater sets. */
function describe(s: ReadableSpan): string {
  const a = s.attributes;
  const parts = [s.name, ms(s)];
  if (a['breakwater.attempt'] !== undefined) {
    parts.push(`#${a['breakwater.attempt']}`);
    if (typeof a['breakwater.attempt.delay_ms'] === 'number')
      parts.push(`after a ${a['breakwater.attempt.delay_ms']} ms backoff`);
    parts.push(`${a['breakwater.attempt.outcome']}${a['error.type'] === undefined ? '' : ` (${a['error.type']})`}`);
  } else if (a['breakwater.outcome'] !== undefined) {
    parts.push(`outcome=${a['breakwater.outcome']}`, `attempts=${a['breakwater.attempts']}`);
    if (a['gen_ai.usage.input_tokens'] !== undefined) {
      parts.push(`tokens in/out=${a['gen_ai.usage.input_tokens']}/${a['gen_ai.usage.output_tokens']}`);
    }
  }
  const events = s.events.map((e) => e.name);
  if (events.length > 0) parts.push(`events: ${events.join(', ')}`);
  return parts.join('  ');
}

/** Prints the spans as a tree under their roots, children in start order. */
function printTree(spans: readonly ReadableSpan[]): void {
  const children = new Map<string | undefined, ReadableSpan[]>();
  for (const s of spans) {
    const parent = s.parentSpanContext?.spanId;
    children.set(parent, [...(children.get(parent) ?? []), s]);
  }
  const start = (s: ReadableSpan): number => s.startTime[0] * 1e9 + s.startTime[1];
  const walk = (parent: string | undefined, indent: string, root: boolean): void => {
    const list = [...(children.get(parent) ?? [])].sort((a, b) => start(a) - start(b));
    list.forEach((s, i) => {
      const last = i === list.length - 1;
      console.log(`${indent}${root ? '' : last ? '└─ ' : '├─ '}${describe(s)}`);
      walk(s.spanContext().spanId, root ? indent : `${indent}${last ? '   ' : '│  '}`, false);
    });
  };
  walk(undefined, '', true);
}

export async function main(): Promise<void> {
  // The application's OpenTelemetry setup: an SDK provider, and a context manager to carry spans
  // across awaits (NodeSDK registers one).
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  const tracer = tracerProvider.getTracer('agent');

  // telemetry.ts: the only lines that know about telemetry.
  const offLlm = instrument(llm, {
    tracerProvider,
    genAi: { operation: 'chat', model: 'gpt-fake', provider: 'openai', usage: readUsage },
  });
  const offTools = instrument(tools, {
    tracerProvider,
    genAi: (options) => ({ operation: 'execute_tool', tool: options?.key ?? 'tool' }),
  });

  // The agent's code, unchanged: its own spans (an HTTP request's) land under the attempt that made them.
  const http = <T>(name: string, request: () => Promise<T>): Promise<T> =>
    tracer.startActiveSpan(name, (span: Span) => request().finally(() => span.end()));
  await tracer.startActiveSpan('agent step', async (step: Span) => {
    const plan = await llm.execute(() => http('POST /v1/chat/completions', () => postChat('find the runbook')));
    const hits = await tools.execute(() => http('GET /search', () => searchTool('runbook')), { key: 'search' });
    console.log(`${plan.text}; ${hits.length} search hit(s)\n`);
    step.end();
  });

  printTree(exporter.getFinishedSpans());

  offLlm(); // uninstrument: the original execute again, no listener left
  offTools();
  context.disable();
  await tracerProvider.shutdown();
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
