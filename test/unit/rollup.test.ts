import { afterEach, describe, expect, it, vi } from 'vitest';
import { resolveLabel } from '../../functions/core/row-labels.ts';
import { newSketch, sketchAdd, sketchToData } from '../../functions/core/sketch.ts';
import { compareExemplars, type ExemplarOrder } from '../../functions/shared/exemplar-select.ts';
import {
  compileMeasures,
  computeRollup,
  decodeRollup,
  encodeRollup,
  rollupObjectKey,
} from '../../functions/shared/rollup.ts';
import { DEFAULT_ALLOWED_LATENESS_MS, MAX_ALLOWED_LATENESS_MS } from '../../functions/shared/watermark.ts';
import { type Exemplar, MAX_EXEMPLARS } from '../../schemas/exemplars.ts';
import type { Aggregate, MeasureSpec } from '../../schemas/measures.ts';
import type { LogRecord, SpanRecord } from '../../schemas/records.ts';
import { aLogRecord, aSpanRecord, ROW_T0 } from '../builders/rows.ts';

const MINUTE = 60_000;
const T0_MINUTE = Math.floor(ROW_T0 / MINUTE);

let nextId = 0;
function aMeasure(spec: Omit<MeasureSpec, 'id'>): MeasureSpec {
  nextId++;
  return { id: nextId.toString(16).padStart(16, '0'), ...spec };
}

/** The measures realistic rules compile to: error ratio and p99 by service, counts by severity, a numeric log field. */
function realisticMeasures(): MeasureSpec[] {
  return [
    aMeasure({ selector: { table: 'spans', matchers: [] }, by: ['service'], kind: 'count' }),
    aMeasure({
      selector: { table: 'spans', matchers: [{ label: 'status', op: '=', value: 'error' }] },
      by: ['service'],
      kind: 'count',
    }),
    aMeasure({
      selector: { table: 'spans', matchers: [{ label: 'kind', op: '=', value: 'server' }] },
      by: ['service'],
      kind: 'sketch',
      field: 'duration',
    }),
    aMeasure({ selector: { table: 'logs', matchers: [] }, by: ['severity'], kind: 'count' }),
    aMeasure({
      selector: { table: 'logs', matchers: [{ label: 'severity', op: '>=', value: 'warn' }] },
      by: ['attr.region', 'service'],
      kind: 'count',
    }),
    aMeasure({
      selector: { table: 'logs', matchers: [{ label: 'body', op: '=~', value: 'consumer lag.*' }] },
      by: ['service'],
      kind: 'stats',
      field: 'attr.lag',
    }),
    aMeasure({ selector: { table: 'spans', matchers: [] }, by: [], kind: 'stats', field: 'attr.bytes' }),
  ];
}

/** Deterministic pseudo-random rows spread over several minutes, services, severities and statuses. */
function rowsFor(seed: number, count: number): { logs: LogRecord[]; spans: SpanRecord[] } {
  let state = seed;
  const rand = (n: number): number => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state % n;
  };
  const services = ['orders', 'payments', 'search', null];
  const logs: LogRecord[] = [];
  const spans: SpanRecord[] = [];
  for (let i = 0; i < count; i++) {
    const time = ROW_T0 - 3 * MINUTE + rand(4 * MINUTE);
    const service = services[rand(services.length)] ?? null;
    const lagged = rand(3) === 0;
    // A few traces recur (exemplars name each request once); some log lines have only a request id, or neither.
    const traceId = `${rand(40).toString(16).padStart(2, '0')}${'ab'.repeat(15)}`;
    const idKind = rand(4);
    logs.push(
      aLogRecord({
        time,
        trace_id: idKind === 0 ? null : traceId,
        request_id: idKind === 1 ? null : `req-${rand(30)}`,
        service_name: service,
        severity_number: [0, 5, 9, 13, 17, 21][rand(6)] ?? 9,
        body: lagged ? 'consumer lag high' : 'request done',
        attributes: JSON.stringify({
          region: ['eu', 'us'][rand(2)],
          ...(lagged ? { lag: rand(2) === 0 ? rand(5000) : String(rand(5000)) } : {}),
        }),
      }),
    );
    spans.push(
      aSpanRecord(
        {
          start_time: time,
          trace_id: traceId,
          service_name: service,
          kind: rand(4) === 0 ? 'CLIENT' : 'SERVER',
          status_code: rand(5) === 0 ? 'ERROR' : 'OK',
          attributes: rand(2) === 0 ? JSON.stringify({ bytes: rand(10_000) }) : '{}',
        },
        1 + rand(2000),
      ),
    );
  }
  return { logs, spans };
}

