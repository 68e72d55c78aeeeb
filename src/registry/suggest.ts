// "Did you mean": the closest known name to a misspelt one.
import { closest } from '../core/validate.js';

// Names other libraries use, for a hint when a close spelling does not exist.
const SYNONYMS: Readonly<Record<string, string>> = {
  circuitbreaker: 'breaker',
  circuitbreakers: 'breaker',
  ratelimiter: 'rateLimit',
  timeouts: 'timeout',
  retries: 'retry',
  maxattempts: 'maxRetries',
  attempts: 'maxRetries',
  delay: 'after',
};

/** The closest of `known` to `word`, if it is close enough to be a likely typo (or a peer's name for it). @internal */
export function suggest(word: string, known: Iterable<string>): string | undefined {
  const list = [...known];
  const syn = SYNONYMS[word.toLowerCase()];
  if (syn !== undefined && list.includes(syn)) return syn;
  return closest(word, list);
}

/** The message for an unknown key: `unknown key; did you mean "retry"?` (or the known ones). @internal */
export function unknownKey(what: string, key: string, known: readonly string[]): string {
  const close = suggest(key, known);
  if (close !== undefined) return `unknown ${what}; did you mean ${JSON.stringify(close)}?`;
  return known.length === 0
    ? `unknown ${what}`
    : `unknown ${what} (expected one of ${known.map((k) => JSON.stringify(k)).join(', ')})`;
}
