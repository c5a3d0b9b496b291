import { describe, expect, it } from 'vitest';
import type { LogRow, QueryRow, SpanRow } from '../../query/rows.ts';
import { toJsonRow } from '../../query/rows.ts';
import { buildTree, formatDuration, formatTimeline, levelName } from '../../query/timeline.ts';
import { LOG_COLUMNS, SPAN_COLUMNS } from '../../schemas/columns.ts';
import { aLogRecord, aSpanRecord } from '../builders/rows.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const OTHER_TRACE = '0af7651916cd43dd8448eb211c80319c';
/** 2024-05-01T07:30:00.000Z */
const T0 = 1_714_548_600_000;
const ms = (offset: number): bigint => BigInt(T0 + offset) * 1_000_000n;

class SpanBuilder {
  private row: SpanRow = aSpanRecord(
    { trace_id: TRACE, start_time: T0, service_name: 'api', resource_attributes: '{}', sequence_number: '1' },
    10,
  );

  with(fields: Partial<SpanRow>): this {
    this.row = { ...this.row, ...fields };
    return this;
  }
  at(startMs: number, durationMs: number): this {
    return this.with({
      start_time: T0 + startMs,
      start_time_unix_nano: ms(startMs),
      end_time_unix_nano: ms(startMs + durationMs),
      duration_nano: BigInt(durationMs) * 1_000_000n,
    });
  }
  build(): QueryRow {
    return { table: 'spans', row: this.row };
  }
}

class LogBuilder {
  private row: LogRow = aLogRecord({
    trace_id: TRACE,
    time: T0,
    body: 'hello',
    service_name: 'api',
    resource_attributes: '{}',
    sequence_number: '2',
  });

  with(fields: Partial<LogRow>): this {
    this.row = { ...this.row, ...fields };
    return this;
  }
  at(offsetMs: number): this {
    return this.with({ time: T0 + offsetMs, time_unix_nano: ms(offsetMs) });
  }
  build(): QueryRow {
    return { table: 'logs', row: this.row };
  }
}

const aSpan = () => new SpanBuilder();
const aLog = () => new LogBuilder();
const plain = { colour: false };

/** A checkout: api SERVER span → db CLIENT span (error) and a payment span, with logs under two of them. */
function checkout(): QueryRow[] {
  return [
    aLog()
      .at(12)
      .with({
        span_id: 'bbbbbbbbbbbbbbbb',
        service_name: 'db',
        severity_number: 17,
        severity_text: 'ERROR',
        body: 'deadlock',
      })
      .build(),
    aSpan().at(0, 250).with({ span_id: 'aaaaaaaaaaaaaaaa', name: 'POST /checkout', status_code: 'OK' }).build(),
    aSpan()
      .at(100, 50)
      .with({
        span_id: 'cccccccccccccccc',
        parent_span_id: 'aaaaaaaaaaaaaaaa',
        name: 'charge',
        service_name: 'payments',
      })
      .build(),
    aSpan()
      .at(10, 30)
      .with({
        span_id: 'bbbbbbbbbbbbbbbb',
        parent_span_id: 'aaaaaaaaaaaaaaaa',
        name: 'SELECT orders',
        service_name: 'db',
        status_code: 'ERROR',
        status_message: 'lock timeout',
      })
      .build(),
    aLog().at(1).with({ span_id: 'aaaaaaaaaaaaaaaa', body: 'checkout started' }).build(),
    aLog().at(300).with({ span_id: null, body: 'after the fact', severity_number: 13, severity_text: null }).build(),
  ];
}