/** The obvious, slow computation: per row and measure, resolve every label from scratch. */
function naiveRollup(
  logs: readonly LogRecord[],
  spans: readonly SpanRecord[],
  measures: readonly MeasureSpec[],
  arrivalMs: number,
  latenessMs: number,
): Record<string, Record<string, Record<string, Aggregate>>> {
  const arrival = Math.floor(arrivalMs / MINUTE);
  const oldest = Math.floor((arrivalMs - latenessMs) / MINUTE);
  const out: Record<string, Record<string, Record<string, Aggregate>>> = {};
  const values = new Map<string, number[]>();
  const candidates = new Map<string, Exemplar[]>();
  const severityRank = (label: string) => ['', 'trace', 'debug', 'info', 'warn', 'error', 'fatal'].indexOf(label);
  for (const m of measures) {
    const table = m.selector.table;
    const rows: (LogRecord | SpanRecord)[] = table === 'logs' ? [...logs] : [...spans];
    for (const row of rows) {
      const label = (name: string) => resolveLabel(row, table, name);
      const matches = m.selector.matchers.every((matcher) => {
        const v = label(matcher.label);
        if (matcher.op === '=') return v === matcher.value;
        if (matcher.op === '=~') return new RegExp(`^(?:${matcher.value})$`, 's').test(v);
        if (matcher.op === '>=') return severityRank(v) >= severityRank(matcher.value);
        throw new Error(`naive rollup does not do ${matcher.op}`);
      });
      if (!matches) continue;
      let value: number | undefined;
      if (m.field === 'duration' && 'duration_nano' in row) value = Number(row.duration_nano) / 1e6;
      else if (m.field?.startsWith('attr.')) {
        const raw: unknown = JSON.parse(row.attributes)[m.field.slice(5)];
        const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
        value = typeof n === 'number' && Number.isFinite(n) ? n : undefined;
      }
      if (m.kind !== 'count' && value === undefined) continue;
      const time = 'time' in row ? row.time : row.start_time;
      const minute = Math.min(arrival, Math.max(oldest, Math.floor(time / MINUTE)));
      const key = JSON.stringify(m.by.map(label));
      out[minute] ??= {};
      const byMeasure = out[minute];
      byMeasure[m.id] ??= {};
      const byGroup = byMeasure[m.id] ?? {};
      const agg = byGroup[key] ?? { n: 0 };
      agg.n++;
      if (value !== undefined) {
        agg.sum = (agg.sum ?? 0) + value;
        agg.min = Math.min(agg.min ?? value, value);
        agg.max = Math.max(agg.max ?? value, value);
        const list = values.get(`${minute}|${m.id}|${key}`) ?? [];
        list.push(value);
        values.set(`${minute}|${m.id}|${key}`, list);
        if (m.kind === 'sketch') {
          const s = newSketch();
          for (const v of list) sketchAdd(s, v);
          agg.sketch = sketchToData(s);
        }
      }
      byGroup[key] = agg;
      if (row.trace_id !== null || row.request_id !== null) {
        const e: Exemplar = { trace_id: row.trace_id, request_id: row.request_id, time_ms: time, value: value ?? 1 };
        if (row.service_name !== null) e.service = row.service_name;
        const list = candidates.get(`${minute}|${m.id}|${key}`) ?? [];
        list.push(e);
        candidates.set(`${minute}|${m.id}|${key}`, list);
        agg.exemplars = naiveExemplars(list, m.kind === 'count' ? 'latest' : 'largest');
        if (m.kind === 'stats') agg.exemplars_low = naiveExemplars(list, 'smallest');
      }
    }
  }
  return out;
}

