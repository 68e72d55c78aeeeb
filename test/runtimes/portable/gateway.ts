import { type GatewayEvent, gateway } from '../../../src/gateway/index.js';
import type { Context } from '../../../src/index.js';
import { virtualClock } from '../../../src/testing/index.js';
import { deepEqual, describe, equal, ok, rejects, test } from '../harness.js';

/** A fake endpoint: a plain async function answering each request with the next step (the last repeats). */
function fake(steps: readonly unknown[]) {
  const calls: unknown[] = [];
  let k = 0;
  const call = async (request: unknown, _ctx: Context): Promise<unknown> => {
    calls.push(request);
    const step = steps[Math.min(k++, steps.length - 1)];
    if (step instanceof Error) throw step;
    return step;
  };
  return { call, calls };
}

/** An OpenAI-shaped chat completion. */
const completion = (text: string, input = 10, output = 5) => ({
  model: 'fake-model',
  choices: [{ message: { role: 'assistant', content: text } }],
  usage: { prompt_tokens: input, completion_tokens: output, total_tokens: input + output },
});

/** An error shaped as the SDKs throw them: an HTTP status and the response's headers. */
const httpError = (status: number, headers: HeadersInit | Record<string, string> = {}, message = `HTTP ${status}`) =>
  Object.assign(new Error(message), { status, headers });

const request = { messages: [{ role: 'user', content: 'hello' }] };

const answer = (r: { value: unknown }) =>
  (r.value as { choices: { message: { content: string } }[] }).choices[0]?.message.content;

function record(gw: { on(type: '*', l: (e: GatewayEvent) => void): unknown }) {
  const events: GatewayEvent[] = [];
  gw.on('*', (e) => events.push(e));
  return events;
}

