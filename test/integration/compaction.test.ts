import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCompactConfig } from '../../functions/compact/config.ts';
import type { CompactDeps } from '../../functions/compact/deps.ts';
import { type DataTable, type HourPartition, partitionPrefix } from '../../functions/compact/layout.ts';
import { runCompaction } from '../../functions/compact/run-compaction.ts';
import { s3Client } from '../../functions/core/aws-clients.ts';
import { memoryLogger } from '../../functions/core/logger.ts';
import { type ObjectStore, s3ObjectStore } from '../../functions/core/object-store.ts';
import { loadIngestConfig } from '../../functions/ingest/config.ts';
import { ingest } from '../../functions/ingest/ingest-batch.ts';
import { type Emulators, objectPathOnDisk, startEmulators } from '../../local/emulators.ts';
import { isCompactedKey } from '../../schemas/compaction.ts';
import { aKinesisEvent, T0 } from '../builders/kinesis.ts';
import { aLogLine, anOtlpTraceRequest, aSpanId, aTraceId } from '../builders/telemetry.ts';
import { crashingStore } from '../support/crashing-store.ts';
import { duckQuery } from '../support/duckdb.ts';
import { visibleHourObjects } from '../support/visible-objects.ts';

const BUCKET = 'skein-compaction';
/** The builders' arrival time T0 is 21:30 UTC: every batch below lands in hour 21. */
const P: HourPartition = {
  dt: new Date(T0).toISOString().slice(0, 10),
  hour: new Date(T0).toISOString().slice(11, 13),
};
const MINUTE = 60_000;
/** Hour 21 ends at 22:00 and settles at 22:10. */
const COMPACT_AT = T0 + 45 * MINUTE;
const GRACE = 15 * MINUTE;
const TRACES = 12;

/**
 * Compaction on the real local S3 (s3rver) behind the real ingest function, read the way the local query layer reads:
 * manifests and listings through the S3 API, the visible objects' files on disk through DuckDB.
 */
