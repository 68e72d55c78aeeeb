// An at-least-once consumer: the broker may deliver a message more than once; the effect of each
// message id runs once, and duplicates are acknowledged with the stored result.
// Run: npx tsx examples/idempotency-consumer.ts
import { idempotentConsumer, memoryIdempotencyStore } from '../src/idempotency/index.js';

interface PaymentRequested {
  readonly messageId: string;
  readonly orderId: string;
  readonly cents: number;
}

const charges: string[] = [];
const onMessage = idempotentConsumer(
  { store: memoryIdempotencyStore(), id: (m: PaymentRequested) => m.messageId, fingerprint: (m) => m.orderId },
  async (m: PaymentRequested) => {
    charges.push(m.orderId);
    return { chargeId: `ch_${m.orderId}` };
  },
);

const m1: PaymentRequested = { messageId: 'm-1', orderId: 'o-1', cents: 1999 };
const deliveries = [m1, m1, { messageId: 'm-2', orderId: 'o-2', cents: 500 }, m1];
for (const m of deliveries) {
  const result = await onMessage(m);
  console.log(`ack ${m.messageId} →`, result); // acknowledge after the handler resolves
}
console.log('charges made:', charges); // [ 'o-1', 'o-2' ]