describe('formatTimeline', () => {
  it('prints a header and a time-ordered tree with logs under their spans', () => {
    // Act
    const text = formatTimeline(checkout(), { by: 'trace', id: TRACE }, plain);

    // Assess
    expect(text).toBe(
      [
        `trace ${TRACE} · services api, db, payments · 3 spans · 3 logs · 2 errors · 300.0 ms · started 2024-05-01T07:30:00.000Z`,
        '07:30:00.000  api       SPAN POST /checkout (250.0 ms, OK)',
        '07:30:00.001  api         LOG INFO checkout started',
        '07:30:00.010  db          SPAN SELECT orders (30.0 ms, ERROR: lock timeout)',
        '07:30:00.012  db            LOG ERROR deadlock',
        '07:30:00.100  payments    SPAN charge (50.0 ms)',
        '07:30:00.300  api       LOG WARN after the fact',
        '',
      ].join('\n'),
    );
  });

  it('treats a span whose parent is missing as a root', () => {
    const rows = [
      aSpan()
        .at(5, 1)
        .with({ span_id: 'dddddddddddddddd', parent_span_id: 'ffffffffffffffff', name: 'orphan' })
        .build(),
      aSpan().at(0, 20).with({ span_id: 'aaaaaaaaaaaaaaaa', name: 'root' }).build(),
    ];
    const lines = formatTimeline(rows, { by: 'trace', id: TRACE }, plain).split('\n');
    expect(lines[1]).toContain('  api  SPAN root');
    expect(lines[2]).toContain('  api  SPAN orphan');
  });

  it('survives a parent cycle in bad data without losing rows', () => {
    const rows = [
      aSpan().at(0, 1).with({ span_id: 'aaaaaaaaaaaaaaaa', parent_span_id: 'bbbbbbbbbbbbbbbb', name: 'a' }).build(),
      aSpan().at(1, 1).with({ span_id: 'bbbbbbbbbbbbbbbb', parent_span_id: 'aaaaaaaaaaaaaaaa', name: 'b' }).build(),
    ];
    const tree = buildTree(rows);
    const count = (nodes: ReturnType<typeof buildTree>): number =>
      nodes.reduce((n, node) => n + 1 + count(node.children), 0);
    expect(count(tree)).toBe(2);
  });

  it('groups a request by trace, with rows without a trace id last', () => {
    // Prepare
    const rows = [
      aLog().at(5).with({ trace_id: null, request_id: 'req-1', body: 'no trace here' }).build(),
      aSpan().at(20, 5).with({ trace_id: OTHER_TRACE, name: 'second' }).build(),
      aSpan().at(0, 5).with({ name: 'first' }).build(),
    ];

    // Act
    const text = formatTimeline(rows, { by: 'request', id: 'req-1' }, plain);

    // Assess
    const headers = text.split('\n').filter((l) => !/^\d\d:/.test(l) && l !== '');
    expect(headers).toEqual([
      'request req-1 · 2 traces · 3 records',
      `trace ${TRACE} · services api · 1 span · 0 logs · 0 errors · 5.0 ms · started 2024-05-01T07:30:00.000Z`,
      `trace ${OTHER_TRACE} · services api · 1 span · 0 logs · 0 errors · 5.0 ms · started 2024-05-01T07:30:00.020Z`,
      'no trace id · services api · 0 spans · 1 log · 0 errors · 0.000 ms · started 2024-05-01T07:30:00.005Z',
    ]);
  });

  it('indents the continuation lines of a multi-line message', () => {
    const rows = [aLog().with({ body: 'boom\n  at f (a.ts:1)\n  at g (b.ts:2)\n', service_name: 'x' }).build()];
    const lines = formatTimeline(rows, { by: 'trace', id: TRACE }, plain).split('\n');
    expect(lines.slice(1, 4)).toEqual([
      '07:30:00.000  x  LOG INFO boom',
      '                       at f (a.ts:1)',
      '                       at g (b.ts:2)',
    ]);
  });

  it('escapes control characters so data cannot drive the terminal', () => {
    const rows = [aLog().with({ body: 'red \x1b[31m alert\x07' }).build()];
    const text = formatTimeline(rows, { by: 'trace', id: TRACE }, plain);
    expect(text).toContain('red \\u001b[31m alert\\u0007');
    expect(text).not.toContain('\x1b');
  });

  it('colours only when asked', () => {
    const rows = checkout();
    expect(formatTimeline(rows, { by: 'trace', id: TRACE }, plain)).not.toContain('\x1b[');
    const coloured = formatTimeline(rows, { by: 'trace', id: TRACE }, { colour: true });
    expect(coloured).toContain('\x1b[31mERROR: lock timeout\x1b[0m');
    expect(coloured).toContain('\x1b[33mWARN\x1b[0m');
  });

  it('names levels and durations', () => {
    expect([0, 1, 5, 9, 13, 17, 21, 24].map(levelName)).toEqual([
      'UNSPECIFIED',
      'TRACE',
      'DEBUG',
      'INFO',
      'WARN',
      'ERROR',
      'FATAL',
      'FATAL',
    ]);
    expect([123_456n, 12_345_678n, 12_345_678_901n, 754_000_000_000n, 18_060_000_000_000n].map(formatDuration)).toEqual(
      ['0.123 ms', '12.3 ms', '12.35 s', '12 min 34 s', '5 h 1 min'],
    );
  });
});

describe('toJsonRow', () => {
  it('writes the table, every column in order, bigints as strings and timestamps as ISO', () => {
    // Act
    const span = toJsonRow(aSpan().at(0, 10).build());
    const log = toJsonRow(aLog().build());

    // Assess
    expect(Object.keys(span)).toEqual(['table', ...SPAN_COLUMNS.map((c) => c.name)]);
    expect(Object.keys(log)).toEqual(['table', ...LOG_COLUMNS.map((c) => c.name)]);
    expect(span).toMatchObject({
      table: 'spans',
      start_time: '2024-05-01T07:30:00.000Z',
      start_time_unix_nano: '1714548600000000000',
      duration_nano: '10000000',
      sub_sequence_number: 0,
      record_ordinal: 0,
      ingest_flags: null,
      parent_span_id: null,
    });
    expect(log).toMatchObject({ table: 'logs', time: '2024-05-01T07:30:00.000Z', severity_number: 9 });
  });
});
