import type { QueryRow } from '../../query/rows.ts';
import { aSpanRecord } from './rows.ts';

const T0 = Date.UTC(2026, 0, 10, 12, 0);

/** A trace of `n` spans: a 4-ary tree (depth ~7), each span starting a little after its parent. */
export function aWideTrace(traceId: string, n: number): QueryRow[] {
  const rows: QueryRow[] = [];
  for (let i = 0; i < n; i++) {
    const parent = i === 0 ? null : Math.floor((i - 1) / 4);
    const startNs = BigInt(T0) * 1_000_000n + BigInt(i) * 50_000n;
    const durationNs = BigInt(Math.max(1, n - i)) * 40_000n;
    rows.push({
      table: 'spans',
      row: aSpanRecord({
        trace_id: traceId,
        span_id: i.toString(16).padStart(16, '0'),
        parent_span_id: parent === null ? null : parent.toString(16).padStart(16, '0'),
        name: `op-${i % 37}`,
        service_name: `service-${i % 7}`,
        start_time: T0 + Math.floor(i / 20),
        start_time_unix_nano: startNs,
        end_time_unix_nano: startNs + durationNs,
        duration_nano: durationNs,
        status_code: i % 97 === 0 ? 'ERROR' : 'OK',
        resource_attributes: '{"service.version":"1.2.3"}',
        sequence_number: String(i),
      }),
    });
  }
  return rows;
}
