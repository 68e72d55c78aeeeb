// Small helpers shared by the demo's sections.

// Colours only on a terminal, and never with NO_COLOR set (https://no-color.org).
const tty = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
const paint =
  (code: number) =>
  (s: string): string =>
    tty ? `\x1b[${code}m${s}\x1b[0m` : s;

export const color = {
  dim: paint(2),
  green: paint(32),
  yellow: paint(33),
  red: paint(31),
  bold: paint(1),
};

export function heading(title: string): void {
  console.log(`\n${color.bold(`━━ ${title} ${'━'.repeat(Math.max(0, 70 - title.length))}`)}`);
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

/** Runs `task(i)` for i in [0, n) with at most `concurrency` at once. */
export async function pool(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, worker));
}

export function describeError(e: unknown): string {
  if (e && typeof e === 'object') {
    const { code, status, message } = e as { code?: string; status?: number; message?: string };
    return code ?? (status ? `HTTP ${status}` : (message ?? 'error'));
  }
  return String(e);
}
