import type { Usage } from './types.js';

const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);

/**
 * Reads token usage from an LLM SDK's response: OpenAI chat completions (`usage.prompt_tokens` /
 * `completion_tokens`), the OpenAI Responses API and Anthropic messages (`usage.input_tokens` /
 * `output_tokens`), and the answering `model`. Undefined when the result has no `usage`.
 *
 * @example
 * ```ts
 * instrument(llm, { genAi: { operation: 'chat', model: 'gpt-4o', provider: 'openai', usage: readUsage } });
 * ```
 */
export function readUsage(result: unknown): Usage | undefined {
  const r = result as { usage?: Record<string, unknown> | null; model?: unknown } | null | undefined;
  const u = r?.usage;
  if (typeof u !== 'object' || u === null) return undefined;
  return {
    model: typeof r?.model === 'string' ? r.model : undefined,
    inputTokens: num(u.prompt_tokens) ?? num(u.input_tokens),
    outputTokens: num(u.completion_tokens) ?? num(u.output_tokens),
  };
}
