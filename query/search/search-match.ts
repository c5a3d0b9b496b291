import type { Condition, Field, SearchQuery, SpanExpr, Value } from './traceql.ts';

/** A three-valued answer: the index proves a trace matches (`yes`), proves it does not (`no`), or cannot tell. */
export type Verdict = 'yes' | 'no' | 'maybe';

/**
 * What the trace index knows of one trace, over the spans rows that describe it exactly once (search-plan.ts):
 * the services of its spans, the services of its error spans (null when an index object predating the column holds
 * an error row), whether a span failed, its span count, its root span (null when no row names it), and its time
 * range in epoch milliseconds (index times are truncated to the millisecond).
 */
export interface TraceFacts {
  readonly services: ReadonlySet<string>;
  readonly errorServices: ReadonlySet<string> | null;
  readonly error: boolean;
  readonly spans: number;
  readonly root: { readonly service: string | null; readonly name: string } | null;
  readonly firstMs: number;
  readonly lastMs: number;
}

/** The columns of a span the matcher reads (a projection of the spans table). */
export interface SearchSpan {
  readonly trace_id: string;
  readonly span_id: string | null;
  readonly parent_span_id: string | null;
  readonly name: string;
  readonly kind: string;
  readonly status_code: string;
  readonly status_message: string | null;
  readonly service_name: string | null;
  readonly start_time_unix_nano: bigint;
  readonly end_time_unix_nano: bigint;
  readonly duration_nano: bigint;
  readonly attributes: string;
  readonly resource_attributes: string;
}

/** The spans columns {@link matchTrace} reads, for projections and read statistics. */
export const SEARCH_SPAN_COLUMNS = [
  'trace_id',
  'span_id',
  'parent_span_id',
  'name',
  'kind',
  'status_code',
  'status_message',
  'service_name',
  'start_time_unix_nano',
  'end_time_unix_nano',
  'duration_nano',
  'attributes',
  'resource_attributes',
] as const satisfies readonly (keyof SearchSpan)[];

/** Beyond this many conjunctions in a spanset's disjunctive form the index is not consulted (every trace: maybe). */
const MAX_CONJUNCTS = 256;
const NANOS_PER_MS = 1_000_000n;

// ---------------------------------------------------------------------------------------------------------------
// Exact matching on the spans of a trace

/** Per trace: its root span and duration, computed once for the trace-level fields. */
interface TraceContext {
  readonly root: SearchSpan | undefined;
  readonly durationNanos: bigint;
}

/**
 * Whether a trace, given all its spans (each once), matches the query: a spanset matches when one span satisfies its
 * whole condition; spansets combine with && and || over the same trace. Exact: what the index cannot prove is decided
 * here. `matchedSpans` counts the spans that satisfied a spanset.
 */
export function matchTrace(
  query: SearchQuery,
  spans: readonly SearchSpan[],
): { matched: boolean; matchedSpans: number } {
  if (spans.length === 0) return { matched: false, matchedSpans: 0 };
  let first = spans[0]?.start_time_unix_nano ?? 0n;
  let last = spans[0]?.end_time_unix_nano ?? 0n;
  let root: SearchSpan | undefined;
  for (const s of spans) {
    if (s.start_time_unix_nano < first) first = s.start_time_unix_nano;
    if (s.end_time_unix_nano > last) last = s.end_time_unix_nano;
    if (root === undefined && (s.parent_span_id === null || s.parent_span_id === '')) root = s;
  }
  const context: TraceContext = { root, durationNanos: last - first };
  const matched = new Set<SearchSpan>();
  const result = evalQuery(query, spans, context, new Map(), matched);
  return { matched: result, matchedSpans: result ? matched.size : 0 };
}

function evalQuery(
  query: SearchQuery,
  spans: readonly SearchSpan[],
  context: TraceContext,
  attrs: Map<SearchSpan, ParsedAttributes>,
  matched: Set<SearchSpan>,
): boolean {
  if (query.type === 'spanset') {
    let any = false;
    for (const span of spans) {
      if (evalSpan(query.expr, span, context, attrs)) {
        matched.add(span);
        any = true;
      }
    }
    return any;
  }
  const left = evalQuery(query.left, spans, context, attrs, matched);
  if (query.type === 'and' && !left) return false;
  const right = evalQuery(query.right, spans, context, attrs, matched);
  return query.type === 'and' ? right : left || right;
}

