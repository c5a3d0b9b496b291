import { describe, expect, it } from 'vitest';
import {
  type IndexHit,
  planDataReads,
  planRequestReads,
  planTraceReads,
  rawIndexObjects,
  type StoreSnapshot,
  unindexedObjects,
} from '../../query/lookup-plan.ts';
import type { PartitionListing } from '../../query/store-listing.ts';

const P7 = 'dt=2024-05-01/hour=07';
const P8 = 'dt=2024-05-01/hour=08';

function partition(table: string, dt: string, hour: string, names: string[], visible = names): PartitionListing {
  const prefix = `tables/${table}/dt=${dt}/hour=${hour}/`;
  return { dt, hour, keys: names.map((n) => prefix + n), visible: visible.map((n) => prefix + n) };
}

function snapshot(overrides: Partial<StoreSnapshot['data']> = {}, index?: PartitionListing[]): StoreSnapshot {
  return {
    data: {
      logs: overrides.logs ?? [
        partition('logs', '2024-05-01', '07', ['s0-1.parquet', 's1-2.parquet']),
        partition('logs', '2024-05-01', '08', ['s0-3.parquet']),
      ],
      spans: overrides.spans ?? [partition('spans', '2024-05-01', '07', ['s0-1.parquet', 's1-2.parquet'])],
    },
    index: index ?? [
      partition('trace_index', '2024-05-01', '07', ['s0-1.parquet', 's1-2.parquet']),
      partition('trace_index', '2024-05-01', '08', ['s0-3.parquet']),
    ],
  };
}

const hit = (table: 'logs' | 'spans', hour: string, name: string): IndexHit => ({
  table,
  dt: '2024-05-01',
  hour,
  objectKey: `tables/${table}/dt=2024-05-01/hour=${hour}/${name}`,
});

