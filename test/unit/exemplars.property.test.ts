import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import { compactRollupMinute, readRollupWindow } from '../../functions/evaluate/rollup-reader.ts';
import { type ExemplarOrder, mergeExemplars, offerExemplar } from '../../functions/shared/exemplar-select.ts';
import {
  computeRollup,
  decodeRollup,
  encodeRollup,
  ROLLUP_CONTENT_TYPE,
  rollupObjectKey,
} from '../../functions/shared/rollup.ts';
import { type Exemplar, MAX_EXEMPLARS } from '../../schemas/exemplars.ts';
import type { MeasureSpec } from '../../schemas/measures.ts';
import type { SpanRecord } from '../../schemas/records.ts';
import { aLogRecord, aSpanRecord, ROW_T0 } from '../builders/rows.ts';

const MINUTE = 60_000;
const M0 = Math.floor(ROW_T0 / MINUTE);
const ORDERS: readonly ExemplarOrder[] = ['latest', 'largest', 'smallest'];

/** Exemplars over few ids, times and values, so ties and repeated requests are common. */
const anExemplar = fc.record({
  trace_id: fc.option(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g').map((c) => c.repeat(32))),
  request_id: fc.option(fc.constantFrom('r1', 'r2', 'r3')),
  time_ms: fc.integer({ min: 0, max: 5 }).map((t) => ROW_T0 + t * 1000),
  value: fc.integer({ min: 0, max: 4 }),
  service: fc.constantFrom('orders', 'payments'),
});

function select(rows: readonly Exemplar[], order: ExemplarOrder): Exemplar[] {
  const set: Exemplar[] = [];
  for (const e of rows) offerExemplar(set, order, e);
  return set;
}

const identity = (e: Exemplar) => (e.trace_id === null ? `r:${e.request_id}` : `t:${e.trace_id}`);

describe('exemplar selection (D22)', () => {
  it('keeps the same set whatever order the rows come in: at most MAX_EXEMPLARS, each request once', () => {
    fc.assert(
      fc.property(fc.array(anExemplar, { maxLength: 40 }), fc.constantFrom(...ORDERS), (rows, order) => {
        const forward = select(rows, order);
        expect(select([...rows].reverse(), order)).toEqual(forward);
        expect(forward.length).toBeLessThanOrEqual(MAX_EXEMPLARS);
        expect(new Set(forward.map(identity)).size).toBe(forward.length);
        expect(forward.length).toBe(Math.min(MAX_EXEMPLARS, new Set(rows.map(identity)).size));
      }),
    );
  });

  it('merging the selections of two parts chooses what one selection over every row chooses', () => {
    fc.assert(
      fc.property(
        fc.array(anExemplar, { maxLength: 30 }),
        fc.array(anExemplar, { maxLength: 30 }),
        fc.constantFrom(...ORDERS),
        (a, b, order) => {
          expect(mergeExemplars(select(a, order), select(b, order), order)).toEqual(select([...a, ...b], order));
          expect(mergeExemplars(select(b, order), select(a, order), order)).toEqual(select([...a, ...b], order));
        },
      ),
    );
  });

  it('keeps the latest rows for latest, the largest values for largest and the smallest for smallest', () => {
    const rows: Exemplar[] = Array.from({ length: 8 }, (_, i) => ({
      trace_id: String(i).repeat(32),
      request_id: null,
      time_ms: ROW_T0 + i * 1000,
      value: 10 - i,
    }));
    expect(select(rows, 'latest').map((e) => e.time_ms)).toEqual([7, 6, 5, 4, 3].map((i) => ROW_T0 + i * 1000));
    expect(select(rows, 'largest').map((e) => e.value)).toEqual([10, 9, 8, 7, 6]);
    expect(select(rows, 'smallest').map((e) => e.value)).toEqual([3, 4, 5, 6, 7]);
  });
});

const errors: MeasureSpec = {
  id: 'cccccccccccccccc',
  selector: { table: 'spans', matchers: [{ label: 'status', op: '=', value: 'error' }] },
  by: ['service'],
  kind: 'count',
};
const slowest: MeasureSpec = {
  id: 'dddddddddddddddd',
  selector: { table: 'spans', matchers: [] },
  by: ['service'],
  kind: 'stats',
  field: 'duration',
};

/** Spans of minute M0 with distinct traces, durations and times; every third fails. */
function spansOf(seed: number, count: number): SpanRecord[] {
  return Array.from({ length: count }, (_, i) => {
    const n = seed * 100 + i;
    return aSpanRecord(
      {
        trace_id: n.toString(16).padStart(32, '0'),
        start_time: ROW_T0 + ((n * 7919) % 59_000),
        status_code: n % 3 === 0 ? 'ERROR' : 'OK',
        service_name: 'orders',
      },
      1 + ((n * 31) % 97),
    );
  });
}

describe('exemplars through the rollup reader and compaction', () => {
  it('a window read from several batches, and the compacted minute, keep what one batch of every row keeps', async () => {
    // Prepare: three batches of one arrival minute
    const store = memoryObjectStore();
    const batches = [spansOf(1, 20), spansOf(2, 15), spansOf(3, 25)];
    const arrivalMs = ROW_T0 + 30_000;
    for (let i = 0; i < batches.length; i++) {
      const rollup = computeRollup([], batches[i] ?? [], [errors, slowest], arrivalMs);
      const key = rollupObjectKey({
        shardId: 'shardId-0',
        firstSequenceNumber: String(i + 1),
        firstArrivalMs: arrivalMs,
      });
      await store.put(key, encodeRollup(rollup), ROLLUP_CONTENT_TYPE);
    }
    const whole = computeRollup([], batches.flat(), [errors, slowest], arrivalMs).minutes[M0];

    // Act: read the batches; then compact the minute and read again
    const read = await readRollupWindow(store, { fromMinute: M0, toMinute: M0 });
    await compactRollupMinute(store, M0, () => ROW_T0 + 10 * MINUTE);
    const compacted = await readRollupWindow(store, { fromMinute: M0, toMinute: M0 });

    // Assess
    for (const window of [read, compacted]) {
      const e = window.aggregate(errors.id, M0, M0).get('["orders"]');
      const s = window.aggregate(slowest.id, M0, M0).get('["orders"]');
      expect(e?.exemplars).toEqual(whole?.[errors.id]?.['["orders"]']?.exemplars);
      expect(s?.exemplars).toEqual(whole?.[slowest.id]?.['["orders"]']?.exemplars);
      expect(s?.exemplars_low).toEqual(whole?.[slowest.id]?.['["orders"]']?.exemplars_low);
    }
    expect(compacted.objectsRead).toBe(1);
    const failing = whole?.[errors.id]?.['["orders"]']?.exemplars ?? [];
    expect(failing).toHaveLength(MAX_EXEMPLARS);
    const failed = new Set(
      batches
        .flat()
        .filter((r) => r.status_code === 'ERROR')
        .map((r) => r.trace_id),
    );
    for (const x of failing) expect(failed.has(x.trace_id ?? '')).toBe(true);
  });

  it('still reads a rollup object written before exemplars', () => {
    const old = { version: 1, measures: [errors.id], minutes: { [M0]: { [errors.id]: { '["orders"]': { n: 3 } } } } };
    const decoded = decodeRollup(Buffer.from(JSON.stringify(old)), 'rollups/old.json');
    expect(decoded.minutes[M0]?.[errors.id]?.['["orders"]']).toEqual({ n: 3 });
  });

  it('keeps no exemplar of a log line with neither a trace id nor a request id, and a request id alone', () => {
    const count: MeasureSpec = {
      id: 'eeeeeeeeeeeeeeee',
      selector: { table: 'logs', matchers: [] },
      by: [],
      kind: 'count',
    };
    const anonymous = computeRollup([aLogRecord({ trace_id: null, request_id: null })], [], [count], ROW_T0);
    const requestOnly = computeRollup([aLogRecord({ trace_id: null, request_id: 'job-7' })], [], [count], ROW_T0);
    expect(anonymous.minutes[M0]?.[count.id]?.['[]']).toEqual({ n: 1 });
    expect(requestOnly.minutes[M0]?.[count.id]?.['[]']?.exemplars).toEqual([
      { trace_id: null, request_id: 'job-7', time_ms: ROW_T0, value: 1, service: 'orders' },
    ]);
  });
});
