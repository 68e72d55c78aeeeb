// Tool call → retry with feedback: when a tool rejects the arguments a model produced, the next
// attempt asks the model again *with the error*, so it can correct itself.
//
// `ctx.data` is one bag per call, shared by every attempt: the failed attempt leaves its error there
// and the next attempt reads it. Only invalid-argument errors are retried; anything else fails fast.
//
// Run: `npx tsx examples/retry-tool-feedback.ts`
import { constant, retry } from '../src/retry/index.js';

/** The tool says its input is wrong: worth asking the model again. */
export class ToolInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ToolInputError';
  }
}

interface WeatherArgs {
  readonly city: string;
  readonly unit: 'C' | 'F';
}

/** A tool with strict input validation. */
export async function getWeather(args: WeatherArgs): Promise<string> {
  if (args.unit !== 'C' && args.unit !== 'F') throw new ToolInputError(`unit must be "C" or "F", got "${args.unit}"`);
  return `${args.city}: 21°${args.unit}`;
}

/** A fake model that gets the arguments wrong until it is told what was wrong. */
export async function proposeArgs(question: string, feedback: string | undefined): Promise<WeatherArgs> {
  const city = question.replace(/^.* in /, '').replace(/\?$/, '');
  return feedback === undefined ? ({ city, unit: 'celsius' } as unknown as WeatherArgs) : { city, unit: 'C' };
}

export const toolRetry = retry({
  maxRetries: 2,
  backoff: constant(0), // no need to wait: the fix comes from the feedback, not from time
  handle: (error) => error instanceof ToolInputError,
});

export function askWithTool(question: string): Promise<string> {
  return toolRetry.execute(async (ctx) => {
    const feedback = ctx.data.toolError as string | undefined;
    const args = await proposeArgs(question, feedback);
    try {
      return await getWeather(args);
    } catch (error) {
      // Feed the error back to the model on the next attempt.
      ctx.data.toolError = error instanceof Error ? error.message : String(error);
      throw error;
    }
  });
}

export async function main(): Promise<void> {
  toolRetry.on('retry', (e) => console.log(`attempt ${e.attempt}: ${String(e.error)} → asking the model again`));
  console.log(await askWithTool('What is the weather in Lyon?'));
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
