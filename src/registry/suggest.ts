// "Did you mean": the closest known name to a misspelt one.

/** Edit distance with adjacent transpositions ("retyr" is one edit from "retry"), for "did you mean". @internal */
export function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    const row = d[i] as number[];
    const up = d[i - 1] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min((up[j] as number) + 1, (row[j - 1] as number) + 1, (up[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, ((d[i - 2] as number[])[j - 2] as number) + 1);
      }
      row[j] = v;
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

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

/** The closest of `known` to `word`, if it is close enough to be a likely typo. @internal */
export function suggest(word: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  const lower = word.toLowerCase();
  const list = [...known];
  const syn = SYNONYMS[lower];
  if (syn !== undefined && list.includes(syn)) return syn;
  for (const k of list) {
    const d = k.toLowerCase() === lower ? 0 : distance(lower, k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  // Short words are only matched case-insensitively: one edit turns "x" into any other letter.
  const limit = word.length < 3 ? 0 : Math.max(1, Math.floor(word.length / 3));
  return best !== undefined && bestD <= limit ? best : undefined;
}

/** The message for an unknown key: `unknown key; did you mean "retry"?` (or the known ones). @internal */
export function unknownKey(what: string, key: string, known: readonly string[]): string {
  const close = suggest(key, known);
  if (close !== undefined) return `unknown ${what}; did you mean ${JSON.stringify(close)}?`;
  return known.length === 0
    ? `unknown ${what}`
    : `unknown ${what} (expected one of ${known.map((k) => JSON.stringify(k)).join(', ')})`;
}
