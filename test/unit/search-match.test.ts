import { describe, expect, it } from 'vitest';
import {
  indexVerdict,
  isIndexOnly,
  matchTrace,
  type SearchSpan,
  type TraceFacts,
} from '../../query/search/search-match.ts';
import {
  MAX_CHUNK,
  nextChunk,
  nextReads,
  planSearch,
  type SearchIndexRow,
  summariseTraces,
} from '../../query/search/search-plan.ts';
import { parseSearch, type SearchQuery } from '../../query/search/traceql.ts';
import type { PartitionListing } from '../../query/store-listing.ts';

const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const MS = 1_000_000n;

function q(filter: string): SearchQuery {
  const result = parseSearch(filter);
  if (!result.ok) throw new Error(result.error.message);
  return result.query;
}

function aSpan(overrides: Partial<SearchSpan> = {}): SearchSpan {
  return {
    trace_id: T,
    span_id: 'a1a1a1a1a1a1a1a1',
    parent_span_id: 'b1b1b1b1b1b1b1b1',
    name: 'GET /orders/{id}',
    kind: 'SERVER',
    status_code: 'UNSET',
    status_message: null,
    service_name: 'orders',
    start_time_unix_nano: 1_000n * MS,
    end_time_unix_nano: 1_050n * MS,
    duration_nano: 50n * MS,
    attributes: '{"http.response.status_code":200,"http.request.method":"GET","retry":false}',
    resource_attributes: '{"deployment.environment.name":"demo","service.version":"1.9.0"}',
    ...overrides,
  };
}

function facts(overrides: Partial<TraceFacts> = {}): TraceFacts {
  return {
    services: new Set(['orders', 'payments']),
    errorServices: new Set(['payments']),
    error: true,
    spans: 4,
    root: { service: 'web', name: 'GET /' },
    firstMs: 1_000,
    lastMs: 1_500,
    ...overrides,
  };
}

describe('search matcher (exact, on the spans of a trace)', () => {
  const root = aSpan({ parent_span_id: null, service_name: 'web', name: 'GET /', span_id: 'c0c0c0c0c0c0c0c0' });
  const ok = aSpan();
  const failing = aSpan({
    service_name: 'payments',
    name: 'charge',
    kind: 'CLIENT',
    status_code: 'ERROR',
    status_message: 'timeout',
    duration_nano: 900n * MS,
    end_time_unix_nano: 1_900n * MS,
    attributes: '{"http.response.status_code":500,"retry":true,"ratio":0.25}',
  });
  const trace = [root, ok, failing];

  it.each([
    ['{ resource.service.name = "payments" && status = error }', true],
    ['{ resource.service.name = "orders" && status = error }', false],
    ['{ resource.service.name = "orders" } && { status = error }', true],
    ['{ resource.service.name = "orders" } || { name = "nothing" }', true],
    ['{ duration > 500ms }', true],
    ['{ duration > 900ms }', false],
    ['{ duration >= 900ms }', true],
    ['{ name = "GET /orders/{id}" }', true],
    ['{ name =~ "GET .*" }', true],
    ['{ name =~ "GET" }', false],
    ['{ name !~ "GET.*" }', true],
    ['{ span.http.response.status_code >= 500 }', true],
    ['{ span.http.response.status_code = 501 }', false],
    ['{ span.http.response.status_code = "500" }', false],
    ['{ span.http.request.method = "GET" && kind = server }', true],
    ['{ span.http.request.method = "GET" && kind = client }', false],
    ['{ span.retry = true }', true],
    ['{ span.ratio < 0.5 }', true],
    ['{ span.missing != "x" }', false],
    ['{ .service.version = "1.9.0" }', true],
    ['{ resource.service.version = "1.9.0" && span.retry = true }', true],
    ['{ span.service.version = "1.9.0" }', false],
    ['{ statusMessage = "timeout" }', true],
    ['{ status = ok }', false],
    ['{ status != error && resource.service.name = "payments" }', false],
    ['{ traceDuration = 900ms }', true],
    ['{ traceDuration > 900ms }', false],
    ['{ rootServiceName = "web" && status = error }', true],
    ['{ rootName = "POST /" }', false],
    ['{ }', true],
    ['{ true && name = "charge" }', true],
  ])('%s → %s', (filter, expected) => {
    expect(matchTrace(q(filter), trace).matched).toBe(expected);
  });

  it('counts the spans that satisfied a spanset, and matches nothing without spans', () => {
    expect(matchTrace(q('{ duration < 100ms }'), trace)).toEqual({ matched: true, matchedSpans: 2 });
    expect(matchTrace(q('{ }'), [])).toEqual({ matched: false, matchedSpans: 0 });
  });

  it('has no root-span fields when the root span is missing', () => {
    expect(matchTrace(q('{ rootName =~ ".*" }'), [ok, failing]).matched).toBe(false);
  });
});

