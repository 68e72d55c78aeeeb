import type { Counter, Histogram, Meter, ObservableGauge, ObservableUpDownCounter } from '@opentelemetry/api';
import { COST } from './names.js';

// Bucket advice from the gen_ai semantic conventions.
const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
const DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];

/** The metric instruments of one instrumentation. */
export interface Instruments {
  readonly callDuration: Histogram;
  readonly retries: Counter;
  readonly timeouts: Counter;
  readonly rejections: Counter;
  readonly transitions: Counter;
  readonly waits: Counter;
  readonly waitDuration: Histogram;
  readonly tokenUsage: Histogram;
  readonly operationDuration: Histogram;
  readonly cost: Counter;
  readonly firstChunk: Histogram;
  readonly genAiFirstChunk: Histogram;
  readonly streamDuration: Histogram;
  readonly hedges: Counter;
  readonly hedgeDenials: Counter;
  readonly injections: Counter;
  readonly breakerState: ObservableGauge;
  readonly active: ObservableUpDownCounter;
  readonly queued: ObservableUpDownCounter;
}

export function instruments(m: Meter): Instruments {
  return {
    callDuration: m.createHistogram('breakwater.call.duration', {
      unit: 's',
      description: 'Duration of calls through a breakwater policy, by outcome.',
    }),
    retries: m.createCounter('breakwater.retries', { unit: '{retry}', description: 'Retries scheduled.' }),
    timeouts: m.createCounter('breakwater.timeouts', { unit: '{timeout}', description: 'Timeouts that fired.' }),
    rejections: m.createCounter('breakwater.rejections', {
      unit: '{call}',
      description: 'Calls rejected without running: open breaker, full bulkhead, rate limit.',
    }),
    transitions: m.createCounter('breakwater.breaker.transitions', {
      unit: '{transition}',
      description: 'Circuit breaker state changes, by the state entered.',
    }),
    waits: m.createCounter('breakwater.rate_limit.waits', {
      unit: '{call}',
      description: 'Calls that waited for the rate limiter.',
    }),
    waitDuration: m.createHistogram('breakwater.rate_limit.wait.duration', {
      unit: 's',
      description: 'Time calls waited for the rate limiter.',
    }),
    tokenUsage: m.createHistogram('gen_ai.client.token.usage', {
      unit: '{token}',
      description: 'Number of input and output tokens used.',
      advice: { explicitBucketBoundaries: TOKEN_BUCKETS },
    }),
    operationDuration: m.createHistogram('gen_ai.client.operation.duration', {
      unit: 's',
      description: 'GenAI operation duration.',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    }),
    cost: m.createCounter(COST, { unit: '{USD}', description: 'Cost of generative-AI requests.' }),
    firstChunk: m.createHistogram('breakwater.stream.time_to_first_chunk', {
      unit: 's',
      description: 'Time from the start of a streaming call to its first chunk.',
    }),
    genAiFirstChunk: m.createHistogram('gen_ai.client.operation.time_to_first_chunk', {
      unit: 's',
      description: 'Time to receive the first chunk of a streaming GenAI response.',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    }),
    streamDuration: m.createHistogram('breakwater.stream.duration', {
      unit: 's',
      description: 'Life of a stream handed out by a stream-timeout policy, by how it ended.',
    }),
    hedges: m.createCounter('breakwater.hedges', { unit: '{attempt}', description: 'Hedged attempts started.' }),
    hedgeDenials: m.createCounter('breakwater.hedge.denials', {
      unit: '{attempt}',
      description: 'Hedged attempts the hedge budget refused.',
    }),
    injections: m.createCounter('breakwater.chaos.injections', {
      unit: '{call}',
      description: 'Faults, latencies and results injected by chaos policies.',
    }),
    breakerState: m.createObservableGauge('breakwater.breaker.state', {
      unit: '1',
      description: 'Circuit breaker state: 1 for the current state, 0 for the others.',
    }),
    active: m.createObservableUpDownCounter('breakwater.bulkhead.active', {
      unit: '{call}',
      description: 'Calls running inside a bulkhead.',
    }),
    queued: m.createObservableUpDownCounter('breakwater.bulkhead.queued', {
      unit: '{call}',
      description: 'Calls waiting for a bulkhead slot.',
    }),
  };
}
