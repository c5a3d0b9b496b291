import { describe, expect, it } from 'vitest';
import { tableObjectKey } from '../../functions/shared/object-keys.ts';
import {
  buildTraceIndex,
  dataPartitionOf,
  encodeTraceIndex,
  TRACE_INDEX_ROW_GROUP_ROWS,
  traceIndexObjectKey,
} from '../../functions/shared/trace-index.ts';
import { aLogRecord, aSpanRecord, ROW_T0 } from '../builders/rows.ts';
import { readParquetObjects } from '../support/duckdb.ts';

const TRACE_A = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACE_B = '0af7651916cd43dd8448eb211c80319c';
const REQUEST = 'req-42';
const KEYS = {
  logs: 'tables/logs/dt=2026-11-25/hour=21/s-1.parquet',
  spans: 'tables/spans/dt=2026-11-25/hour=21/s-1.parquet',
};
const PARTITION = { dt: '2026-11-25', hour: '21' };

describe('trace index', () => {
  it('writes one row per id, kind and table with time range, services, counts and error flag', () => {
    // Prepare
    const logs = [
      aLogRecord({ trace_id: TRACE_A, time: ROW_T0 + 30, service_name: 'payments', request_id: REQUEST }),
      aLogRecord({ trace_id: TRACE_A, time: ROW_T0 + 10, service_name: 'orders', severity_number: 17 }),
      aLogRecord({ trace_id: TRACE_A, time: ROW_T0 + 20, service_name: 'orders' }),
      aLogRecord({ trace_id: null, time: ROW_T0 + 40, service_name: null, request_id: 'job-7' }),
    ];
    const spans = [
      aSpanRecord({ trace_id: TRACE_A, start_time: ROW_T0, service_name: 'web' }, 100),
      aSpanRecord({ trace_id: TRACE_B, start_time: ROW_T0 + 5, status_code: 'ERROR', request_id: REQUEST }, 7),
    ];

    // Act
    const rows = buildTraceIndex(logs, spans, KEYS, PARTITION);

    // Assess
    expect(rows.map((r) => [r.id, r.id_kind, r.data_table])).toEqual([
      [TRACE_B, 'trace', 'spans'],
      [TRACE_A, 'trace', 'logs'],
      [TRACE_A, 'trace', 'spans'],
      ['job-7', 'request', 'logs'],
      [REQUEST, 'request', 'logs'],
      [REQUEST, 'request', 'spans'],
    ]);
    expect(rows[1]).toEqual({
      id: TRACE_A,
      id_kind: 'trace',
      data_table: 'logs',
      first_time: ROW_T0 + 10,
      last_time: ROW_T0 + 30,
      services: 'orders,payments',
      span_count: 0,
      log_count: 3,
      error: true,
      error_count: 1,
      error_services: 'orders',
      root_service: null,
      root_name: null,
      trace_ids: null,
      data_dt: '2026-11-25',
      data_hour: '21',
      object_key: KEYS.logs,
    });
    expect(rows[2]).toMatchObject({ first_time: ROW_T0, last_time: ROW_T0 + 100, span_count: 1, services: 'web' });
    expect(rows[2]?.error).toBe(false);
    expect(rows[0]).toMatchObject({ error: true, object_key: KEYS.spans, last_time: ROW_T0 + 12 });
    expect(rows[3]).toMatchObject({ services: '', log_count: 1, error: false });
  });

  it('lists on each request row the sorted, unique trace ids of that request in that object, and none on trace rows', () => {
    // Prepare: a request over two traces in logs (one repeated, one untraced line) and one trace in spans.
    const logs = [
      aLogRecord({ trace_id: TRACE_A, request_id: REQUEST }),
      aLogRecord({ trace_id: null, request_id: REQUEST }),
      aLogRecord({ trace_id: TRACE_B, request_id: REQUEST }),
      aLogRecord({ trace_id: TRACE_A, request_id: REQUEST }),
      aLogRecord({ trace_id: TRACE_A, request_id: 'other' }),
      aLogRecord({ trace_id: null, request_id: 'job-7' }),
    ];
    const spans = [
      aSpanRecord({ trace_id: TRACE_A, request_id: REQUEST }),
      aSpanRecord({ trace_id: TRACE_B, request_id: null }),
    ];

    // Act
    const rows = buildTraceIndex(logs, spans, KEYS, PARTITION);

    // Assess
    expect(rows.map((r) => [r.id, r.id_kind, r.data_table, r.trace_ids])).toEqual([
      [TRACE_B, 'trace', 'logs', null],
      [TRACE_B, 'trace', 'spans', null],
      [TRACE_A, 'trace', 'logs', null],
      [TRACE_A, 'trace', 'spans', null],
      ['job-7', 'request', 'logs', null],
      ['other', 'request', 'logs', TRACE_A],
      [REQUEST, 'request', 'logs', `${TRACE_B},${TRACE_A}`],
      [REQUEST, 'request', 'spans', TRACE_A],
    ]);
  });

  it('counts error rows per id and lists their services, so "an error span of orders" is answered by the index', () => {
    // Prepare: trace A has an error span of payments and an ok span of orders; its logs an error line of orders.
    const spans = [
      aSpanRecord({ trace_id: TRACE_A, service_name: 'orders', span_id: 'a1a1a1a1a1a1a1a1' }),
      aSpanRecord({
        trace_id: TRACE_A,
        service_name: 'payments',
        status_code: 'ERROR',
        span_id: 'a2a2a2a2a2a2a2a2',
        parent_span_id: 'a1a1a1a1a1a1a1a1',
      }),
      aSpanRecord({ trace_id: TRACE_B, service_name: 'orders', status_code: 'OK' }),
    ];
    const logs = [aLogRecord({ trace_id: TRACE_A, service_name: 'orders', severity_number: 21 })];

    // Act
    const rows = buildTraceIndex(logs, spans, KEYS, PARTITION);

    // Assess
    const of = (id: string, table: string) => rows.find((r) => r.id === id && r.data_table === table);
    expect(of(TRACE_A, 'spans')).toMatchObject({
      services: 'orders,payments',
      error_services: 'payments',
      error_count: 1,
    });
    expect(of(TRACE_A, 'logs')).toMatchObject({ error_services: 'orders', error_count: 1 });
    expect(of(TRACE_B, 'spans')).toMatchObject({ error: false, error_services: '', error_count: 0 });
  });

  it("names the trace's root span on the spans row of the object that holds it, and nothing elsewhere", () => {
    // Prepare: trace A's root and child in this object; only a child of trace B (its root is in another batch).
    const spans = [
      aSpanRecord({
        trace_id: TRACE_A,
        name: 'child',
        span_id: 'a2a2a2a2a2a2a2a2',
        parent_span_id: 'a1a1a1a1a1a1a1a1',
      }),
      aSpanRecord({ trace_id: TRACE_A, name: 'GET /orders/{id}', service_name: 'web', span_id: 'a1a1a1a1a1a1a1a1' }),
      aSpanRecord({ trace_id: TRACE_B, name: 'charge', parent_span_id: 'b1b1b1b1b1b1b1b1' }),
    ];
    const logs = [aLogRecord({ trace_id: TRACE_A })];

    // Act
    const rows = buildTraceIndex(logs, spans, KEYS, PARTITION);

    // Assess
    const of = (id: string, table: string) => rows.find((r) => r.id === id && r.data_table === table);
    expect(of(TRACE_A, 'spans')).toMatchObject({ root_service: 'web', root_name: 'GET /orders/{id}' });
    expect(of(TRACE_A, 'logs')).toMatchObject({ root_service: null, root_name: null });
    expect(of(TRACE_B, 'spans')).toMatchObject({ root_service: null, root_name: null });
  });

  it('counts a severity below ERROR as no error', () => {
    const rows = buildTraceIndex([aLogRecord({ severity_number: 16 })], [], KEYS, PARTITION);
    expect(rows.map((r) => r.error)).toEqual([false]);
  });

  it('has no rows for an empty batch, and still encodes a readable object', async () => {
    // Act
    const rows = buildTraceIndex([], [], KEYS, PARTITION);
    const counted = await readParquetObjects(
      [encodeTraceIndex(rows)],
      (f) => `SELECT count(*)::INT AS n FROM read_parquet(${f})`,
    );

    // Assess
    expect(rows).toEqual([]);
    expect(counted).toEqual([{ n: 0 }]);
  });

  it('keys the index object by the batch stem, beside the table objects', () => {
    const batch = { shardId: 'shardId-000000000003', firstSequenceNumber: '4965001', firstArrivalMs: ROW_T0 };
    expect(traceIndexObjectKey(batch)).toBe(
      'tables/trace_index/dt=2026-11-25/hour=21/shardId-000000000003-4965001.parquet',
    );
    expect(tableObjectKey('logs', batch).replace('tables/logs/', 'tables/trace_index/')).toBe(
      traceIndexObjectKey(batch),
    );
    expect(dataPartitionOf(batch)).toEqual(PARTITION);
  });

  it('encodes sorted row groups whose full-length id statistics let DuckDB prune', async () => {
    // Prepare: more ids than one row group holds.
    const count = TRACE_INDEX_ROW_GROUP_ROWS * 3;
    const spans = Array.from({ length: count }, (_, i) =>
      aSpanRecord({ trace_id: i.toString(16).padStart(32, '0').replace(/^0/, 'a'), start_time: ROW_T0 + i }),
    );
    const rows = buildTraceIndex([], spans, KEYS, PARTITION);
    const wanted = rows[TRACE_INDEX_ROW_GROUP_ROWS + 5]?.id ?? '';

    // Act
    const bytes = encodeTraceIndex(rows);
    const [groups] = await readParquetObjects(
      [bytes],
      (f) => `SELECT count(DISTINCT row_group_id)::INT AS n FROM parquet_metadata(${f})`,
    );
    const admitting = await readParquetObjects(
      [bytes],
      (f) =>
        `SELECT row_group_id::INT AS g, stats_min_value AS lo, stats_max_value AS hi FROM parquet_metadata(${f}) WHERE path_in_schema = 'id' AND '${wanted}' BETWEEN stats_min_value AND stats_max_value`,
    );
    const hits = await readParquetObjects(
      [bytes],
      (f) =>
        `SELECT id, id_kind, data_table, epoch_ms(first_time) AS first_ms, span_count FROM read_parquet(${f}) WHERE id = '${wanted}'`,
    );

    // Assess
    expect(groups).toEqual({ n: 3 });
    expect(admitting.map((r) => r.g)).toEqual([1]);
    expect(admitting[0]?.lo).toHaveLength(32);
    expect(hits).toEqual([
      {
        id: wanted,
        id_kind: 'trace',
        data_table: 'spans',
        first_ms: BigInt(ROW_T0 + TRACE_INDEX_ROW_GROUP_ROWS + 5),
        span_count: 1,
      },
    ]);
  });
});