describe('search index verdicts', () => {
  it.each([
    ['{ resource.service.name = "payments" && status = error }', {}, 'yes'],
    ['{ resource.service.name = "orders" && status = error }', {}, 'no'],
    ['{ resource.service.name = "orders" } && { status = error }', {}, 'yes'],
    ['{ resource.service.name =~ "pay.*" && status = error }', {}, 'yes'],
    ['{ resource.service.name != "orders" && status = error }', {}, 'yes'],
    ['{ resource.service.name = "inventory" }', {}, 'no'],
    ['{ resource.service.name = "inventory" || status = error }', {}, 'yes'],
    ['{ status = error }', { error: false }, 'no'],
    ['{ status = error && status = ok }', {}, 'no'],
    ['{ status = ok }', {}, 'maybe'],
    ['{ duration > 1s }', {}, 'maybe'],
    ['{ resource.service.name = "inventory" && duration > 1s }', {}, 'no'],
    ['{ resource.service.name = "orders" && status = error }', { errorServices: null }, 'maybe'],
    ['{ resource.service.name = "orders" && status = error }', { errorServices: null, error: false }, 'no'],
    ['{ rootServiceName = "web" }', {}, 'yes'],
    ['{ rootServiceName = "web" }', { root: null }, 'maybe'],
    ['{ rootName = "POST /" }', {}, 'no'],
    ['{ traceDuration > 400ms }', {}, 'yes'],
    ['{ traceDuration > 500ms }', {}, 'maybe'],
    ['{ traceDuration > 600ms }', {}, 'no'],
    ['{ traceDuration = 2s }', {}, 'no'],
    ['{ }', {}, 'yes'],
    ['{ }', { spans: 0 }, 'no'],
  ] as const)('%s with %o → %s', (filter, overrides, expected) => {
    expect(indexVerdict(q(filter), facts(overrides))).toBe(expected);
  });

  it('calls a filter index-only when no condition needs a span column', () => {
    expect(isIndexOnly(q('{ resource.service.name = "orders" && status = error }'))).toBe(true);
    expect(isIndexOnly(q('{ rootName = "GET /" } || { traceDuration > 1s }'))).toBe(true);
    expect(isIndexOnly(q('{ status = error } && { duration > 1s }'))).toBe(false);
    expect(isIndexOnly(q('{ span.http.response.status_code >= 500 }'))).toBe(false);
  });
});

/** An index row of trace T in the spans table, overridable. */
function aRow(overrides: Partial<SearchIndexRow> = {}): SearchIndexRow {
  return {
    id: T,
    data_table: 'spans',
    first_time: 1_000,
    last_time: 1_200,
    services: 'orders',
    span_count: 2,
    log_count: 0,
    error: false,
    error_count: 0,
    error_services: '',
    root_service: null,
    root_name: null,
    data_dt: '2026-12-03',
    data_hour: '08',
    object_key: 'tables/spans/dt=2026-12-03/hour=08/s-1.parquet',
    ...overrides,
  };
}

function listing(visible: string[], keys: string[] = visible): PartitionListing {
  return { dt: '2026-12-03', hour: '08', keys, visible };
}

