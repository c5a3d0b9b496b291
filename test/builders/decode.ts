import type { RecordContext } from '../../functions/ingest/decoded.ts';

/** The context of one plain (not KPL) record, for decoder tests. */
export function aRecordContext(overrides: Partial<RecordContext> = {}): RecordContext {
  return {
    shardId: 'shardId-000000000000',
    sequenceNumber: '49650000000000000000000000000000000000000000000000000001',
    subSequenceNumber: 0,
    formatPrefix: '',
    partitionKey: 'pk',
    arrivalMs: Date.UTC(2026, 10, 25, 21, 30),
    observedNs: 1_795_000_000_000_000_000n,
    ...overrides,
  };
}