function evalSpan(
  expr: SpanExpr,
  span: SearchSpan,
  context: TraceContext,
  attrs: Map<SearchSpan, ParsedAttributes>,
): boolean {
  switch (expr.type) {
    case 'true':
      return true;
    case 'and':
      return evalSpan(expr.left, span, context, attrs) && evalSpan(expr.right, span, context, attrs);
    case 'or':
      return evalSpan(expr.left, span, context, attrs) || evalSpan(expr.right, span, context, attrs);
    case 'condition':
      return compare(expr, fieldValue(expr.field, span, context, attrs));
  }
}

interface ParsedAttributes {
  readonly span: Record<string, unknown>;
  readonly resource: Record<string, unknown>;
}

/** A field's value on a span: a string, number, boolean, nanoseconds (bigint) or undefined when absent. */
type FieldValue = string | number | boolean | bigint | undefined;

function fieldValue(
  field: Field,
  span: SearchSpan,
  context: TraceContext,
  attrs: Map<SearchSpan, ParsedAttributes>,
): FieldValue {
  if (field.type === 'service') return span.service_name ?? undefined;
  if (field.type === 'intrinsic') {
    switch (field.name) {
      case 'name':
        return span.name;
      case 'status':
        return span.status_code.toLowerCase();
      case 'kind':
        return span.kind.toLowerCase();
      case 'duration':
        return span.duration_nano;
      case 'statusMessage':
        return span.status_message ?? undefined;
      case 'traceDuration':
        return context.durationNanos;
      case 'rootName':
        return context.root?.name;
      case 'rootServiceName':
        return context.root?.service_name ?? undefined;
    }
  }
  let parsed = attrs.get(span);
  if (parsed === undefined) {
    parsed = { span: parseObject(span.attributes), resource: parseObject(span.resource_attributes) };
    attrs.set(span, parsed);
  }
  const value =
    field.scope === 'span'
      ? parsed.span[field.key]
      : field.scope === 'resource'
        ? parsed.resource[field.key]
        : (parsed.span[field.key] ?? parsed.resource[field.key]);
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? value : undefined;
}

