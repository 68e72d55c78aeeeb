// The demo agent books a trip as a saga: reserve seat → charge → issue ticket → notify.
// Issuing the ticket fails at seeded random; the compensations print as they run. Then a process
// "crashes" right after the charge is recorded, and a second orchestrator resumes the saga from the
// log in SQLite: the card is charged once, the seat reserved once.
//   npx tsx examples/saga-trip.ts [seed]
import Database from 'better-sqlite3';
import { sqliteEventStore } from '../src/event-store/sqlite/index.js';
import { defineSaga, isSagaFailedError, type SagaStore, sagaOrchestrator } from '../src/saga/index.js';
import { seeded } from './demo/fake-llm.js';

interface Trip {
  readonly traveller: string;
  readonly flight: string;
  readonly price: number;
}

/** A fake downstream service that dedupes by idempotency key, as a real payment API does. */
function service(name: string) {
  const done = new Map<string, string>();
  const calls = new Map<string, number>();
  let effects = 0;
  return {
    /** How many times a key was called (a re-run step calls again; the effect still happens once). */
    calls: (key: string) => calls.get(key) ?? 0,
    call(key: string, what: string): string {
      calls.set(key, (calls.get(key) ?? 0) + 1);
      const seen = done.get(key);
      if (seen !== undefined) return seen;
      effects++;
      const id = `${name}-${effects}`;
      done.set(key, id);
      console.log(`    ${name}: ${what} (${id})`);
      return id;
    },
  };
}

/**
 * Runs the saga part of the demo.
 *
 * @example
 * ```ts
 * await sagaSection(42);
 * ```
 */
export async function sagaSection(seed = 42): Promise<void> {
  const random = seeded(seed);
  const seats = service('seats');
  const payments = service('payments');
  const tickets = service('tickets');
  const mail = service('mail');

  const bookTrip = defineSaga({
    name: 'book-trip',
    steps: [
      {
        name: 'reserve-seat',
        run: (trip: Trip, { key }) => seats.call(key, `reserve a seat on ${trip.flight}`),
        compensate: (_trip: Trip, seat: string, { key }) => seats.call(`${key}:undo`, `release seat ${seat}`),
      },
      {
        name: 'charge',
        run: (trip: Trip, { key }) => payments.call(key, `charge ${trip.price} EUR`),
        compensate: (trip: Trip, charge: string, { key }) =>
          payments.call(`${key}:undo`, `refund ${trip.price} EUR (${charge})`),
      },
      {
        // Once the ticket is issued the trip is booked: a pivot, never undone.
        name: 'issue-ticket',
        pivot: true,
        run: (_trip: Trip, { key, results }) => {
          if (random() < 0.5) throw new Error('ticketing system unavailable');
          return tickets.call(key, `issue ticket for seat ${results['reserve-seat']}`);
        },
      },
      { name: 'notify', run: (trip: Trip, { key }) => mail.call(key, `email ${trip.traveller}`) },
    ],
    result: (trip: Trip, r) => ({ traveller: trip.traveller, ticket: r['issue-ticket'] }),
  });

  const db = new Database(':memory:');
  const store = sqliteEventStore(db);
  const sagas = sagaOrchestrator({ store, sagas: [bookTrip], compensationRetries: 0 });
  sagas.on('*', (e) => {
    if (e.type === 'step-compensated') console.log(`    ↩ compensated ${e.step}`);
    if (e.type === 'compensating') console.log(`    ! ${e.sagaId}: compensating after ${e.step ?? 'a stop'}`);
  });

  console.log('Booking three trips (issuing the ticket fails at seeded random):');
  for (const [i, traveller] of ['ada', 'grace', 'edsger'].entries()) {
    const trip: Trip = { traveller, flight: `BW${100 + i}`, price: 300 + 10 * i };
    try {
      const booked = await sagas.run(bookTrip, trip, { id: `trip-${traveller}` });
      console.log(`  ✓ ${booked.traveller} booked, ticket ${booked.ticket}`);
    } catch (e) {
      if (!isSagaFailedError(e)) throw e;
      console.log(`  ✗ ${traveller}: ${e.step} failed; ${e.status} (${e.compensations.length} compensations)`);
    }
  }

  console.log('\nA process crashes right after the charge is recorded; another one resumes:');
  // The first process's store stops answering once the charge's success is durable (kill -9 there).
  const crashing: SagaStore = {
    read: (s, o) => store.read(s, o),
    streams: (o) => store.streams(o),
    append: async (stream, events, options) => {
      const r = await store.append(stream, events, options);
      const chargeDone = events.some(
        (e) => e.type === 'saga.step-succeeded' && (e.data as { step: string }).step === 'charge',
      );
      if (chargeDone) await new Promise(() => {});
      return r;
    },
  };
  const doomed = sagaOrchestrator({ store: crashing, lease: 200 });
  void doomed.run(bookTrip, { traveller: 'barbara', flight: 'BW200', price: 420 }, { id: 'trip-barbara' });
  await new Promise((r) => setTimeout(r, 50));
  console.log(
    `  after the crash: ${(await sagas.status('trip-barbara'))?.status}, steps done:`,
    Object.entries((await sagas.status('trip-barbara'))?.steps ?? {})
      .map(([n, s]) => `${n}=${s.status}`)
      .join(' '),
  );
  await new Promise((r) => setTimeout(r, 250)); // the dead process's lease lapses
  const resumed = await sagas.resume('trip-barbara');
  console.log(`  resumed by a new process: ${resumed?.status}`);
  console.log(
    `  barbara's card was charged ${payments.calls('trip-barbara:charge')} time(s), her seat reserved ${seats.calls('trip-barbara:reserve-seat')} time(s)`,
  );
  db.close();
}

if (import.meta.url === `file://${process.argv[1]}`) await sagaSection(Number(process.argv[2] ?? 42));
