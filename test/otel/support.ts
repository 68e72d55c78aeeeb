// An OpenTelemetry SDK wired to in-memory exporters, and helpers to read what it recorded.
import type { Attributes } from '@opentelemetry/api';
import {
  type DataPoint,
  type Histogram,
  MeterProvider,
  type MetricData,
  MetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

/** A pull reader: metrics are read when the test calls `collect()`. */
class TestReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

export interface Sdk {
  readonly tracerProvider: BasicTracerProvider;
  readonly meterProvider: MeterProvider;
  readonly exporter: InMemorySpanExporter;
  /** Finished spans, in the order they ended. */
  spans(): ReadableSpan[];
  /** Every metric collected now, by name. */
  metrics(): Promise<Map<string, MetricData>>;
}

export function sdk(): Sdk {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  return {
    tracerProvider,
    meterProvider,
    exporter,
    spans: () => exporter.getFinishedSpans(),
    async metrics() {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length > 0) throw errors[0];
      const out = new Map<string, MetricData>();
      for (const sm of resourceMetrics.scopeMetrics) for (const m of sm.metrics) out.set(m.descriptor.name, m);
      return out;
    },
  };
}

export const spanId = (s: ReadableSpan): string => s.spanContext().spanId;
export const parentId = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;

/** The children of `parent` among `spans`, in start order. */
export function childrenOf(spans: readonly ReadableSpan[], parent: ReadableSpan): ReadableSpan[] {
  return spans
    .filter((s) => parentId(s) === spanId(parent) && s.spanContext().traceId === parent.spanContext().traceId)
    .sort((a, b) => (a.startTime[0] - b.startTime[0]) * 1e9 + (a.startTime[1] - b.startTime[1]));
}

/** The one span named `name` (fails when there are none or several). */
export function only(spans: readonly ReadableSpan[], name: string): ReadableSpan {
  const found = spans.filter((s) => s.name === name);
  if (found.length !== 1) throw new Error(`expected one span '${name}', found ${found.length}`);
  return found[0] as ReadableSpan;
}

/** The data points of a metric whose attributes include `match`. */
export function points(metric: MetricData | undefined, match: Attributes = {}): DataPoint<unknown>[] {
  if (metric === undefined) return [];
  return (metric.dataPoints as DataPoint<unknown>[]).filter((p) =>
    Object.entries(match).every(([k, v]) => JSON.stringify(p.attributes[k]) === JSON.stringify(v)),
  );
}

/** The sum of a counter's (or gauge's) values over the points matching `match`. */
export function total(metric: MetricData | undefined, match: Attributes = {}): number {
  return points(metric, match).reduce((n, p) => n + (p.value as number), 0);
}

/** The number of recordings of a histogram over the points matching `match`. */
export function count(metric: MetricData | undefined, match: Attributes = {}): number {
  return points(metric, match).reduce((n, p) => n + (p.value as Histogram).count, 0);
}

/** The sum of a histogram's recordings over the points matching `match`. */
export function sum(metric: MetricData | undefined, match: Attributes = {}): number {
  return points(metric, match).reduce((n, p) => n + ((p.value as Histogram).sum ?? 0), 0);
}
