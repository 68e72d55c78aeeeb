// Token usage: reading it from LLM responses and stream chunks, pricing it, and adding it up.

/**
 * Tokens one model request used.
 *
 * @example
 * ```ts
 * import { gateway, type TokenUsage } from 'breakwater/gateway';
 *
 * // A provider that reports usage in its own shape.
 * const usage = (result: unknown): TokenUsage | undefined => {
 *   const t = (result as { meta?: { tokens?: { in: number; out: number } } }).meta?.tokens;
 *   return t === undefined ? undefined : { inputTokens: t.in, outputTokens: t.out };
 * };
 * const gw = gateway({ targets: { chat: { endpoints, usage } } });
 * ```
 */
export interface TokenUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
}

/**
 * An endpoint's price, in US dollars per million tokens.
 *
 * @example
 * ```ts
 * import { gateway, type TokenCost } from 'breakwater/gateway';
 *
 * const gpt4o: TokenCost = { input: 2.5, output: 10 }; // USD per million tokens
 * const gw = gateway({
 *   targets: {
 *     chat: { endpoints: [{ id: 'openai', call: (req, { signal }) => openai(req, { signal }), cost: gpt4o }] },
 *   },
 * });
 * ```
 */
export interface TokenCost {
  /** USD per 1M input (prompt) tokens. */
  readonly input: number;
  /** USD per 1M output (completion) tokens. */
  readonly output: number;
}

type Raw = Record<string, unknown> | null | undefined;

const num = (v: unknown): number | undefined => (typeof v === 'number' && v >= 0 ? v : undefined);

/** Reads OpenAI's `prompt_tokens` / `completion_tokens` or the `input_tokens` / `output_tokens` of Anthropic and OpenAI's Responses API. */
function tokensOf(u: Raw): TokenUsage | undefined {
  if (typeof u !== 'object' || u === null) return undefined;
  const input = num(u.prompt_tokens) ?? num(u.input_tokens);
  const output = num(u.completion_tokens) ?? num(u.output_tokens);
  if (input === undefined && output === undefined) return undefined;
  return { inputTokens: input ?? 0, outputTokens: output ?? 0 };
}

/**
 * The default `usage` reader of a target: OpenAI chat completions (`usage.prompt_tokens` /
 * `completion_tokens`), Anthropic messages and OpenAI's Responses API (`usage.input_tokens` /
 * `output_tokens`). Anthropic's cache tokens (`cache_read_input_tokens`, …) are not counted in.
 * `undefined` when the result carries no usage.
 *
 * @example
 * ```ts
 * readTokenUsage({ usage: { prompt_tokens: 12, completion_tokens: 5 } }); // { inputTokens: 12, outputTokens: 5 }
 * ```
 */
export function readTokenUsage(result: unknown): TokenUsage | undefined {
  return typeof result === 'object' && result !== null ? tokensOf((result as { usage?: Raw }).usage) : undefined;
}

/**
 * The default reader of one stream chunk: OpenAI's last chunk with `stream_options: {
 * include_usage: true }` (`usage`), Anthropic's `message_start` (`message.usage`) and
 * `message_delta` (`usage`, cumulative), OpenAI Responses' `response.completed` (`response.usage`).
 * The gateway keeps the largest count of each kind seen over the stream.
 *
 * @example
 * ```ts
 * readChunkUsage({ type: 'message_delta', usage: { output_tokens: 42 } }); // { inputTokens: 0, outputTokens: 42 }
 * ```
 */
export function readChunkUsage(chunk: unknown): TokenUsage | undefined {
  if (typeof chunk !== 'object' || chunk === null) return undefined;
  const c = chunk as { usage?: Raw; message?: { usage?: Raw } | null; response?: { usage?: Raw } | null };
  return tokensOf(c.usage) ?? tokensOf(c.message?.usage) ?? tokensOf(c.response?.usage);
}

/** The USD cost of `usage` at `price`; 0 without a price. @internal */
export function priceOf(usage: TokenUsage | undefined, price: TokenCost | undefined): number {
  if (usage === undefined || price === undefined) return 0;
  return (usage.inputTokens * price.input + usage.outputTokens * price.output) / 1_000_000;
}

/**
 * Requests, tokens, cost and errors added up (per endpoint, target or key).
 *
 * @example
 * ```ts
 * import { gateway, type UsageTotals } from 'breakwater/gateway';
 *
 * const totals: UsageTotals | undefined = gateway({ targets }).snapshot().targets.chat?.usage;
 * if (totals !== undefined) {
 *   const tokens = totals.inputTokens + totals.outputTokens;
 *   console.log(`${totals.requests} ok, ${totals.errors} failed, ${tokens} tokens, $${totals.cost.toFixed(2)}`);
 * }
 * ```
 */
export interface UsageTotals {
  /** Requests that succeeded. */
  readonly requests: number;
  /** Requests that failed (every failed attempt; a caller's abort is not counted). */
  readonly errors: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** USD. */
  readonly cost: number;
}

/** Mutable {@link UsageTotals}. @internal */
export class Totals implements UsageTotals {
  requests = 0;
  errors = 0;
  inputTokens = 0;
  outputTokens = 0;
  cost = 0;

  /** Counts a successful request and what it used (a stream's tokens come later, through `tokens`). */
  add(usage: TokenUsage | undefined, cost: number): void {
    this.requests++;
    this.tokens(usage, cost);
  }

  tokens(usage: TokenUsage | undefined, cost: number): void {
    if (usage !== undefined) {
      this.inputTokens += usage.inputTokens;
      this.outputTokens += usage.outputTokens;
    }
    this.cost += cost;
  }

  copy(): UsageTotals {
    return {
      requests: this.requests,
      errors: this.errors,
      inputTokens: this.inputTokens,
      outputTokens: this.outputTokens,
      cost: this.cost,
    };
  }
}

const chars = (v: unknown): number => {
  if (typeof v === 'string') return v.length;
  if (Array.isArray(v)) {
    let n = 0;
    for (const part of v) n += chars(part);
    return n;
  }
  if (typeof v === 'object' && v !== null) {
    const o = v as { content?: unknown; text?: unknown };
    return chars(o.content) + chars(o.text);
  }
  return 0;
};

/**
 * The default token estimate of a request: a quarter of the characters of its `messages` (OpenAI,
 * Anthropic), `system`, `input` (OpenAI Responses) or `prompt`, plus the most it may generate
 * (`max_tokens`, `max_completion_tokens` or `max_output_tokens`). A string request counts its
 * characters. Rough on purpose: give a target an `estimate` with a real tokenizer when it matters.
 *
 * @example
 * ```ts
 * estimateTokens({ messages: [{ role: 'user', content: 'x'.repeat(400) }], max_tokens: 50 }); // 150
 * ```
 */
export function estimateTokens(request: unknown): number {
  if (typeof request === 'string') return Math.ceil(request.length / 4);
  if (typeof request !== 'object' || request === null) return 0;
  const r = request as Record<string, unknown>;
  const text = chars(r.messages) + chars(r.system) + chars(r.input) + chars(r.prompt);
  return Math.ceil(text / 4) + maxOutputTokens(request);
}

/**
 * The most tokens a request may generate (`max_tokens`, `max_completion_tokens` or
 * `max_output_tokens`), 0 when it does not say. @internal
 */
export function maxOutputTokens(request: unknown): number {
  if (typeof request !== 'object' || request === null) return 0;
  const r = request as Record<string, unknown>;
  return num(r.max_tokens) ?? num(r.max_completion_tokens) ?? num(r.max_output_tokens) ?? 0;
}
