import { describe, expect, it } from 'vitest';
import {
  type IndexHit,
  planDataReads,
  rawIndexObjects,
  type StoreSnapshot,
  unindexedObjects,
} from '../../local/query/lookup-plan.ts';
import type { PartitionListing } from '../../local/query/store-listing.ts';

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
});
