import { memoryAggregatorStore } from '../../src/messaging/index.js';
import { describeAggregatorStore } from './aggregator-store.conformance.js';

// Two "connections" to one in-memory store are the same object.
describeAggregatorStore('memory', async () => {
  const store = memoryAggregatorStore();
  return { store, other: store, close: async () => undefined };
});