describe('search planner', () => {
  const RAW1 = 'tables/spans/dt=2026-12-03/hour=08/s-1.parquet';
  const RAW2 = 'tables/spans/dt=2026-12-03/hour=08/s-2.parquet';
  const COMPACTED = 'tables/spans/dt=2026-12-03/hour=08/compacted-g1-abc-0000.parquet';
  const LOGS = 'tables/logs/dt=2026-12-03/hour=08/s-1.parquet';

  it('folds a trace over its objects: counts, services, errors and root from the spans and logs rows', () => {
    // Prepare
    const snapshot = { data: { logs: [listing([LOGS])], spans: [listing([RAW1, RAW2])] }, index: [] };
    const rows = [
      aRow({ root_service: 'web', root_name: 'GET /', services: 'web', object_key: RAW1 }),
      aRow({
        object_key: RAW2,
        services: 'orders,payments',
        error: true,
        error_count: 1,
        error_services: 'payments',
        last_time: 1_900,
      }),
      aRow({ data_table: 'logs', object_key: LOGS, services: 'orders', span_count: 0, log_count: 3, first_time: 990 }),
    ];

    // Act
    const trace = summariseTraces(snapshot, rows).get(T);

    // Assess
    expect(trace?.summary).toEqual({
      traceId: T,
      startMs: 1_000,
      durationMs: 900,
      rootService: 'web',
      rootName: 'GET /',
      services: ['orders', 'payments', 'web'],
      spans: 4,
      logs: 3,
      errors: 1,
    });
    expect(trace?.facts).toMatchObject({ spans: 4, error: true, errorServices: new Set(['payments']) });
    expect(trace?.facts.services).toEqual(new Set(['web', 'orders', 'payments']));
    expect(trace?.hits.map((h) => h.objectKey)).toEqual([RAW1, RAW2]);
  });

  it('counts each row of data once while compaction is under way', () => {
    // Prepare: RAW1 was merged into COMPACTED; both the per-batch row and the bucket row are read.
    const compacted = {
      data: { logs: [], spans: [listing([COMPACTED, RAW2], [RAW1, RAW2, COMPACTED])] },
      index: [],
    };
    const notYetIndexed = { data: { logs: [], spans: [listing([COMPACTED], [RAW1, COMPACTED])] }, index: [] };
    const rows = [aRow({ object_key: RAW1 }), aRow({ object_key: COMPACTED }), aRow({ object_key: RAW2 })];

    // Act
    const both = summariseTraces(compacted, rows).get(T);
    const onlyRaw = summariseTraces(notYetIndexed, [aRow({ object_key: RAW1 })]).get(T);

    // Assess: the superseded raw row is dropped when the compacted one is there, kept when it is not.
    expect(both?.summary.spans).toBe(4);
    expect(onlyRaw?.summary.spans).toBe(2);
  });

  it('marks unknown error services when an older index row (no error_services) has an error', () => {
    const snapshot = { data: { logs: [], spans: [listing([RAW1])] }, index: [] };
    const rows = [aRow({ error: true, error_count: null, error_services: null })];
    const trace = summariseTraces(snapshot, rows).get(T);
    expect(trace?.facts.errorServices).toBeNull();
    expect(trace?.summary.errors).toBeNull();
  });

  it('keeps traces of the range the index cannot rule out, newest first, and reads unindexed traces', () => {
    // Prepare
    const snapshot = { data: { logs: [], spans: [listing([RAW1])] }, index: [] };
    const other = 'ffffffffffffffffffffffffffffffff';
    const old = '00000000000000000000000000000001';
    const traces = summariseTraces(snapshot, [
      aRow({ first_time: 2_000, last_time: 2_100, error: true, error_services: 'orders', error_count: 1 }),
      aRow({ id: other, first_time: 3_000, last_time: 3_100 }),
      aRow({ id: old, first_time: 10, last_time: 20, error: true, error_services: 'orders', error_count: 1 }),
    ]);

    // Act
    const candidates = planSearch(
      q('{ resource.service.name = "orders" && status = error }'),
      traces,
      new Set(['eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee']),
      { since: 1_000, until: 5_000 },
    );

    // Assess
    expect(candidates.map((c) => [c.traceId, c.verdict])).toEqual([
      ['eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee', 'maybe'],
      [T, 'yes'],
    ]);
  });

  it('reads undecided traces newest first, only until the limit is certain', () => {
    // Prepare
    const c = (traceId: string, verdict: 'yes' | 'maybe', startMs: number) => ({
      traceId,
      verdict,
      indexed: undefined,
      startMs,
    });
    const candidates = [c('a', 'maybe', 9), c('b', 'yes', 8), c('c', 'maybe', 7), c('d', 'yes', 6), c('e', 'maybe', 5)];

    // Act
    const first = nextReads(candidates, new Map(), 2, 10);
    const afterA = nextReads(candidates, new Map([['a', true]]), 2, 10);
    const chunked = nextReads(candidates, new Map(), 3, 1);
    const afterAFalse = nextReads(candidates, new Map([['a', false]]), 2, 10);

    // Assess
    expect(first.map((x) => x.traceId)).toEqual(['a', 'c']);
    expect(afterA.map((x) => x.traceId)).toEqual([]);
    expect(chunked.map((x) => x.traceId)).toEqual(['a']);
    expect(afterAFalse.map((x) => x.traceId)).toEqual(['c']);
  });

  it('reads in steps that double up to a cap, so a compacted hour is not read once per small step', () => {
    // 80.7 MB against 14.1 MB for "every match" over a compacted 1 M-row day with first steps of 50 (D24).
    const steps = [1_000];
    while (steps.length < 10) steps.push(nextChunk(steps.at(-1) ?? 0));
    expect(steps).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 64_000, 64_000, 64_000]);
    expect(MAX_CHUNK).toBe(64_000);
    expect(nextChunk(100_000)).toBe(100_000); // a first step asked for above the cap stays as asked
  });
});
