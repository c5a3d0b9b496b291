import { describe, expect, it } from 'vitest';
import { buildProbes, PROBE_FAMILIES, probeFamilyOf } from '../../cli/smoke/probes.ts';
import { createRedactor } from '../../functions/core/redact.ts';
import { decodeRecord } from '../../functions/ingest/decode-record.ts';
import { newSink } from '../../functions/ingest/decoded.ts';
import { aRecordContext } from '../builders/decode.ts';

describe('smoke probes', () => {
  it('decode to one row per producer family, each marked skein.smoke and carrying the run ids', async () => {
    // Prepare
    const probes = await buildProbes(Date.UTC(2026, 11, 3, 8, 0, 0));

    // Act
    const sink = newSink();
    const failures = probes.records.flatMap((r) =>
      decodeRecord(r.data, aRecordContext(), sink, {
        maxRecordBytes: 1024 * 1024,
        redactor: createRedactor(),
      }),
    );

    // Assess
    expect(failures).toEqual([]);
    const rows = [...sink.logs, ...sink.spans];
    expect(rows.map((r) => probeFamilyOf(r.attributes)).sort()).toEqual([...PROBE_FAMILIES].sort());
    for (const row of rows) {
      expect(row.trace_id).toBe(probes.traceId);
      expect(row.request_id).toBe(probes.normalisedRequestId);
      expect(JSON.parse(row.attributes)['skein.smoke']).toBe('true');
    }
    expect(sink.spans).toHaveLength(1);
  });

  it('use fresh ids on every run', async () => {
    const [a, b] = await Promise.all([buildProbes(0), buildProbes(0)]);
    expect(a.traceId).not.toBe(b.traceId);
    expect(a.requestId).not.toBe(b.requestId);
  });
});