function parseObject(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

/**
 * One comparison, typed as TraceQL types it: a string with a string, a number with a number, a boolean with a
 * boolean, a duration with a duration, an enum with its enum. A missing value or another type never matches, not
 * even with `!=`.
 */
export function compare(condition: Condition, actual: FieldValue): boolean {
  if (actual === undefined) return false;
  const { op, value } = condition;
  if (condition.regex !== undefined) {
    if (typeof actual !== 'string') return false;
    const hit = condition.regex.test(actual);
    return op === '=~' ? hit : !hit;
  }
  const expected = comparable(value);
  if (typeof expected !== typeof actual) return false;
  if (op === '=') return actual === expected;
  if (op === '!=') return actual !== expected;
  if (typeof actual === 'boolean') return false;
  switch (op) {
    case '>':
      return actual > expected;
    case '>=':
      return actual >= expected;
    case '<':
      return actual < expected;
    case '<=':
      return actual <= expected;
    default:
      return false;
  }
}

function comparable(value: Value): string | number | boolean | bigint {
  switch (value.type) {
    case 'duration':
      return value.nanos;
    case 'string':
    case 'number':
    case 'bool':
    case 'status':
    case 'kind':
      return value.value;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// What the index alone can decide

/**
 * Decides a query from the index facts of a trace where it can. `{ … }` is "some span satisfies …"; in disjunctive
 * form each conjunction is decided by what the index holds per trace: service names (conditions on
 * `resource.service.name`, any operator, are checked against each), the services of error spans (`status = error`
 * together with service conditions is the same span only through `error_services`), the root span
 * (`rootName`, `rootServiceName`) and the time range (`traceDuration`, at millisecond precision: within a
 * millisecond of the bound it is maybe). Any other condition (span name, kind, duration, attributes, status other
 * than `= error`) makes the conjunction maybe, unless the rest already rules it out.
 */
export function indexVerdict(query: SearchQuery, facts: TraceFacts): Verdict {
  if (query.type === 'spanset') return spansetVerdict(query.expr, facts);
  const left = indexVerdict(query.left, facts);
  const right = indexVerdict(query.right, facts);
  return query.type === 'and' ? and3(left, right) : or3(left, right);
}

/** Whether the query needs the data for some trace at all: false when every condition is one the index decides. */
export function isIndexOnly(query: SearchQuery): boolean {
  if (query.type !== 'spanset') return isIndexOnly(query.left) && isIndexOnly(query.right);
  const conjuncts = disjunctiveForm(query.expr);
  return conjuncts?.every((c) => c.every((atom) => atomKind(atom) !== 'span')) === true;
}

function and3(a: Verdict, b: Verdict): Verdict {
  if (a === 'no' || b === 'no') return 'no';
  return a === 'yes' && b === 'yes' ? 'yes' : 'maybe';
}

function or3(a: Verdict, b: Verdict): Verdict {
  if (a === 'yes' || b === 'yes') return 'yes';
  return a === 'no' && b === 'no' ? 'no' : 'maybe';
}

/** The spanset's condition as OR of ANDs of comparisons (`true` is the empty AND); undefined when too large. */
function disjunctiveForm(expr: SpanExpr): Condition[][] | undefined {
  switch (expr.type) {
    case 'true':
      return [[]];
    case 'condition':
      return [[expr]];
    case 'or': {
      const left = disjunctiveForm(expr.left);
      const right = disjunctiveForm(expr.right);
      if (left === undefined || right === undefined || left.length + right.length > MAX_CONJUNCTS) return undefined;
      return [...left, ...right];
    }
    case 'and': {
      const left = disjunctiveForm(expr.left);
      const right = disjunctiveForm(expr.right);
      if (left === undefined || right === undefined || left.length * right.length > MAX_CONJUNCTS) return undefined;
      return left.flatMap((l) => right.map((r) => [...l, ...r]));
    }
  }
}

type AtomKind = 'service' | 'error' | 'trace' | 'span';

function atomKind(c: Condition): AtomKind {
  if (c.field.type === 'service') return 'service';
  if (c.field.type === 'intrinsic') {
    if (c.field.name === 'status' && c.op === '=' && c.value.type === 'status' && c.value.value === 'error')
      return 'error';
    if (c.field.name === 'traceDuration' || c.field.name === 'rootName' || c.field.name === 'rootServiceName')
      return 'trace';
  }
  return 'span';
}

function spansetVerdict(expr: SpanExpr, facts: TraceFacts): Verdict {
  if (facts.spans === 0) return 'no';
  const conjuncts = disjunctiveForm(expr);
  if (conjuncts === undefined) return 'maybe';
  let verdict: Verdict = 'no';
  for (const conjunct of conjuncts) {
    verdict = or3(verdict, conjunctVerdict(conjunct, facts));
    if (verdict === 'yes') break;
  }
  return verdict;
}

function conjunctVerdict(atoms: readonly Condition[], facts: TraceFacts): Verdict {
  const services = atoms.filter((a) => atomKind(a) === 'service');
  const wantsError = atoms.some((a) => atomKind(a) === 'error');
  const spanAtoms = atoms.filter((a) => atomKind(a) === 'span');
  let verdict: Verdict = 'yes';
  for (const atom of atoms) if (atomKind(atom) === 'trace') verdict = and3(verdict, traceAtomVerdict(atom, facts));
  // A status condition other than `= error` that excludes errors contradicts `status = error` on the same span.
  if (wantsError && spanAtoms.some((a) => excludesError(a))) return 'no';
  const candidates = [...facts.services].filter((s) => services.every((atom) => compare(atom, s)));
  if (services.length > 0 && candidates.length === 0) return 'no';
  if (wantsError) {
    if (!facts.error) return 'no';
    if (services.length > 0) {
      if (facts.errorServices === null) verdict = and3(verdict, 'maybe');
      else if (!candidates.some((s) => facts.errorServices?.has(s))) return 'no';
    }
  }
  return spanAtoms.length > 0 ? and3(verdict, 'maybe') : verdict;
}

function excludesError(atom: Condition): boolean {
  if (atom.field.type !== 'intrinsic' || atom.field.name !== 'status' || atom.value.type !== 'status') return false;
  return atom.op === '=' ? atom.value.value !== 'error' : atom.value.value === 'error';
}

function traceAtomVerdict(atom: Condition, facts: TraceFacts): Verdict {
  if (atom.field.type !== 'intrinsic') return 'maybe';
  if (atom.field.name === 'traceDuration') {
    // The true duration lies strictly within a millisecond of the index's (both ends are truncated).
    const ms = BigInt(facts.lastMs - facts.firstMs);
    const lo = ms * NANOS_PER_MS - NANOS_PER_MS + 1n;
    const hi = ms * NANOS_PER_MS + NANOS_PER_MS - 1n;
    const atLo = compare(atom, lo < 0n ? 0n : lo);
    const atHi = compare(atom, hi);
    if (atom.op === '=' || atom.op === '!=') {
      const target = atom.value.type === 'duration' ? atom.value.nanos : -1n;
      if (target >= lo && target <= hi) return 'maybe';
      return atom.op === '=' ? 'no' : 'yes';
    }
    return atLo === atHi ? (atLo ? 'yes' : 'no') : 'maybe';
  }
  if (facts.root === null) return 'maybe';
  const value = atom.field.name === 'rootName' ? facts.root.name : (facts.root.service ?? undefined);
  return compare(atom, value) ? 'yes' : 'no';
}
