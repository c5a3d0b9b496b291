import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexBucket } from '../../functions/core/index-bucket.ts';
import { memoryLogger } from '../../functions/core/logger.ts';
import type { ObjectStore } from '../../functions/core/object-store.ts';
import { loadIngestConfig } from '../../functions/ingest/config.ts';
import { queryLocal } from '../../query/local-query.ts';
import { type LocalStore, objectPath } from '../../query/store-listing.ts';
import { manifestKey } from '../../schemas/compaction.ts';
import { aKinesisEvent } from '../builders/kinesis.ts';
import { aLogLine, anOtlpTraceRequest, aSpanId, aTraceId } from '../builders/telemetry.ts';
import { ingestWithIndex } from '../support/ingest-with-index.ts';
import { s3rverFolderStore } from '../support/s3rver-folder-store.ts';

const BUCKET = 'skein-local';
const HOUR = 3_600_000;
const H0 = Date.UTC(2026, 10, 25, 10);
const DT = '2026-11-25';
const T1 = '4bf92f3577b34da6a3ce929d0e0e4736';
const T2 = '0af7651916cd43dd8448eb211c80319c';
const T3 = 'c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3';
const R1 = 'req-checkout-1';
const NS = 1_000_000n;
const FILLER_PER_BATCH = 250;

interface Batch {
  readonly shard: string;
  readonly firstSeq: bigint;
  readonly arrivalMs: number;
  readonly records: string[];
}

/** Filler traces so objects hold many ids and several row groups: one span and one log line each. */
function filler(batch: number, at: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < FILLER_PER_BATCH; i++) {
    const traceId = aTraceId(batch * 10_000 + i);
    out.push(aLogLine({ traceId, timeMs: at + i, service: 'inventory', msg: `filler ${i}` }));
    out.push(
      anOtlpTraceRequest('inventory', [{ traceId, spanId: aSpanId(batch * 10_000 + i), startNs: BigInt(at + i) * NS }]),
    );
  }
  return out;
}

const ROOT = aSpanId(900_001);
const CHILD = aSpanId(900_002);
const batches: Batch[] = [
  {
    shard: 'shardId-000000000000',
    firstSeq: 1000n,
    arrivalMs: H0 + 60_000,
    records: [
      anOtlpTraceRequest('web', [
        { traceId: T1, spanId: ROOT, name: 'POST /checkout', startNs: BigInt(H0 + 1_000) * NS, requestId: R1 },
      ]),
      anOtlpTraceRequest('payments', [
        {
          traceId: T1,
          spanId: CHILD,
          parentSpanId: ROOT,
          name: 'charge',
          startNs: BigInt(H0 + 1_002) * NS,
          error: true,
        },
      ]),
      aLogLine({
        traceId: T1,
        spanId: ROOT,
        requestId: R1,
        service: 'web',
        msg: 'checkout started',
        timeMs: H0 + 1_001,
      }),
      aLogLine({
        traceId: T1,
        spanId: CHILD,
        service: 'payments',
        level: 'ERROR',
        msg: 'card declined',
        timeMs: H0 + 1_003,
      }),
      ...filler(0, H0 + 2_000),
    ],
  },
  { shard: 'shardId-000000000001', firstSeq: 2000n, arrivalMs: H0 + 120_000, records: filler(1, H0 + 3_000) },
  {
    shard: 'shardId-000000000000',
    firstSeq: 3000n,
    arrivalMs: H0 + HOUR + 60_000,
    records: [
      anOtlpTraceRequest('web', [
        { traceId: T2, spanId: aSpanId(900_003), startNs: BigInt(H0 + HOUR) * NS, requestId: R1 },
      ]),
      aLogLine({ traceId: T2, requestId: R1, service: 'web', msg: 'retry of checkout', timeMs: H0 + HOUR + 1 }),
      ...filler(2, H0 + HOUR + 2_000),
    ],
  },
  {
    shard: 'shardId-000000000000',
    firstSeq: 4000n,
    arrivalMs: H0 + 2 * HOUR + 60_000,
    records: [
      aLogLine({ traceId: T1, service: 'mailer', msg: 'receipt sent', timeMs: H0 + 2 * HOUR }),
      aLogLine({ requestId: 'job-7', service: 'cron', msg: 'nightly job', timeMs: H0 + 2 * HOUR + 5 }),
      ...filler(3, H0 + 2 * HOUR + 2_000),
    ],
  },
  {
    shard: 'shardId-000000000001',
    firstSeq: 5000n,
    arrivalMs: H0 + 3 * HOUR + 60_000,
    records: [
      anOtlpTraceRequest('web', [{ traceId: T3, spanId: aSpanId(900_004), startNs: BigInt(H0 + 3 * HOUR) * NS }]),
      ...filler(4, H0 + 3 * HOUR + 2_000),
    ],
  },
];

