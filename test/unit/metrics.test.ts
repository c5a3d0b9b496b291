import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { emfDocument, emitIngestMetrics, type IngestMetrics } from '../../functions/core/metrics.ts';

const NOW = Date.UTC(2026, 10, 25, 21, 30, 5);

/**
 * The embedded metric format document structure (CloudWatch EMF specification): `_aws` with a millisecond
 * `Timestamp` and MetricDirectives of a namespace, dimension sets (≤ 30 keys each) and metric definitions (≤ 100).
 */
const MetricDirective = z.object({
  Namespace: z.string().min(1).max(255),
  Dimensions: z.array(z.array(z.string().min(1)).max(30)),
  Metrics: z
    .array(z.object({ Name: z.string().min(1).max(1024), Unit: z.string().optional() }))
    .min(1)
    .max(100),
});
const EmfRoot = z.looseObject({
  _aws: z.object({ Timestamp: z.number().int().nonnegative(), CloudWatchMetrics: z.array(MetricDirective).min(1) }),
});

/** Parses one line as an EMF document and checks what the spec requires of the root's target members. */
function parseEmf(line: string) {
  expect(line).not.toContain('\n');
  const root = EmfRoot.parse(JSON.parse(line));
  for (const directive of root._aws.CloudWatchMetrics) {
    for (const set of directive.Dimensions)
      for (const key of set) expect(typeof root[key], `dimension ${key} is a string member`).toBe('string');
    for (const metric of directive.Metrics) {
      const value = root[metric.Name];
      expect(typeof value === 'number' && Number.isFinite(value), `metric ${metric.Name} has a value`).toBe(true);
    }
  }
  return root;
}

function metrics(overrides: Partial<IngestMetrics> = {}): IngestMetrics {
  return {
    records: 120,
    rowsByFormat: { 'json-lines': 300, 'kpl+otlp-proto': 40 },
    quarantinedByReason: { invalid_json: 2, record_too_large: 1 },
    controlMessages: 1,
    durationMs: 87,
    shardId: 'shardId-000000000003',
    ...overrides,
  };
}

function emit(summary: IngestMetrics) {
  const lines: string[] = [];
  emitIngestMetrics(
    summary,
    (line) => lines.push(line),
    () => NOW,
  );
  return lines.map(parseEmf);
}

describe('emitIngestMetrics', () => {
  it('writes the batch totals as one EMF document without dimensions', () => {
    // Act
    const [totals] = emit(metrics());

    // Assess
    expect(totals?._aws).toEqual({
      Timestamp: NOW,
      CloudWatchMetrics: [
        {
          Namespace: 'Skein',
          Dimensions: [[]],
          Metrics: [
            { Name: 'RecordsIn', Unit: 'Count' },
            { Name: 'Rows', Unit: 'Count' },
            { Name: 'Quarantined', Unit: 'Count' },
            { Name: 'ControlMessagesDropped', Unit: 'Count' },
            { Name: 'BatchDurationMs', Unit: 'Milliseconds' },
          ],
        },
      ],
    });
    expect(totals).toMatchObject({
      RecordsIn: 120,
      Rows: 340,
      Quarantined: 3,
      ControlMessagesDropped: 1,
      BatchDurationMs: 87,
      ShardId: 'shardId-000000000003',
    });
  });

  it('writes rows per format and quarantine per reason, one document per dimension value', () => {
    // Act
    const [, ...rest] = emit(metrics());

    // Assess
    expect(
      rest.map((d) => [d._aws.CloudWatchMetrics[0]?.Dimensions, d.Format ?? d.Reason, d.Rows ?? d.Quarantined]),
    ).toEqual([
      [[['Format']], 'json-lines', 300],
      [[['Format']], 'kpl+otlp-proto', 40],
      [[['Reason']], 'invalid_json', 2],
      [[['Reason']], 'record_too_large', 1],
    ]);
    for (const d of rest) expect(d.ShardId).toBe('shardId-000000000003');
  });

  it('reports a quiet batch as zeros, with no per-format or per-reason documents', () => {
    // Act
    const docs = emit(metrics({ records: 0, rowsByFormat: {}, quarantinedByReason: {}, controlMessages: 0 }));

    // Assess
    expect(docs).toHaveLength(1);
    expect(docs[0]).toMatchObject({ RecordsIn: 0, Rows: 0, Quarantined: 0, ControlMessagesDropped: 0 });
  });

  it('keeps the shard out of the dimensions (one custom metric per shard would be billed)', () => {
    for (const doc of emit(metrics()))
      for (const set of doc._aws.CloudWatchMetrics[0]?.Dimensions ?? []) expect(set).not.toContain('ShardId');
  });

  it('skips a dimension value CloudWatch would reject', () => {
    // Act
    const docs = emit(metrics({ rowsByFormat: { '': 1, 'bad\nformat': 2, ok: 3 }, quarantinedByReason: {} }));

    // Assess
    expect(docs.slice(1).map((d) => d.Format)).toEqual(['ok']);
    expect(docs[0]?.Rows).toBe(6);
  });
});

describe('emfDocument', () => {
  it('refuses more than 100 metrics or 30 dimensions', () => {
    const many = Array.from({ length: 101 }, (_, i) => ({ name: `M${i}`, unit: 'Count' as const, value: i }));
    expect(() => emfDocument(NOW, {}, {}, many)).toThrow(/1–100 metrics, got 101/);
    const dims = Object.fromEntries(Array.from({ length: 31 }, (_, i) => [`D${i}`, 'v']));
    expect(() => emfDocument(NOW, dims, {}, [{ name: 'M', unit: 'Count', value: 1 }])).toThrow(/at most 30 keys/);
  });

  it('refuses a value that is not a finite number', () => {
    expect(() => emfDocument(NOW, {}, {}, [{ name: 'M', unit: 'Count', value: Number.NaN }])).toThrow(/finite/);
  });

  it('accepts exactly 100 metrics and 30 dimensions', () => {
    const many = Array.from({ length: 100 }, (_, i) => ({ name: `M${i}`, unit: 'Count' as const, value: i }));
    const dims = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`D${i}`, `v${i}`]));
    const doc = parseEmf(emfDocument(NOW, dims, {}, many));
    expect(doc._aws.CloudWatchMetrics[0]?.Metrics).toHaveLength(100);
    expect(doc._aws.CloudWatchMetrics[0]?.Dimensions[0]).toHaveLength(30);
  });
});
