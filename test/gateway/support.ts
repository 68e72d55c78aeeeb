import type { Context } from '../../src/core/context.js';
import type { EndpointOptions } from '../../src/gateway/index.js';

/** An HTTP-shaped error as the SDKs throw them. */
export const http = (status: number, headers: Record<string, string> = {}, body: Record<string, unknown> = {}) =>
  Object.assign(new Error(`HTTP ${status}`), { status, headers: new Headers(headers), error: body });

export const ok = (input = 10, output = 5, model?: string) => ({
  model,
  choices: [{ message: { content: 'hi' } }],
  usage: { prompt_tokens: input, completion_tokens: output },
});

/** What an endpoint did per request: the contexts it was given. */
export interface Scripted extends EndpointOptions<unknown> {
  readonly seen: Context[];
  readonly signals: AbortSignal[];
}

/**
 * An endpoint that answers each request with the next step of `steps` (the last one repeats): a
 * value, an error to throw, or a function of the context (for delays on the virtual clock).
 */
export function endpoint(
  id: string,
  steps: readonly unknown[],
  more: Partial<EndpointOptions<unknown>> = {},
): Scripted {
  const seen: Context[] = [];
  const signals: AbortSignal[] = [];
  let k = 0;
  const ep = {
    id,
    ...more,
    call: (_req: unknown, ctx: Context) => {
      seen.push(ctx);
      signals.push(ctx.signal); // read during the call, as a client does
      const step = steps[Math.min(k++, steps.length - 1)];
      if (typeof step === 'function') return (step as (ctx: Context) => unknown)(ctx);
      if (step instanceof Error) throw step;
      return step;
    },
  };
  // Not options: non-enumerable, so the gateway's unknown-key check does not see them.
  return Object.defineProperties(ep, {
    seen: { value: seen, enumerable: false },
    signals: { value: signals, enumerable: false },
  }) as Scripted;
}

/** A step that waits `ms` on `sleep` (honouring the attempt's signal), then answers `value`. */
export const delayed =
  (sleep: (ms: number, signal?: AbortSignal) => Promise<void>, ms: number, value: unknown = ok()) =>
  async (ctx: Context) => {
    await sleep(ms, ctx.signal);
    if (value instanceof Error) throw value;
    return value;
  };