/** The data object key of batch `i` in `table`. */
function dataKey(table: 'logs' | 'spans', i: number): string {
  const b = batches[i];
  if (b === undefined) throw new Error(`no batch ${i}`);
  const iso = new Date(b.arrivalMs).toISOString();
  return `tables/${table}/dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}/${b.shard}-${b.firstSeq}.parquet`;
}
const indexKey = (i: number) => dataKey('logs', i).replace('tables/logs/', 'tables/trace_index/');

describe('lookup by id through the trace index (local store)', () => {
  let dir: string;
  let folder: LocalStore;
  let store: ObjectStore;

  beforeAll(async () => {
    // Prepare: five batches over four hours through the real ingest path, into a folder laid out like s3rver's.
    dir = await mkdtemp(join(tmpdir(), 'skein-query-index-'));
    folder = { dataDir: dir, bucket: BUCKET };
    store = s3rverFolderStore(dir, BUCKET);
    const config = loadIngestConfig({ SKEIN_BUCKET: BUCKET, SKEIN_ROW_GROUP_ROWS: '100' });
    for (const b of batches) {
      const event = aKinesisEvent(b.records, { shardId: b.shard, firstSeq: b.firstSeq, arrivalMs: b.arrivalMs });
      await ingestWithIndex(event.Records, { store, config, clock: () => b.arrivalMs, logger: memoryLogger() });
    }
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('finds every row of a trace without a time range, opening only the objects the index names', async () => {
    // Act
    const result = await queryLocal({ ...folder, by: 'trace', id: T1 });

    // Assess
    expect(result.rows.map((r) => (r.table === 'logs' ? `log ${r.row.body}` : `span ${r.row.name}`))).toEqual([
      'span POST /checkout',
      'log checkout started',
      'span charge',
      'log card declined',
      'log receipt sent',
    ]);
    expect(result.stats.mode).toBe('index');
    expect(result.stats.objectKeys).toEqual([dataKey('logs', 0), dataKey('logs', 3), dataKey('spans', 0)].sort());
    expect(result.stats.indexKeys).toEqual(batches.map((_, i) => indexKey(i)).sort());
    expect(result.stats.rowGroupsRead).toBeLessThan(result.stats.rowGroupsTotal);
    expect(result.stats.dataBytesRead).toBeGreaterThan(0);
    expect(result.stats.indexBytesRead).toBeGreaterThan(0);
  });

  it('finds a request and every row of the traces it touched, across hours', async () => {
    // Act
    const result = await queryLocal({ ...folder, by: 'request', id: R1 });

    // Assess
    expect(new Set(result.rows.map((r) => r.row.trace_id))).toEqual(new Set([T1, T2]));
    expect(result.rows).toHaveLength(7);
    expect(result.stats.objectKeys).toEqual(
      [dataKey('logs', 0), dataKey('spans', 0), dataKey('logs', 2), dataKey('spans', 2), dataKey('logs', 3)].sort(),
    );
  });

  it('finds a verbatim request id without a trace in the one object that holds it', async () => {
    const result = await queryLocal({ ...folder, by: 'request', id: 'job-7' });
    expect(result.rows.map((r) => r.table === 'logs' && r.row.body)).toEqual(['nightly job']);
    expect(result.stats.objectKeys).toEqual([dataKey('logs', 3)]);
  });

  it('opens no data object for an id nobody wrote', async () => {
    const result = await queryLocal({ ...folder, by: 'trace', id: 'f'.repeat(32) });
    expect(result.rows).toEqual([]);
    expect(result.stats.objectsOpened).toBe(0);
  });

  it('reads the partitions in range, not the index, with --since/--until', async () => {
    // Act
    const result = await queryLocal({
      ...folder,
      by: 'trace',
      id: T3,
      since: H0 + 3 * HOUR,
      until: H0 + 3 * HOUR + 1_000,
    });

    // Assess
    expect(result.rows.map((r) => r.row.trace_id)).toEqual([T3]);
    expect(result.stats.mode).toBe('time-range');
    expect(result.stats.indexObjectsRead).toBe(0);
    expect(result.stats.objectKeys).toEqual([
      dataKey('logs', 3),
      dataKey('logs', 4),
      dataKey('spans', 3),
      dataKey('spans', 4),
    ]);
  });

  it('finds the same request rows from index objects written before trace_ids, reading the data for the traces', async () => {
    // Prepare: the lookup with today's index, then with older index objects (no trace_ids column): some, then all.
    const current = await queryLocal({ ...folder, by: 'request', id: R1 });
    const originals = await Promise.all(batches.map((_, i) => readFile(objectPath(folder, indexKey(i)))));
    const withoutTraceIds = async (i: number) => {
      const path = objectPath(folder, indexKey(i));
      const copy = join(dir, `old-index-${i}._S3rver_object`); // outside the bucket: s3rver lists nothing there
      await duckCopy(`SELECT * EXCLUDE (trace_ids) FROM read_parquet(${quote(path)})`, copy);
      await rename(copy, path);
    };
    const rowsOf = (r: typeof current) =>
      r.rows.map((x) => JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? `${v}` : v)));
    try {
      // Act
      await withoutTraceIds(0);
      const mixed = await queryLocal({ ...folder, by: 'request', id: R1 });
      for (let i = 1; i < batches.length; i++) await withoutTraceIds(i);
      const old = await queryLocal({ ...folder, by: 'request', id: R1 });

      // Assess
      expect(rowsOf(mixed)).toEqual(rowsOf(current));
      expect(rowsOf(old)).toEqual(rowsOf(current));
      expect(old.stats.objectKeys).toEqual(current.stats.objectKeys);
      expect(current.stats.dataBytesRead).toBeLessThan(old.stats.dataBytesRead);
    } finally {
      await Promise.all(originals.map((body, i) => writeFile(objectPath(folder, indexKey(i)), body)));
    }
  });

  it('sees every row exactly once after an hour is compacted, through the manifest and the bucketed index', async () => {
    // Prepare: compact hour 0 as the compactor does (outputs, then the manifest; sources stay until the grace period).
    const before = await queryLocal({ ...folder, by: 'request', id: R1 });
    const compacted = {
      logs: `tables/logs/dt=${DT}/hour=10/compacted-g1-0123456789ab-0000.parquet`,
      spans: `tables/spans/dt=${DT}/hour=10/compacted-g1-0123456789ab-0000.parquet`,
    };
    for (const table of ['logs', 'spans'] as const) {
      const sources = [dataKey(table, 0), dataKey(table, 1)];
      await duckCopy(
        `SELECT * FROM read_parquet([${sources.map((k) => quote(objectPath(folder, k))).join(', ')}]) ORDER BY trace_id`,
        objectPath(folder, compacted[table]),
      );
      await putManifest(table, sources, [compacted[table]]);
    }
    const afterData = await queryLocal({ ...folder, by: 'request', id: R1 });

    // Prepare: then the bucketed index of that hour, and the index manifest that retires its per-batch objects.
    // (Only the buckets this lookup needs: the trace's and the request's.)
    const bucketKeys: string[] = [];
    for (const bucket of new Set([indexBucket(T1), indexBucket(R1)])) {
      const key = `tables/trace_index/bucket=${bucket}/dt=${DT}/index.parquet`;
      await duckCopy(
        `SELECT * REPLACE (CASE data_table WHEN 'logs' THEN ${quote(compacted.logs)} ELSE ${quote(compacted.spans)} END AS object_key)
         FROM read_parquet([${quote(objectPath(folder, indexKey(0)))}, ${quote(objectPath(folder, indexKey(1)))}])
         WHERE (CASE WHEN regexp_matches(id, '^[0-9a-f]{2}') THEN substr(id, 1, 2) ELSE substr(sha256(id), 1, 2) END) = ${quote(bucket)}
         ORDER BY id`,
        objectPath(folder, key),
      );
      bucketKeys.push(key);
    }
    await putManifest('trace_index', [indexKey(0), indexKey(1)], bucketKeys);
    const afterIndex = await queryLocal({ ...folder, by: 'request', id: R1 });

    // Assess
    const rowsOf = (r: typeof before) =>
      r.rows.map((x) => JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? `${v}` : v)));
    expect(rowsOf(afterData)).toEqual(rowsOf(before));
    expect(rowsOf(afterIndex)).toEqual(rowsOf(before));
    const expected = [
      compacted.logs,
      compacted.spans,
      dataKey('logs', 2),
      dataKey('spans', 2),
      dataKey('logs', 3),
    ].sort();
    expect(afterData.stats.objectKeys).toEqual(expected);
    expect(afterIndex.stats.objectKeys).toEqual(expected);
    expect(afterIndex.stats.indexKeys).toEqual([...bucketKeys, indexKey(2), indexKey(3), indexKey(4)].sort());
  });

  async function putManifest(table: 'logs' | 'spans' | 'trace_index', sources: string[], outputs: string[]) {
    const manifest = {
      version: 1,
      table,
      dt: DT,
      hour: '10',
      generation: 1,
      sources,
      outputs,
      rows: 0,
      created_at: new Date(H0).toISOString(),
    };
    await store.put(manifestKey(table, DT, '10', 1), Buffer.from(JSON.stringify(manifest)), 'application/json');
  }

  /** Writes a query's result as one Parquet object, and s3rver's metadata file after it. */
  async function duckCopy(select: string, path: string) {
    await mkdir(dirname(path), { recursive: true });
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      await connection.run(`COPY (${select}) TO ${quote(path)} (FORMAT parquet, ROW_GROUP_SIZE 100)`);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
    await writeFile(path.replace(/\._S3rver_object$/, '._S3rver_metadata.json'), '{}');
  }
});