/** Every candidate sorted, each request (trace id, else request id) once, the first MAX_EXEMPLARS. */
function naiveExemplars(rows: readonly Exemplar[], order: ExemplarOrder): Exemplar[] {
  const seen = new Set<string>();
  const out: Exemplar[] = [];
  for (const e of [...rows].sort((a, b) => compareExemplars(order, a, b))) {
    const id = e.trace_id === null ? `r:${e.request_id}` : `t:${e.trace_id}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(e);
  }
  return out.slice(0, MAX_EXEMPLARS);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('computeRollup', () => {
  it('aggregates exactly what a naive per-row computation gives, for every measure kind', () => {
    // Prepare
    const { logs, spans } = rowsFor(7, 600);
    const measures = realisticMeasures();
    // Act
    const rollup = computeRollup(logs, spans, measures, ROW_T0 + 30_000, { latenessMs: MAX_ALLOWED_LATENESS_MS });
    // Assess
    expect(rollup.version).toBe(1);
    expect(rollup.measures).toEqual(measures.map((m) => m.id));
    expect(rollup.minutes).toEqual(naiveRollup(logs, spans, measures, ROW_T0 + 30_000, MAX_ALLOWED_LATENESS_MS));
    expect(Object.keys(rollup.minutes)).toHaveLength(4);
  });

  it('counts rows later than the allowed lateness in the minute it reaches back to, future rows at arrival', () => {
    // Prepare: the batch arrives 40 s into minute T0; the lateness (30 s) reaches back to T0 itself.
    const count = aMeasure({ selector: { table: 'logs', matchers: [] }, by: [], kind: 'count' });
    const logs = [
      aLogRecord({ time: ROW_T0 - 60 * MINUTE }),
      aLogRecord({ time: ROW_T0 - MINUTE }),
      aLogRecord({ time: ROW_T0 + 5_000 }),
      aLogRecord({ time: ROW_T0 + 10 * MINUTE }),
    ];
    // Act
    const rollup = computeRollup(logs, [], [count], ROW_T0 + 40_000, { latenessMs: 30_000 });
    // Assess
    const latest = {
      trace_id: logs[0]?.trace_id,
      request_id: null,
      time_ms: ROW_T0 + 10 * MINUTE,
      value: 1,
      service: 'orders',
    };
    expect(rollup.minutes).toEqual({ [T0_MINUTE]: { [count.id]: { '[]': { n: 4, exemplars: [latest] } } } });
    expect(rollup.lateness_ms).toBe(30_000);
  });

  it('counts a row arriving within the allowed lateness after its minute in that minute', () => {
    // Prepare: the batch arrives 20 s after minute T0 − 1 ended; L = 30 s reaches back into T0 − 1.
    const count = aMeasure({ selector: { table: 'logs', matchers: [] }, by: [], kind: 'count' });
    const logs = [aLogRecord({ time: ROW_T0 - 30_000 }), aLogRecord({ time: ROW_T0 - 5 * MINUTE })];
    // Act
    const rollup = computeRollup(logs, [], [count], ROW_T0 + 20_000, { latenessMs: 30_000 });
    // Assess: both count in T0 − 1 (the older one is later than L: it counts in the oldest minute L reaches)
    const latest = {
      trace_id: logs[0]?.trace_id,
      request_id: null,
      time_ms: ROW_T0 - 30_000,
      value: 1,
      service: 'orders',
    };
    expect(rollup.minutes).toEqual({ [T0_MINUTE - 1]: { [count.id]: { '[]': { n: 2, exemplars: [latest] } } } });
  });

  it("records the batch's shard watermark", () => {
    // Prepare
    const mark = { arrival_ms: ROW_T0 + 2_500, sequence_number: '49600000000000000000000000000000000000000000000002' };
    // Act
    const rollup = computeRollup([], [], [], ROW_T0, { shard: { shardId: 'shardId-000000000001', mark } });
    // Assess
    expect(rollup.shards).toEqual({ 'shardId-000000000001': mark });
  });

  it('returns an empty object with no measures, and an object naming its measures when no row matched', () => {
    // Prepare
    const { logs, spans } = rowsFor(1, 10);
    const never = aMeasure({
      selector: { table: 'spans', matchers: [{ label: 'name', op: '=', value: 'nothing' }] },
      by: [],
      kind: 'count',
    });
    // Act / Assess
    const lateness_ms = DEFAULT_ALLOWED_LATENESS_MS;
    expect(computeRollup(logs, spans, [], ROW_T0)).toEqual({ version: 1, measures: [], minutes: {}, lateness_ms });
    expect(computeRollup(logs, spans, [never], ROW_T0)).toEqual({
      version: 1,
      measures: [never.id],
      minutes: {},
      lateness_ms,
    });
  });

  it('counts only matching rows that have the field in stats, min/max/sum included', () => {
    // Prepare
    const lag = aMeasure({
      selector: { table: 'logs', matchers: [] },
      by: ['service'],
      kind: 'stats',
      field: 'attr.lag',
    });
    const logs = [
      aLogRecord({ attributes: '{"lag":10}' }),
      aLogRecord({ attributes: '{"lag":"30"}' }),
      aLogRecord({ attributes: '{"lag":"n/a"}' }),
      aLogRecord({ attributes: '{}' }),
    ];
    // Act
    const rollup = computeRollup(logs, [], [lag], ROW_T0);
    // Assess
    const row = { trace_id: logs[0]?.trace_id, request_id: null, time_ms: ROW_T0, service: 'orders' };
    expect(rollup.minutes[T0_MINUTE]?.[lag.id]).toEqual({
      '["orders"]': {
        n: 2,
        sum: 40,
        min: 10,
        max: 30,
        exemplars: [{ ...row, value: 30 }],
        exemplars_low: [{ ...row, value: 10 }],
      },
    });
  });

  it('parses each row attributes JSON at most once however many measures read attributes', () => {
    // Prepare
    const { logs } = rowsFor(3, 200);
    const measures = [
      aMeasure({ selector: { table: 'logs', matchers: [] }, by: ['attr.region'], kind: 'count' }),
      aMeasure({
        selector: { table: 'logs', matchers: [{ label: 'attr.region', op: '=', value: 'eu' }] },
        by: [],
        kind: 'count',
      }),
      aMeasure({ selector: { table: 'logs', matchers: [] }, by: [], kind: 'stats', field: 'attr.lag' }),
    ];
    compileMeasures(measures);
    const parse = vi.spyOn(JSON, 'parse');
    // Act
    computeRollup(logs, [], measures, ROW_T0);
    // Assess: resource attributes are never needed here, so exactly one parse per row.
    expect(parse).toHaveBeenCalledTimes(logs.length);
  });

  it('compiles a measures array once and leaves out a measure that does not compile', () => {
    // Prepare
    const good = aMeasure({ selector: { table: 'logs', matchers: [] }, by: [], kind: 'count' });
    const bad = aMeasure({
      selector: { table: 'logs', matchers: [{ label: 'body', op: '=~', value: '(' }] },
      by: [],
      kind: 'count',
    });
    const measures = [good, bad];
    // Act
    const first = compileMeasures(measures);
    const rollup = computeRollup([aLogRecord()], [], measures, ROW_T0);
    // Assess
    expect(compileMeasures(measures)).toBe(first);
    expect(first.invalid).toEqual([{ id: bad.id, message: expect.stringContaining('regular expression') }]);
    expect(rollup.measures).toEqual([good.id]);
  });

  it('round-trips through encodeRollup and decodeRollup', () => {
    const { logs, spans } = rowsFor(5, 50);
    const rollup = computeRollup(logs, spans, realisticMeasures(), ROW_T0);
    expect(decodeRollup(encodeRollup(rollup), 'k')).toEqual(rollup);
    expect(() => decodeRollup(new TextEncoder().encode('{"version":2}'), 'rollups/x.json')).toThrow(/rollups\/x.json/);
  });
});

describe('rollupObjectKey', () => {
  it('partitions by the arrival minute of the batch first record and names the shard and first sequence', () => {
    expect(
      rollupObjectKey({
        shardId: 'shardId-000000000001',
        firstSequenceNumber: '4965',
        firstArrivalMs: ROW_T0 + 59_999,
      }),
    ).toBe('rollups/minute=2026-11-25T21:30/shardId-000000000001-4965.json');
  });
});