describe('compaction on the local S3 emulator', () => {
  let dir: string;
  let emulators: Emulators;
  let client: S3Client;
  let store: ObjectStore;
  /** Rows per `<table>:<trace id or ->`, as ingested. */
  const expected = new Map<string, number>();
  let nextSeq = 49650000000000000000000000000000000000000000000000001000n;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skein-compaction-'));
    emulators = await startEmulators({ dir, streamName: 'skein-compaction', bucket: BUCKET, shards: 1 });
    client = s3Client({ endpoint: emulators.s3Endpoint });
    store = s3ObjectStore(client, BUCKET);
  });

  afterAll(async () => {
    client?.destroy();
    await emulators?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** One batch through the real ingest: per trace, `logsPerTrace` log lines and one OTLP request of 2 spans. */
  async function ingestBatch(b: number, logsPerTrace: number): Promise<void> {
    const payloads: string[] = [];
    for (let t = b % 3; t < TRACES; t += 2) {
      const traceId = aTraceId(t);
      for (let i = 0; i < logsPerTrace; i++) {
        payloads.push(
          aLogLine({ traceId, requestId: `req-${t}`, msg: `batch ${b} line ${i}`, timeMs: T0 - MINUTE + i }),
        );
      }
      payloads.push(
        anOtlpTraceRequest('orders', [
          { traceId, spanId: aSpanId(b * 100 + t * 2), requestId: `req-${t}` },
          { traceId, spanId: aSpanId(b * 100 + t * 2 + 1), parentSpanId: aSpanId(b * 100 + t * 2), error: t === 3 },
        ]),
      );
      add('logs', traceId, logsPerTrace);
      add('spans', traceId, 2);
    }
    payloads.push(aLogLine({ msg: `no trace in batch ${b}` }));
    add('logs', '-', 1);
    const event = aKinesisEvent(payloads, { firstSeq: nextSeq, arrivalMs: T0 + b * MINUTE });
    nextSeq += 10_000n;
    const config = loadIngestConfig({ SKEIN_BUCKET: BUCKET, SKEIN_ROW_GROUP_ROWS: '100' });
    const { response } = await ingest(event.Records, {
      store,
      config,
      clock: () => T0 + b * MINUTE,
      logger: memoryLogger(),
    });
    expect(response.batchItemFailures).toEqual([]);
  }

  function add(table: DataTable, trace: string, n: number): void {
    expected.set(`${table}:${trace}`, (expected.get(`${table}:${trace}`) ?? 0) + n);
  }

  /** Rows per table and trace id over the visible objects of the hour, read from s3rver's files by DuckDB. */
  async function visibleCounts(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const table of ['logs', 'spans'] as const) {
      const files = (await visibleHourObjects(store, table, P)).map((k) =>
        objectPathOnDisk(emulators.dataDir, BUCKET, k),
      );
      if (files.length === 0) continue;
      const rows = await duckQuery(
        `SELECT coalesce(trace_id, '-') AS trace, count(*)::INT AS n FROM read_parquet([${files.map((f) => `'${f}'`).join(', ')}]) GROUP BY 1`,
      );
      for (const row of rows) counts.set(`${table}:${String(row.trace)}`, Number(row.n));
    }
    return counts;
  }

  function compactDeps(s: ObjectStore, now: number): CompactDeps {
    const {
      bucket: _b,
      logLevel: _l,
      ...config
    } = loadCompactConfig({
      SKEIN_BUCKET: BUCKET,
      SKEIN_COMPACT_ROW_GROUP_ROWS: '100',
    });
    return { store: s, clock: () => now, logger: memoryLogger(), config };
  }

  /**
   * The store as the compactor sees it, checking what readers see after every write it makes (every instant at which
   * the visible state can change). Mismatches are collected, not thrown, so the compactor is not disturbed.
   */
  function checkedStore(inner: ObjectStore, mismatches: string[]): ObjectStore & { writes: number } {
    let writes = 0;
    const check = async (what: string) => {
      writes++;
      const seen = await visibleCounts();
      if (!sameCounts(seen)) mismatches.push(`after write ${writes} (${what}): ${describeDiff(seen)}`);
    };
    return {
      get writes() {
        return writes;
      },
      put: async (k, b, t) => {
        await inner.put(k, b, t);
        await check(`PUT ${k}`);
      },
      putIf: async (k, b, t, c) => {
        const etag = await inner.putIf(k, b, t, c);
        await check(`conditional PUT ${k}`);
        return etag;
      },
      delete: async (k) => {
        await inner.delete(k);
        await check(`DELETE ${k}`);
      },
      get: (k) => inner.get(k),
      getVersioned: (k) => inner.getVersioned(k),
      list: (prefix) => inner.list(prefix),
    };
  }

  function sameCounts(seen: ReadonlyMap<string, number>): boolean {
    if (seen.size !== expected.size) return false;
    for (const [k, n] of expected) if (seen.get(k) !== n) return false;
    return true;
  }

  function describeDiff(seen: ReadonlyMap<string, number>): string {
    const keys = new Set([...seen.keys(), ...expected.keys()]);
    return [...keys]
      .filter((k) => seen.get(k) !== expected.get(k))
      .map((k) => `${k} expected ${expected.get(k) ?? 0} saw ${seen.get(k) ?? 0}`)
      .join('; ');
  }

  it('shows every row exactly once to queries running while an hour is compacted', async () => {
    // Prepare
    for (let b = 0; b < 5; b++) await ingestBatch(b, 3 + b);
    expect(sameCounts(await visibleCounts())).toBe(true);
    const mismatches: string[] = [];
    const checked = checkedStore(store, mismatches);

    // Act: the compactor, with a check after each of its writes, and a query loop running beside it.
    let running = true;
    let loops = 0;
    const loop = (async () => {
      while (running) {
        const seen = await visibleCounts();
        if (!sameCounts(seen)) mismatches.push(`query loop ${loops}: ${describeDiff(seen)}`);
        loops++;
      }
    })();
    const summary = await runCompaction(compactDeps(checked, COMPACT_AT)).finally(() => {
      running = false;
    });
    await loop;

    // Assess
    expect(summary.failed).toBe(0);
    expect(summary.hours).toMatchObject([{ ...P, generations: { logs: 1, spans: 1 }, index: 'compacted' }]);
    expect(checked.writes).toBeGreaterThan(4);
    expect(loops).toBeGreaterThan(0);
    expect(mismatches).toEqual([]);
    for (const table of ['logs', 'spans'] as const) {
      const visible = await visibleHourObjects(store, table, P);
      expect(visible.length).toBeGreaterThan(0);
      expect(visible.every(isCompactedKey)).toBe(true);
    }
    const buckets = (await store.list('tables/trace_index/bucket=')).map((k) =>
      objectPathOnDisk(emulators.dataDir, BUCKET, k),
    );
    const [indexed] = await duckQuery(
      `SELECT count(DISTINCT id)::INT AS n FROM read_parquet([${buckets.map((f) => `'${f}'`).join(', ')}]) WHERE id_kind = 'trace'`,
    );
    expect(indexed?.n).toBe(TRACES);
  });

  it('recovers from compactors that crash mid-way through late data, then leaves only compacted objects after the grace', async () => {
    // Prepare: late batches for the compacted hour.
    for (let b = 5; b < 8; b++) await ingestBatch(b, 2);
    expect(sameCounts(await visibleCounts())).toBe(true);

    // Act: a run dies at its 2nd write, the next at its 5th; then a clean run, and one past the grace period.
    const first = await runCompaction(compactDeps(crashingStore(store, 2, 'before'), COMPACT_AT + MINUTE));
    const afterFirst = await visibleCounts();
    const second = await runCompaction(compactDeps(crashingStore(store, 5, 'before'), COMPACT_AT + 2 * MINUTE));
    const afterSecond = await visibleCounts();
    const clean = await runCompaction(compactDeps(store, COMPACT_AT + 3 * MINUTE));
    const afterClean = await visibleCounts();
    const mismatches: string[] = [];
    const cleanup = await runCompaction(compactDeps(checkedStore(store, mismatches), COMPACT_AT + 3 * MINUTE + GRACE));

    // Assess
    expect([first.failed, second.failed, clean.failed, cleanup.failed]).toEqual([1, 1, 0, 0]);
    expect(describeDiff(afterFirst)).toBe('');
    expect(describeDiff(afterSecond)).toBe('');
    expect(describeDiff(afterClean)).toBe('');
    expect(mismatches).toEqual([]);
    expect(cleanup.hours[0]).toMatchObject({ cleanup: 'done' });
    expect(cleanup.hours[0]?.deleted).toBeGreaterThan(0);
    expect(describeDiff(await visibleCounts())).toBe('');
    for (const table of ['logs', 'spans'] as const) {
      const left = await store.list(partitionPrefix(table, P));
      expect(left.length).toBeGreaterThan(0);
      expect(left.filter((k) => !isCompactedKey(k))).toEqual([]);
      expect(left).toEqual(await visibleHourObjects(store, table, P));
    }
    expect(await store.list(partitionPrefix('trace_index', P))).toEqual([]);
  });
});