describe('lookup of a request with traced and untraced rows in one object (local store)', () => {
  let dir: string;
  let folder: LocalStore;
  const R2 = 'req-mixed-2';
  const R3 = 'req-traced-3';

  beforeAll(async () => {
    // Prepare: one batch whose logs object holds the request's rows with and without a trace id.
    dir = await mkdtemp(join(tmpdir(), 'skein-query-mixed-'));
    folder = { dataDir: dir, bucket: BUCKET };
    const store = s3rverFolderStore(dir, BUCKET);
    const config = loadIngestConfig({ SKEIN_BUCKET: BUCKET, SKEIN_ROW_GROUP_ROWS: '100' });
    const event = aKinesisEvent(
      [
        anOtlpTraceRequest('web', [
          { traceId: T3, spanId: aSpanId(1), name: 'POST /mixed', startNs: BigInt(H0) * NS, requestId: R2 },
        ]),
        anOtlpTraceRequest('web', [
          { traceId: T2, spanId: aSpanId(2), name: 'POST /traced', startNs: BigInt(H0 + 10) * NS, requestId: R3 },
        ]),
        aLogLine({ traceId: T2, requestId: R3, service: 'web', msg: 'only traced', timeMs: H0 + 11 }),
        aLogLine({ traceId: T3, requestId: R2, service: 'web', msg: 'traced line', timeMs: H0 + 1 }),
        aLogLine({ traceId: T3, service: 'web', msg: 'trace line without the request', timeMs: H0 + 2 }),
        aLogLine({ requestId: R2, service: 'worker', msg: 'untraced line', timeMs: H0 + 3 }),
        ...filler(7, H0 + 2_000),
      ],
      { shardId: 'shardId-000000000000', firstSeq: 1000n, arrivalMs: H0 + 60_000 },
    );
    await ingestWithIndex(event.Records, { store, config, clock: () => H0 + 60_000, logger: memoryLogger() });
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('still reads the untraced rows when the trace rows hold fewer of the request rows than the index counts', async () => {
    // Act
    const indexed = await queryLocal({ ...folder, by: 'request', id: R2 });
    const scanned = await queryLocal({ ...folder, by: 'request', id: R2, since: H0 - HOUR, until: H0 + HOUR });

    // Assess
    expect(indexed.stats.mode).toBe('index');
    expect(indexed.rows.map((r) => (r.table === 'logs' ? r.row.body : r.row.name))).toEqual([
      'POST /mixed',
      'traced line',
      'trace line without the request',
      'untraced line',
    ]);
    const rowsOf = (r: typeof indexed) =>
      r.rows.map((x) => JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? `${v}` : v)));
    expect(rowsOf(indexed)).toEqual(rowsOf(scanned));
    const trace = await queryLocal({ ...folder, by: 'trace', id: T3 });
    expect(indexed.stats.dataBytesRead).toBeGreaterThan(trace.stats.dataBytesRead);
  });

  it('reads no more data for a request whose rows all carry trace ids than a lookup of those traces', async () => {
    // Act
    const request = await queryLocal({ ...folder, by: 'request', id: R3 });
    const trace = await queryLocal({ ...folder, by: 'trace', id: T2 });

    // Assess
    expect(request.rows.map((r) => (r.table === 'logs' ? r.row.body : r.row.name))).toEqual([
      'POST /traced',
      'only traced',
    ]);
    expect(request.rows).toEqual(trace.rows);
    expect(request.stats.dataBytesRead).toBe(trace.stats.dataBytesRead);
    expect(request.stats.objectKeys).toEqual(trace.stats.objectKeys);
  });
});

function quote(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}