describe('lookup planning', () => {
  it('reads only the data objects the index names', () => {
    // Act
    const plan = planDataReads(snapshot(), [hit('logs', '08', 's0-3.parquet'), hit('spans', '07', 's1-2.parquet')]);

    // Assess
    expect(plan).toEqual({ logs: [`tables/logs/${P8}/s0-3.parquet`], spans: [`tables/spans/${P7}/s1-2.parquet`] });
  });

  it('reads nothing when the index has no hit and every object is indexed', () => {
    expect(planDataReads(snapshot(), [])).toEqual({ logs: [], spans: [] });
  });

  it('reads the visible objects of the partition when the named object was compacted away', () => {
    // Prepare: hour 07 of spans compacted; the raw objects are still listed but no longer visible.
    const compacted = partition(
      'spans',
      '2024-05-01',
      '07',
      [
        'compacted-g1-abcdef012345-0000.parquet',
        'compacted-g1-abcdef012345-0001.parquet',
        's0-1.parquet',
        's1-2.parquet',
      ],
      ['compacted-g1-abcdef012345-0000.parquet', 'compacted-g1-abcdef012345-0001.parquet'],
    );

    // Act
    const plan = planDataReads(snapshot({ spans: [compacted] }), [hit('spans', '07', 's0-1.parquet')]);

    // Assess
    expect(plan.spans).toEqual([
      `tables/spans/${P7}/compacted-g1-abcdef012345-0000.parquet`,
      `tables/spans/${P7}/compacted-g1-abcdef012345-0001.parquet`,
    ]);
    expect(plan.logs).toEqual([]);
  });

  it('reads a named compacted object directly while it is visible, and its partition once a later generation replaced it', () => {
    const gen2 = partition(
      'logs',
      '2024-05-01',
      '07',
      ['compacted-g1-aaaaaaaaaaaa-0000.parquet', 'compacted-g2-bbbbbbbbbbbb-0000.parquet'],
      ['compacted-g2-bbbbbbbbbbbb-0000.parquet'],
    );
    const s = snapshot({ logs: [gen2] });
    expect(planDataReads(s, [hit('logs', '07', 'compacted-g2-bbbbbbbbbbbb-0000.parquet')]).logs).toEqual([
      `tables/logs/${P7}/compacted-g2-bbbbbbbbbbbb-0000.parquet`,
    ]);
    expect(planDataReads(s, [hit('logs', '07', 'compacted-g1-aaaaaaaaaaaa-0000.parquet')]).logs).toEqual([
      `tables/logs/${P7}/compacted-g2-bbbbbbbbbbbb-0000.parquet`,
    ]);
  });

  it('always reads visible raw objects that have no index object of the same name', () => {
    // Prepare: batch s1-2 of hour 07 has no index object (written before the index existed, or its PUT not landed).
    const s = snapshot({}, [
      partition('trace_index', '2024-05-01', '07', ['s0-1.parquet']),
      partition('trace_index', '2024-05-01', '08', ['s0-3.parquet']),
    ]);

    // Act
    const unindexed = unindexedObjects(s);
    const plan = planDataReads(s, [hit('logs', '08', 's0-3.parquet')]);

    // Assess
    expect(unindexed).toEqual({ logs: [`tables/logs/${P7}/s1-2.parquet`], spans: [`tables/spans/${P7}/s1-2.parquet`] });
    expect(plan.logs).toEqual([`tables/logs/${P7}/s1-2.parquet`, `tables/logs/${P8}/s0-3.parquet`]);
  });

  it('ignores hits in partitions that no longer exist', () => {
    expect(planDataReads(snapshot(), [hit('logs', '23', 's9-9.parquet')])).toEqual({ logs: [], spans: [] });
  });

  it('reads the visible per-batch index objects only', () => {
    const index = [partition('trace_index', '2024-05-01', '07', ['s0-1.parquet', 's1-2.parquet'], ['s1-2.parquet'])];
    expect(rawIndexObjects(snapshot({}, index))).toEqual([`tables/trace_index/${P7}/s1-2.parquet`]);
  });

  it('takes the traces of a request from the index where its object is visible, and scans only the rest for them', () => {
    // Prepare: hour 07 of spans compacted (the hit's raw object is gone); batch s1-2 of hour 07 is unindexed.
    const T1 = 'a'.repeat(32);
    const T2 = 'b'.repeat(32);
    const compacted = partition(
      'spans',
      '2024-05-01',
      '07',
      ['compacted-g1-abcdef012345-0000.parquet', 's0-1.parquet', 's1-2.parquet'],
      ['compacted-g1-abcdef012345-0000.parquet'],
    );
    const s = snapshot({ spans: [compacted] }, [
      partition('trace_index', '2024-05-01', '07', ['s0-1.parquet']),
      partition('trace_index', '2024-05-01', '08', ['s0-3.parquet']),
    ]);

    // Act
    const plan = planRequestReads(s, [
      { ...hit('logs', '08', 's0-3.parquet'), traceIds: `${T1},${T2}`, rows: 3 },
      { ...hit('logs', '07', 's0-1.parquet'), traceIds: null, rows: 1 },
      { ...hit('spans', '07', 's0-1.parquet'), traceIds: T2, rows: 2 },
      { ...hit('logs', '23', 's9-9.parquet'), traceIds: 'c'.repeat(32), rows: 4 },
    ]);

    // Assess
    expect(plan.traceIds).toEqual([T1, T2]);
    expect(plan.indexedRows).toEqual({ logs: null, spans: null });
    expect(plan.objects).toEqual({
      logs: [`tables/logs/${P7}/s0-1.parquet`, `tables/logs/${P7}/s1-2.parquet`, `tables/logs/${P8}/s0-3.parquet`],
      spans: [`tables/spans/${P7}/compacted-g1-abcdef012345-0000.parquet`],
    });
    expect(plan.scan).toEqual({
      logs: [`tables/logs/${P7}/s0-1.parquet`, `tables/logs/${P7}/s1-2.parquet`],
      spans: [`tables/spans/${P7}/compacted-g1-abcdef012345-0000.parquet`],
    });
  });

  it('scans nothing for a request whose hits all list their traces in visible objects, and counts its rows once', () => {
    const listed = { ...hit('logs', '08', 's0-3.parquet'), traceIds: 'a'.repeat(32), rows: 3 };
    const plan = planRequestReads(snapshot(), [
      listed,
      listed,
      { ...listed, objectKey: hit('logs', '07', 's0-1.parquet').objectKey, dt: '2024-05-01', hour: '07', rows: 2 },
    ]);
    expect(plan).toEqual({
      objects: { logs: [`tables/logs/${P7}/s0-1.parquet`, `tables/logs/${P8}/s0-3.parquet`], spans: [] },
      scan: { logs: [], spans: [] },
      traceIds: ['a'.repeat(32)],
      indexedRows: { logs: 5, spans: 0 },
    });
  });

  it('searches each object only for the trace ids whose index rows name it', () => {
    // Prepare: trace A in hour 07 (logs and spans), trace B in hour 08 and in hour 07's second logs object.
    const A = 'a'.repeat(32);
    const B = 'b'.repeat(32);
    const hits = [
      { ...hit('logs', '07', 's0-1.parquet'), id: A },
      { ...hit('spans', '07', 's0-1.parquet'), id: A },
      { ...hit('logs', '08', 's0-3.parquet'), id: B },
      { ...hit('logs', '07', 's1-2.parquet'), id: B },
    ];

    // Act
    const reads = planTraceReads(snapshot(), [B, A], hits);

    // Assess
    expect(reads).toEqual([
      { table: 'logs', keys: [`tables/logs/${P7}/s0-1.parquet`], ids: [A] },
      { table: 'logs', keys: [`tables/logs/${P7}/s1-2.parquet`, `tables/logs/${P8}/s0-3.parquet`], ids: [B] },
      { table: 'spans', keys: [`tables/spans/${P7}/s0-1.parquet`], ids: [A] },
    ]);
  });

  it('searches an unindexed object for every trace id', () => {
    const s = snapshot({}, [partition('trace_index', '2024-05-01', '08', ['s0-3.parquet'])]);
    const reads = planTraceReads(
      s,
      ['a'.repeat(32), 'b'.repeat(32)],
      [{ ...hit('logs', '08', 's0-3.parquet'), id: 'a'.repeat(32) }],
    );
    expect(reads).toEqual([
      {
        table: 'logs',
        keys: [`tables/logs/${P7}/s0-1.parquet`, `tables/logs/${P7}/s1-2.parquet`],
        ids: ['a'.repeat(32), 'b'.repeat(32)],
      },
      { table: 'logs', keys: [`tables/logs/${P8}/s0-3.parquet`], ids: ['a'.repeat(32)] },
      {
        table: 'spans',
        keys: [`tables/spans/${P7}/s0-1.parquet`, `tables/spans/${P7}/s1-2.parquet`],
        ids: ['a'.repeat(32), 'b'.repeat(32)],
      },
    ]);
  });
});
