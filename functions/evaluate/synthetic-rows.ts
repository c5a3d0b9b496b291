import { SkeinError } from '../../schemas/errors.ts';
import type { LogRecord, SpanRecord } from '../../schemas/records.ts';
import type { TestSeries } from '../../schemas/rule-tests.ts';

/**
 * Synthetic rows for rule tests: a series like `spans{service="checkout", status="error"}` with per-minute
 * sequences becomes, for each minute, that many normalised rows carrying those labels and field values.
 */

/** A rule-test input that is not well formed; the message says what and where. */
export class RuleTestInputError extends SkeinError {
  constructor(message: string) {
    super('rule_test_invalid', message);
  }
}

/** A parsed `table{label="value", …}` series selector (only `=`: a series names exact label values). */
export interface SeriesSelector {
  readonly table: 'logs' | 'spans';
  readonly labels: ReadonlyMap<string, string>;
}

const SELECTOR = /^\s*(logs|spans)\s*(?:\{(.*)\})?\s*$/s;
const MATCHER = /\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;

/** Parses `spans{service="checkout", status="error"}` (values are double-quoted, JSON escapes). */
export function parseSeriesSelector(text: string): SeriesSelector {
  const m = SELECTOR.exec(text);
  if (m === null) throw new RuleTestInputError(`series '${text}': expected logs{label="value", …} or spans{…}`);
  const table = m[1] === 'logs' ? 'logs' : 'spans';
  const body = (m[2] ?? '').trim();
  const labels = new Map<string, string>();
  let at = 0;
  while (at < body.length) {
    MATCHER.lastIndex = at;
    const p = MATCHER.exec(body);
    if (p === null) throw new RuleTestInputError(`series '${text}': expected label="value" at '${body.slice(at)}'`);
    const name = p[1] ?? '';
    let value: unknown;
    try {
      value = JSON.parse(`"${p[2] ?? ''}"`);
    } catch {
      value = undefined;
    }
    if (typeof value !== 'string') throw new RuleTestInputError(`series '${text}': bad escape in the value of ${name}`);
    if (labels.has(name)) throw new RuleTestInputError(`series '${text}': label ${name} given twice`);
    labels.set(name, value);
    at = MATCHER.lastIndex;
  }
  return { table, labels };
}

/**
 * Expands a per-minute sequence: space-separated terms, each `A` (one minute), `AxN` (A for N minutes), `A+BxN`
 * or `A-BxN` (N minutes: A, A±B, A±2B, …), or `_` / `_xN` (no rows for one / N minutes; `null`). Unlike promtool,
 * `AxN` is N minutes, not N + 1, so `count: 100x30` and `duration_ms: 120x10 900x20` line up.
 * @example expandSeries('0x2 5 1+1x3 _') // [0, 0, 5, 1, 2, 3, null]
 */