describe('gateway', () => {
  test('routes round-robin across two endpoints and reports who answered', async () => {
    const a = fake([completion('from a')]);
    const b = fake([completion('from b')]);
    const gw = gateway({
      clock: virtualClock(),
      targets: {
        chat: {
          strategy: 'round-robin',
          endpoints: [
            { id: 'a', call: a.call },
            { id: 'b', call: b.call },
          ],
        },
      },
    });
    const routed = record(gw);
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await gw.call('chat', request));
    deepEqual(
      results.map((r) => r.endpoint),
      ['a', 'b', 'a', 'b'],
    );
    deepEqual(results.map(answer), ['from a', 'from b', 'from a', 'from b']);
    equal(results[0]?.target, 'chat');
    equal(results[0]?.attempts, 1);
    equal(a.calls[0], request, 'the endpoint gets the request as is');
    deepEqual(
      routed.filter((e) => e.type === 'route').map((e) => (e.type === 'route' ? e.endpoint : '')),
      ['a', 'b', 'a', 'b'],
    );
  });

  test('a 429 with Retry-After cools its endpoint down; the call is answered by the other one', async () => {
    const clock = virtualClock();
    // `Headers` (every runtime has it) on one error, a plain object on the other.
    const a = fake([
      httpError(429, new Headers({ 'retry-after-ms': '2000' })),
      completion('a recovered'),
      httpError(429, { 'Retry-After': '1' }),
      completion('a again'),
    ]);
    const b = fake([completion('from b')]);
    const gw = gateway({
      clock,
      random: () => 0, // weighted: always a first when it is available
      targets: {
        chat: {
          endpoints: [
            { id: 'a', call: a.call },
            { id: 'b', call: b.call },
          ],
        },
      },
    });
    const events = record(gw);
    const first = await gw.call('chat', request);
    equal(first.endpoint, 'b');
    equal(first.attempts, 2);
    const eject = events.find((e) => e.type === 'eject');
    ok(eject?.type === 'eject', 'an eject event');
    equal(eject.endpoint, 'a');
    equal(eject.reason, 'rate-limited');
    equal(eject.cooldown, true);
    equal(eject.duration, 2000);
    const snap = gw.snapshot().targets.chat?.endpoints.find((e) => e.id === 'a');
    equal(snap?.state, 'cooling');
    equal(snap?.cooldownUntil, 2000);

    await clock.advance(1999);
    equal((await gw.call('chat', request)).endpoint, 'b', 'a is skipped while it cools down');
    equal(a.calls.length, 1);
    await clock.advance(1);
    equal(answer(await gw.call('chat', request)), 'a recovered', 'a is back after its Retry-After');

    // A plain-object header bag, in any case, in seconds.
    equal((await gw.call('chat', request)).endpoint, 'b');
    equal(gw.snapshot().targets.chat?.endpoints.find((e) => e.id === 'a')?.cooldownUntil, clock.now() + 1000);
    await clock.advance(1000);
    equal(answer(await gw.call('chat', request)), 'a again');
  });

  test('when every endpoint of a target fails, the fallback for the error class answers', async () => {
    const clock = virtualClock();
    const primary = fake([
      httpError(503),
      httpError(400, {}, "This model's maximum context length is 8192 tokens"),
      httpError(400, {}, 'invalid parameter'),
    ]);
    const mini = fake([completion('from mini')]);
    const long = fake([completion('from long')]);
    const gw = gateway({
      clock,
      targets: {
        chat: {
          endpoints: [{ id: 'p', call: primary.call }],
          fallbacks: { 'context-length': ['chat-long'], default: ['chat-mini'] },
        },
        'chat-mini': { endpoints: [{ id: 'm', call: mini.call }] },
        'chat-long': { endpoints: [{ id: 'l', call: long.call }] },
      },
    });
    const events = record(gw);
    const overloaded = await gw.call('chat', request);
    equal(overloaded.target, 'chat-mini');
    equal(overloaded.endpoint, 'm');
    equal(overloaded.fallbacks, 1);
    equal(overloaded.attempts, 2);
    const fb = events.find((e) => e.type === 'fallback');
    ok(fb?.type === 'fallback');
    deepEqual([fb.from, fb.to, fb.reason], ['chat', 'chat-mini', 'overloaded']);

    const tooLong = await gw.call('chat', request);
    equal(tooLong.target, 'chat-long', 'a context-length error goes to the larger model');

    const e = (await rejects(gw.call('chat', request))) as { status: number };
    equal(e.status, 400, 'a client error does not fall back: it is rethrown');
    equal(mini.calls.length, 1);
    equal(long.calls.length, 1);
  });

  test('usage and cost are read from an OpenAI-shaped usage object and totalled per target and key', async () => {
    const clock = virtualClock();
    const ep = fake([completion('one', 1000, 500), completion('two', 3000, 1000)]);
    const gw = gateway({
      clock,
      targets: { chat: { endpoints: [{ id: 'a', call: ep.call, cost: { input: 2, output: 10 }, provider: 'fake' }] } },
    });
    const usage: GatewayEvent[] = [];
    gw.on('usage', (e) => usage.push(e));
    const r1 = await gw.call('chat', request, { key: 'team-a' });
    deepEqual(r1.usage, { inputTokens: 1000, outputTokens: 500 });
    equal(r1.cost, (1000 * 2 + 500 * 10) / 1_000_000);
    const r2 = await gw.call('chat', request, { key: 'team-a' });
    equal(r2.cost, (3000 * 2 + 1000 * 10) / 1_000_000);
    await gw.call('chat', request, { key: 'team-b' });
    equal(usage.length, 3);
    const u = usage[0];
    ok(u?.type === 'usage');
    deepEqual(
      [u.target, u.endpoint, u.key, u.model, u.provider, u.inputTokens, u.outputTokens, u.estimated],
      ['chat', 'a', 'team-a', 'fake-model', 'fake', 1000, 500, false],
    );
    const snap = gw.snapshot();
    const t = snap.targets.chat?.usage;
    deepEqual([t?.requests, t?.errors, t?.inputTokens, t?.outputTokens], [3, 0, 7000, 2500]);
    ok(Math.abs((t?.cost ?? 0) - 0.039) < 1e-12, `target cost ${t?.cost}`);
    const ka = snap.keys['team-a']?.usage;
    deepEqual([ka?.requests, ka?.inputTokens, ka?.outputTokens], [2, 4000, 1500]);
    ok(Math.abs((ka?.cost ?? 0) - 0.023) < 1e-12, `key cost ${ka?.cost}`);
    equal(snap.keys['team-b']?.usage.requests, 1);
  });
});
