// Tool-result fan-in over NATS JetStream. An agent scatters one step's tool calls on a subject; a
// tool worker (`jetstreamConsumer`) runs each call and publishes its result; a second consumer fans
// the results into a durable aggregator that completes the step when every result is in — or at the
// step's deadline with what came back.
//
// Along the way: a publish retried by the agent is stored once (`Nats-Msg-Id`); a flaky tool fails
// its first delivery and is nak'ed with a backoff, then succeeds on the redelivery; a call naming a
// tool that does not exist is poison (`TerminalMessageError`): dead-lettered at once, never retried.
// So the step completes at its deadline with three results of four.
//
// Needs NATS with JetStream on 127.0.0.1:4222 (or NATS_URL). The stream has a unique name and is
// deleted at the end. Run: `npx tsx examples/nats-tool-results.ts`
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { type DurableCompletion, durableAggregator, memoryAggregatorStore } from '../src/messaging/index.js';
import { jetstreamConsumer, publish, TerminalMessageError } from '../src/messaging/nats/index.js';
import { timeout } from '../src/timeout/index.js';

interface ToolCall {
  readonly step: string;
  readonly callId: string;
  readonly of: number;
  readonly name: string;
  readonly args: string;
}
interface ToolResult {
  readonly step: string;
  readonly callId: string;
  readonly of: number;
  readonly output: string;
}

let weatherCalls = 0;
const TOOLS: Record<string, (args: string, signal: AbortSignal) => Promise<string>> = {
  search: async (q) => `3 docs about ${q}`,
  calculator: async (expr) => `${expr} = 42`,
  weather: async (city) => {
    if (++weatherCalls === 1) throw new Error('weather API timed out'); // transient: redelivered
    return `12 °C in ${city}`;
  },
};

const t0 = Date.now();
const log = (line: string): void => console.log(`${String(Date.now() - t0).padStart(5)} ms  ${line}`);

export async function main(): Promise<void> {
  const id = `${Date.now().toString(36)}${process.pid}`;
  const stream = `EXAMPLE_TOOLS_${id}`;
  const subject = `example.${id}`;
  const nc = await connect({ servers: process.env.NATS_URL ?? '127.0.0.1:4222' });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  await jsm.streams.add({ name: stream, subjects: [`${subject}.>`] });
  const durable = async (name: string, filter: string) => {
    await jsm.consumers.add(stream, { durable_name: name, ack_policy: AckPolicy.Explicit, filter_subject: filter });
    return js.consumers.get(stream, name);
  };

  try {
    // Every tool worker: run each call, publish its result once (a retried publish is deduped).
    const workers = jetstreamConsumer<ToolCall>({
      consumer: await durable('tool-workers', `${subject}.calls`),
      handler: async (call, { signal }) => {
        const tool = TOOLS[call.name];
        if (tool === undefined) throw new TerminalMessageError(`no tool named ${call.name}`);
        const output = await tool(call.args, signal);
        const result: ToolResult = { step: call.step, callId: call.callId, of: call.of, output };
        await publish(js, `${subject}.results`, result, { msgId: `result:${call.callId}` });
      },
      policy: timeout(2_000),
      backoff: [100], // the nak delay before a failed call is delivered again
      maxDeliver: 3,
      deadLetter: { js, subject: `${subject}.dead` },
      concurrency: 4,
    });
    workers.on('nak', (e) => log(`worker: call seq ${e.seq} failed (${String(e.error)}), redelivery in ${e.delay} ms`));
    workers.on('dead-letter', (e) => log(`worker: call seq ${e.seq} dead-lettered (${e.reason}: ${String(e.error)})`));

    // The fan-in: one group per agent step, complete when all results are in or 1 s after the first.
    let finish: (c: DurableCompletion<ToolResult>) => void = () => {};
    const completed = new Promise<DurableCompletion<ToolResult>>((resolve) => {
      finish = resolve;
    });
    const steps = durableAggregator<ToolResult>({
      store: memoryAggregatorStore(), // postgresAggregatorStore / redisAggregatorStore for a fleet
      correlate: (r) => r.step,
      id: (r) => r.callId, // a redelivered result is not added twice
      complete: { predicate: (g) => g.messages.length === g.messages[0]?.of, deadline: 1_000 },
      onComplete: (_results, group) => finish(group),
      late: 'drop',
      sweepInterval: 100,
    });
    const fanIn = jetstreamConsumer<ToolResult>({
      consumer: await durable('fan-in', `${subject}.results`),
      handler: async (result) => {
        await steps.add(result);
        log(`fan-in: ${result.callId} → ${result.output}`);
      },
    });

    // The agent scatters step-1's four tool calls.
    const calls = [
      { name: 'search', args: 'runbooks' },
      { name: 'weather', args: 'Oslo' },
      { name: 'calculator', args: '6 * 7' },
      { name: 'translate', args: 'hello' }, // no such tool
    ];
    for (const [i, c] of calls.entries()) {
      const call: ToolCall = { step: 'step-1', callId: `step-1:${i}`, of: calls.length, ...c };
      await publish(js, `${subject}.calls`, call, { msgId: call.callId });
    }
    // A publish the agent retried (its first ack was lost, say): JetStream stores it once.
    const again = await publish(js, `${subject}.calls`, { step: 'step-1', callId: 'step-1:0' }, { msgId: 'step-1:0' });
    log(`agent: 4 calls published; the retried publish of step-1:0 was a duplicate: ${again.duplicate}`);

    const step = await completed;
    const outputs = step.messages.map((r) => r.output);
    log(
      `step-1 completed by ${step.completedBy} with ${step.messages.length} of ${calls.length}: ${outputs.join('; ')}`,
    );

    await Promise.all([workers.close({ timeout: 1_000 }), fanIn.close({ timeout: 1_000 })]);
    await steps.close();
    const dead = await jsm.streams.getMessage(stream, { last_by_subj: `${subject}.dead` });
    log(
      `dead letter: ${dead?.string()} (${dead?.header.get('Breakwater-Reason')}, ${dead?.header.get('Breakwater-Error-Code')})`,
    );
  } finally {
    await jsm.streams.delete(stream);
    await nc.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