export function expandSeries(text: string, what = 'series'): (number | null)[] {
  const out: (number | null)[] = [];
  for (const term of text.trim().split(/\s+/)) {
    if (term === '') continue;
    const m = /^(_|[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)(?:([-+]\d+(?:\.\d+)?)?x(\d+))?$/i.exec(term);
    if (m === null) throw new RuleTestInputError(`${what}: cannot read '${term}' (use A, AxN, A+BxN, A-BxN, _ or _xN)`);
    const times = m[3] === undefined ? 1 : Number(m[3]);
    if (m[1] === '_') {
      if (m[2] !== undefined) throw new RuleTestInputError(`${what}: '${term}': _ takes no step`);
      for (let i = 0; i < times; i++) out.push(null);
      continue;
    }
    const start = Number(m[1]);
    const step = m[2] === undefined ? 0 : Number(m[2]);
    for (let i = 0; i < times; i++) out.push(start + step * i);
    if (out.length > 100_000) throw new RuleTestInputError(`${what}: more than 100,000 minutes`);
  }
  return out;
}

/** A test series, expanded: rows per minute and each numeric field's value per minute. */
export interface ExpandedSeries {
  readonly selector: SeriesSelector;
  readonly rows: readonly (number | null)[];
  /** `duration_ms`, `attr.<key>`, `resource.<key>` → value per minute (null: the rows lack the field). */
  readonly fields: ReadonlyMap<string, readonly (number | null)[]>;
}

/** Checks and expands one `series` entry of a test case. */
export function expandTestSeries(series: TestSeries): ExpandedSeries {
  const selector = parseSeriesSelector(series.series);
  const rowsText = series.values ?? series.count ?? '';
  const rows = expandSeries(rowsText, `${series.series} values`);
  for (const n of rows)
    if (n !== null && (!Number.isInteger(n) || n < 0 || n > 100_000))
      throw new RuleTestInputError(`${series.series}: rows per minute must be whole numbers 0–100000, not ${n}`);
  const fields = new Map<string, (number | null)[]>();
  for (const [key, text] of Object.entries(series)) {
    if (key === 'series' || key === 'values' || key === 'count' || text === undefined) continue;
    if (key === 'duration_ms' && selector.table !== 'spans')
      throw new RuleTestInputError(`${series.series}: duration_ms is a field of spans only`);
    fields.set(key, expandSeries(text, `${series.series} ${key}`));
  }
  for (const [label, value] of selector.labels) checkLabel(selector.table, label, value, series.series);
  return { selector, rows, fields };
}

const SPAN_KINDS: Readonly<Record<string, SpanRecord['kind']>> = {
  unspecified: 'UNSPECIFIED',
  internal: 'INTERNAL',
  server: 'SERVER',
  client: 'CLIENT',
  producer: 'PRODUCER',
  consumer: 'CONSUMER',
};
const STATUS_CODES: Readonly<Record<string, SpanRecord['status_code']>> = { unset: 'UNSET', ok: 'OK', error: 'ERROR' };
/** A severity number in the middle of each OpenTelemetry range (trace 1–4 … fatal 21–24). */
const SEVERITY_NUMBERS: Readonly<Record<string, number>> = {
  trace: 1,
  debug: 5,
  info: 9,
  warn: 13,
  warning: 13,
  error: 17,
  fatal: 21,
};

function checkLabel(table: 'logs' | 'spans', label: string, value: string, series: string): void {
  if (label.startsWith('attr.') || label.startsWith('resource.') || label === 'service' || label === 'request_id')
    return;
  const allowed =
    label === 'kind' ? SPAN_KINDS : label === 'status' ? STATUS_CODES : label === 'severity' ? SEVERITY_NUMBERS : {};
  if ((label === 'kind' || label === 'status' || label === 'severity') && !Object.hasOwn(allowed, value))
    throw new RuleTestInputError(`${series}: ${label}="${value}" is not one of ${Object.keys(allowed).join(', ')}`);
  const ok = table === 'logs' ? label === 'severity' || label === 'body' : ['name', 'kind', 'status'].includes(label);
  if (!ok)
    throw new RuleTestInputError(
      `${series}: ${table} have no label '${label}' (service, request_id, attr.<key>, resource.<key>, ${
        table === 'logs' ? 'severity, body' : 'name, kind, status'
      })`,
    );
}

const NS_PER_MS = 1_000_000n;
const TRACE_ID = '5b8efff798038103d269b633813fc60c';

/**
 * The rows of all series for one minute (`index` from the case start `startMs`): each series contributes its row
 * count for that minute, spread over the minute, with its labels and field values.
 */
export function rowsForMinute(
  series: readonly ExpandedSeries[],
  index: number,
  startMs: number,
): { logs: LogRecord[]; spans: SpanRecord[] } {
  const logs: LogRecord[] = [];
  const spans: SpanRecord[] = [];
  const minuteMs = startMs + index * 60_000;
  let ordinal = 0;
  for (const s of series) {
    const n = s.rows[index] ?? null;
    if (n === null || n === 0) continue;
    const attributes: Record<string, unknown> = {};
    const resource: Record<string, unknown> = {};
    let durationMs = 1;
    for (const [name, value] of s.selector.labels) {
      if (name.startsWith('attr.')) attributes[name.slice(5)] = value;
      else if (name.startsWith('resource.')) resource[name.slice(9)] = value;
    }
    for (const [name, values] of s.fields) {
      const v = values[index] ?? null;
      if (v === null) continue;
      if (name === 'duration_ms') durationMs = v;
      else if (name.startsWith('attr.')) attributes[name.slice(5)] = v;
      else if (name.startsWith('resource.')) resource[name.slice(9)] = v;
    }
    const service = s.selector.labels.get('service') ?? null;
    if (service !== null) resource['service.name'] = service;
    const attrText = JSON.stringify(attributes);
    const resourceText = JSON.stringify(resource);
    const requestId = s.selector.labels.get('request_id') ?? null;
    for (let i = 0; i < n; i++) {
      const time = minuteMs + Math.floor((i * 60_000) / n);
      const provenance = {
        source_format: 'json-lines',
        shard_id: 'shardId-000000000000',
        sequence_number: String(1_000_000 + index),
        sub_sequence_number: 0,
        record_ordinal: ordinal++,
        arrival_time: minuteMs + 59_000,
        ingest_flags: null,
      } as const;
      if (s.selector.table === 'logs') {
        const severity = s.selector.labels.get('severity') ?? 'info';
        logs.push({
          trace_id: TRACE_ID,
          time,
          time_unix_nano: BigInt(time) * NS_PER_MS,
          observed_time_unix_nano: BigInt(time) * NS_PER_MS,
          span_id: null,
          request_id: requestId,
          severity_number: SEVERITY_NUMBERS[severity] ?? 9,
          severity_text: severity,
          body: s.selector.labels.get('body') ?? 'synthetic',
          service_name: service,
          resource_attributes: resourceText,
          attributes: attrText,
          ...provenance,
        });
      } else {
        const kind = s.selector.labels.get('kind') ?? 'server';
        const status = s.selector.labels.get('status') ?? 'unset';
        const duration = BigInt(Math.round(durationMs * 1e6));
        spans.push({
          trace_id: TRACE_ID,
          start_time: time,
          start_time_unix_nano: BigInt(time) * NS_PER_MS,
          end_time_unix_nano: BigInt(time) * NS_PER_MS + duration,
          duration_nano: duration,
          span_id: (ordinal + 1).toString(16).padStart(16, '0'),
          request_id: requestId,
          parent_span_id: null,
          trace_state: null,
          name: s.selector.labels.get('name') ?? 'synthetic',
          kind: SPAN_KINDS[kind] ?? 'UNSPECIFIED',
          status_code: STATUS_CODES[status] ?? 'UNSET',
          status_message: null,
          service_name: service,
          scope_name: null,
          resource_attributes: resourceText,
          attributes: attrText,
          events: '[]',
          links: '[]',
          ...provenance,
          source_format: 'otlp-json',
        });
      }
    }
  }
  return { logs, spans };
}
