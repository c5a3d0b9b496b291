import { SkeinError } from '../../schemas/errors.ts';
import type { Matcher, Selector } from '../../schemas/measures.ts';
import type { LogRecord, SpanRecord } from '../../schemas/records.ts';

/**
 * Labels and numeric fields of a row, as selectors, `by` lists and measure fields name them (the label list and its
 * semantics are in schemas/measures.ts). Everything is compiled once per measure into plain functions over a
 * `RowCursor`, which the caller points at one row after another: the cursor parses a row's attributes JSON at most
 * once, and only when some compiled function asks for an `attr.*`/`resource.*` label, however many measures do.
 */
export type RowTable = Selector['table'];

/** Severity label of an OpenTelemetry severity number: 1–4 trace … 21–24 fatal; 0 (unspecified) is ''. */
const SEVERITY_NAMES = ['', 'trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
/** Severity names accepted on the right of a severity matcher, to their order (1 trace … 6 fatal). */
const SEVERITY_RANK: ReadonlyMap<string, number> = new Map([
  ['trace', 1],
  ['debug', 2],
  ['info', 3],
  ['warn', 4],
  ['warning', 4],
  ['error', 5],
  ['fatal', 6],
]);

/** The `severity` label of a severity number (schemas/measures.ts): trace|debug|info|warn|error|fatal, or ''. */
export function severityLabel(severityNumber: number): string {
  return SEVERITY_NAMES[severityRank(severityNumber)] ?? '';
}

/** 0 unspecified, 1 trace … 6 fatal. */
function severityRank(severityNumber: number): number {
  if (!(severityNumber >= 1)) return 0;
  return severityNumber > 24 ? 6 : Math.ceil(severityNumber / 4);
}

const KIND_LABEL: Readonly<Record<SpanRecord['kind'], string>> = {
  UNSPECIFIED: 'unspecified',
  INTERNAL: 'internal',
  SERVER: 'server',
  CLIENT: 'client',
  PRODUCER: 'producer',
  CONSUMER: 'consumer',
};
const STATUS_LABEL: Readonly<Record<SpanRecord['status_code'], string>> = { UNSET: 'unset', OK: 'ok', ERROR: 'error' };

const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * The row compiled functions read: point it at a row with `setLog`/`setSpan` (no allocation), and its attribute
 * objects are parsed on first use and cached until the next row.
 */
export class RowCursor {
  log: LogRecord | undefined = undefined;
  span: SpanRecord | undefined = undefined;
  private attrs: Readonly<Record<string, unknown>> | undefined = undefined;
  private resource: Readonly<Record<string, unknown>> | undefined = undefined;
  /**
   * The last resource attributes text parsed, and its object: the rows of one record (often of one batch) share one
   * resource text, so it is parsed once per distinct text in a row, not once per row. The objects are only read.
   */
  private lastResourceText: string | undefined = undefined;
  private lastResource: Readonly<Record<string, unknown>> = EMPTY;
  /** How many JSON.parse calls this cursor made (tests prove "at most once per row" with it). */
  parses = 0;

  setLog(row: LogRecord): void {
    this.log = row;
    this.span = undefined;
    this.attrs = undefined;
    this.resource = undefined;
  }

  setSpan(row: SpanRecord): void {
    this.span = row;
    this.log = undefined;
    this.attrs = undefined;
    this.resource = undefined;
  }

  /** The current row's `attributes`, parsed once. */
  attributes(): Readonly<Record<string, unknown>> {
    if (this.attrs === undefined) this.attrs = this.parse((this.log ?? this.span)?.attributes);
    return this.attrs;
  }

  /** The current row's `resource_attributes`, parsed once. */
  resourceAttributes(): Readonly<Record<string, unknown>> {
    if (this.resource === undefined) {
      const text = (this.log ?? this.span)?.resource_attributes;
      if (text !== this.lastResourceText) {
        this.lastResource = this.parse(text);
        this.lastResourceText = text;
      }
      this.resource = this.lastResource;
    }
    return this.resource;
  }

  private parse(text: string | undefined): Readonly<Record<string, unknown>> {
    if (text === undefined || text === '{}') return EMPTY;
    this.parses++;
    try {
      const value: unknown = JSON.parse(text);
      return isObject(value) ? value : EMPTY;
    } catch {
      // Ingest writes these columns with JSON.stringify, so this is a row from elsewhere; it has no attributes.
      return EMPTY;
    }
  }
}

/** Resolves one label of the cursor's row; '' when the row lacks it. */
export type LabelResolver = (row: RowCursor) => string;
/** Whether the cursor's row matches a selector. */
export type RowPredicate = (row: RowCursor) => boolean;
/** A numeric field of the cursor's row, or `undefined` when it has none. */
export type FieldExtractor = (row: RowCursor) => number | undefined;

/**
 * Compiles a label name (`service`, `severity`, `body`, `name`, `kind`, `status`, `request_id`, `attr.<key>`,
 * `resource.<key>`) into a resolver for rows of `table`. A label the table does not have (e.g. `status` on logs)
 * resolves to '' on every row; an unknown label name is an error.
 *
 * `attr.<key>` looks up `<key>` as one (possibly dotted) key first, as OTLP attributes are flat; when absent and the
 * key has dots, it walks nested objects (JSON log lines keep nested fields nested). Strings are the label value,
 * numbers and booleans their JSON text, objects and arrays their JSON, null ''.
 */
export function compileLabel(label: string, table: RowTable): LabelResolver {
  if (label.startsWith('attr.')) {
    const lookup = compileLookup(label.slice(5), label);
    return (c) => labelText(lookup(c.attributes()));
  }
  if (label.startsWith('resource.')) {
    const lookup = compileLookup(label.slice(9), label);
    return (c) => labelText(lookup(c.resourceAttributes()));
  }
  switch (label) {
    case 'service':
      return table === 'logs' ? (c) => c.log?.service_name ?? '' : (c) => c.span?.service_name ?? '';
    case 'request_id':
      return table === 'logs' ? (c) => c.log?.request_id ?? '' : (c) => c.span?.request_id ?? '';
    case 'severity':
      return table === 'logs' ? (c) => (c.log ? severityLabel(c.log.severity_number) : '') : () => '';
    case 'body':
      return table === 'logs' ? (c) => c.log?.body ?? '' : () => '';
    case 'name':
      return table === 'spans' ? (c) => c.span?.name ?? '' : () => '';
    case 'kind':
      return table === 'spans' ? (c) => (c.span ? KIND_LABEL[c.span.kind] : '') : () => '';
    case 'status':
      return table === 'spans' ? (c) => (c.span ? STATUS_LABEL[c.span.status_code] : '') : () => '';
    default:
      throw new SkeinError(
        'measure_invalid',
        `unknown label '${label}': use service, severity, body, name, kind, status, request_id, attr.<key> or resource.<key>`,
      );
  }
}

/**
 * Compiles a selector into a predicate. Matchers: `=`/`!=` compare the label text; `=~`/`!~` match a regular expression
 * anchored at both ends (`^(?:re)$`, dot matches newlines, as in Prometheus 3), compiled once; `>=`, `>`, `<=`, `<` order
 * `severity` by level (trace < debug < info < warn < error < fatal; a row without severity is below trace) and compare
 * any other label as a number (a label that is not a number never matches). The selector's table is not checked
 * here: callers run a predicate only on rows of its table.
 */
export function compileSelector(selector: Selector): RowPredicate {
  const tests = selector.matchers.map((m) => compileMatcher(m, selector.table));
  if (tests.length === 0) return () => true;
  if (tests.length === 1) {
    const only = tests[0];
    if (only) return only;
  }
  return (c) => {
    for (let i = 0; i < tests.length; i++) {
      const test = tests[i];
      if (test && !test(c)) return false;
    }
    return true;
  };
}

function compileMatcher(m: Matcher, table: RowTable): RowPredicate {
  const value = m.value;
  if (m.label === 'severity' && table === 'logs' && isOrdering(m.op)) {
    const rank = SEVERITY_RANK.get(value.toLowerCase());
    if (rank === undefined) {
      throw new SkeinError(
        'measure_invalid',
        `severity ${m.op} '${value}': use trace, debug, info, warn, error or fatal`,
      );
    }
    const rowRank = (c: RowCursor): number => (c.log ? severityRank(c.log.severity_number) : 0);
    switch (m.op) {
      case '>=':
        return (c) => rowRank(c) >= rank;
      case '>':
        return (c) => rowRank(c) > rank;
      case '<=':
        return (c) => rowRank(c) <= rank;
      default:
        return (c) => rowRank(c) < rank;
    }
  }
  const resolve = compileLabel(m.label, table);
  switch (m.op) {
    case '=':
      return (c) => resolve(c) === value;
    case '!=':
      return (c) => resolve(c) !== value;
    case '=~':
    case '!~': {
      const re = compileRegex(value, m.label);
      return m.op === '=~' ? (c) => re.test(resolve(c)) : (c) => !re.test(resolve(c));
    }
    default: {
      const bound = Number(value);
      if (value.trim() === '' || !Number.isFinite(bound)) {
        throw new SkeinError('measure_invalid', `${m.label} ${m.op} '${value}': ordering needs a number (or severity)`);
      }
      const op = m.op;
      return (c) => {
        const x = toNumber(resolve(c));
        if (x === undefined) return false;
        return op === '>=' ? x >= bound : op === '>' ? x > bound : op === '<=' ? x <= bound : x < bound;
      };
    }
  }
}

function isOrdering(op: Matcher['op']): boolean {
  return op === '>=' || op === '>' || op === '<=' || op === '<';
}

function compileRegex(source: string, label: string): RegExp {
  try {
    return new RegExp(`^(?:${source})$`, 's');
  } catch (error) {
    throw new SkeinError('measure_invalid', `invalid regular expression for ${label}: ${String(error)}`, {
      cause: error,
    });
  }
}

/**
 * Compiles a `by` list into the group key of a row: JSON.stringify of the label values in `by` order
 * (schemas/measures.ts). An empty `by` gives '[]' for every row.
 */
export function compileGroupKey(by: readonly string[], table: RowTable): (row: RowCursor) => string {
  if (by.length === 0) return () => '[]';
  const resolvers = by.map((label) => compileLabel(label, table));
  const first = resolvers[0];
  if (resolvers.length === 1 && first) return (c) => `[${JSON.stringify(first(c))}]`;
  return (c) => {
    let key = '[';
    for (let i = 0; i < resolvers.length; i++) {
      const resolve = resolvers[i];
      if (i > 0) key += ',';
      key += JSON.stringify(resolve ? resolve(c) : '');
    }
    return `${key}]`;
  };
}

/**
 * Compiles a measure field into a numeric extractor: `duration` of spans is `duration_nano / 1e6` (milliseconds);
 * `attr.<key>` / `resource.<key>` is the attribute when it is a finite number or a string holding one (`" 12.5 "`),
 * else `undefined`. `duration` on logs has no value (logs carry durations as attributes: use `attr.<key>`).
 */
export function compileField(field: string, table: RowTable): FieldExtractor {
  if (field === 'duration') {
    return table === 'spans' ? (c) => (c.span ? Number(c.span.duration_nano) / 1e6 : undefined) : () => undefined;
  }
  if (field.startsWith('attr.')) {
    const lookup = compileLookup(field.slice(5), field);
    return (c) => numericValue(lookup(c.attributes()));
  }
  if (field.startsWith('resource.')) {
    const lookup = compileLookup(field.slice(9), field);
    return (c) => numericValue(lookup(c.resourceAttributes()));
  }
  throw new SkeinError('measure_invalid', `unknown field '${field}': use duration (spans) or attr.<key>`);
}

/** One-off label resolution of a row (tests, tools). The hot path compiles with `compileLabel` instead. */
export function resolveLabel(row: LogRecord | SpanRecord, table: RowTable, label: string): string {
  const cursor = new RowCursor();
  if (table === 'logs' && 'severity_number' in row) cursor.setLog(row);
  else if (table === 'spans' && 'kind' in row) cursor.setSpan(row);
  return compileLabel(label, table)(cursor);
}

type Lookup = (object: Readonly<Record<string, unknown>>) => unknown;

function compileLookup(key: string, label: string): Lookup {
  if (key === '') throw new SkeinError('measure_invalid', `label '${label}' names no key`);
  if (!key.includes('.')) return (o) => (Object.hasOwn(o, key) ? o[key] : undefined);
  const path = key.split('.');
  return (o) => {
    if (Object.hasOwn(o, key)) return o[key];
    let current: unknown = o;
    for (let i = 0; i < path.length; i++) {
      const segment = path[i];
      if (segment === undefined || !isObject(current) || !Object.hasOwn(current, segment)) return undefined;
      current = current[segment];
    }
    return current;
  };
}

function labelText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return '';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value) ?? '';
}

function numericValue(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string') return toNumber(value);
  return undefined;
}

function toNumber(text: string): number | undefined {
  if (text.trim() === '') return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

function isObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
