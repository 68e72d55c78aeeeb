// Section 1: 50 chat calls through fallback → total timeout → retry → per-attempt timeout.

import { fallback } from '../../src/fallback/index.js';
import { Policy } from '../../src/index.js';
import { exponential, retry } from '../../src/retry/index.js';
import { timeout } from '../../src/timeout/index.js';
import { chat, type FakeLlm, HttpError } from './fake-llm.js';
import { color, describeError, heading, percentile, pool } from './util.js';

export async function resilienceSection(llm: FakeLlm, calls = 50): Promise<{ ok: number; fellBack: number }> {
  heading(`resilience: ${calls} chat calls, 10 at a time, through one pipeline`);
  console.log(
    color.dim(
      '  fallback(cached answer) → timeout(4 s total) → retry(4, exp. backoff, Retry-After) → timeout(1 s per attempt)',
    ),
  );
  const llmPolicy = Policy.wrap(
    fallback({ to: ({ error }) => ({ content: `[fallback: ${describeError(error)}]`, fellBack: true }) }),
    timeout({ after: 4_000, name: 'total' }),
    retry({
      maxRetries: 4,
      backoff: exponential({ initial: 100, max: 1_500 }),
      // A 4xx other than 429 is the caller's fault: retrying cannot help.
      handle: (e) => !(e instanceof HttpError) || e.status === 429 || e.status >= 500,
    }),
    timeout({ after: 1_000, name: 'attempt' }),
  );
  let retries = 0;
  let timeouts = 0;
  llmPolicy.on('retry', () => retries++);
  llmPolicy.on('timeout', () => timeouts++);

  const latencies: number[] = [];
  let ok = 0;
  let fellBack = 0;
  let attemptsTotal = 0;
  await pool(calls, 10, async (i) => {
    const started = performance.now();
    let attempts = 0;
    const reply = (await llmPolicy.execute(({ signal, attempt }) => {
      attempts = attempt;
      return chat(llm.url, 'gpt-fake', `question ${i}`, signal);
    })) as { content: string; fellBack?: boolean };
    const ms = performance.now() - started;
    latencies.push(ms);
    attemptsTotal += attempts;
    const tag = reply.fellBack ? color.yellow('fallback') : color.green('ok      ');
    if (reply.fellBack) fellBack++;
    else ok++;
    console.log(
      `  #${String(i + 1).padStart(2, '0')} ${tag} attempts=${attempts} ${ms.toFixed(0).padStart(5)} ms  ${color.dim(reply.content)}`,
    );
  });
  console.log(
    `  ${color.bold('summary')}: ${ok} succeeded, ${fellBack} fell back, ${attemptsTotal} attempts (${retries} retries, ${timeouts} timeouts), ` +
      `p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms`,
  );
  console.log(color.dim(`  server saw: ${JSON.stringify(llm.stats.byKind)}`));
  return { ok, fellBack };
}
