import { type Exemplar, MAX_EXEMPLARS } from '../../schemas/exemplars.ts';

/**
 * Which rows a rollup keeps as exemplars (decision D22): `latest` for counts (ratio numerators: the latest failing
 * rows), `largest` for quantile/max (and the other field statistics), `smallest` for min.
 */
export type ExemplarOrder = 'latest' | 'largest' | 'smallest';

function compareNullable(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}

/** Ties after the order's own key: newest first, then by ids, value and service, so the order is total. */
function compareRest(a: Exemplar, b: Exemplar): number {
  return (
    b.time_ms - a.time_ms ||
    compareNullable(a.trace_id, b.trace_id) ||
    compareNullable(a.request_id, b.request_id) ||
    b.value - a.value ||
    compareNullable(a.service ?? null, b.service ?? null)
  );
}

/** Negative when `a` is the better exemplar under `order`; 0 only for equal exemplars. */
export function compareExemplars(order: ExemplarOrder, a: Exemplar, b: Exemplar): number {
  if (order === 'largest') return b.value - a.value || compareRest(a, b);
  if (order === 'smallest') return a.value - b.value || compareRest(a, b);
  return compareRest(a, b);
}

/** Exemplars of one request count once: the trace id, else the request id, names it. */
function sameRequest(a: Exemplar, b: Exemplar): boolean {
  return a.trace_id === null ? b.trace_id === null && a.request_id === b.request_id : a.trace_id === b.trace_id;
}

/**
 * Offers one exemplar to a bounded, sorted set (best first), in place: the set stays the best `MAX_EXEMPLARS`
 * distinct requests (each with its best row) of everything offered, whatever the order of the offers. That makes the
 * selection a function of the rows alone, so a retried batch, a compacted minute and a merged window agree.
 * Returns true when the set changed.
 */
export function offerExemplar(
  set: Exemplar[],
  order: ExemplarOrder,
  e: Exemplar,
  max: number = MAX_EXEMPLARS,
): boolean {
  const worst = set[set.length - 1];
  // Not better than the worst of a full set: neither a new entry nor an improvement of one already there.
  if (set.length >= max && worst !== undefined && compareExemplars(order, e, worst) >= 0) return false;
  for (let i = 0; i < set.length; i++) {
    const current = set[i];
    if (current === undefined || !sameRequest(current, e)) continue;
    if (compareExemplars(order, e, current) >= 0) return false;
    set.splice(i, 1);
    break;
  }
  let at = set.length;
  while (at > 0) {
    const before = set[at - 1];
    if (before === undefined || compareExemplars(order, before, e) <= 0) break;
    at--;
  }
  set.splice(at, 0, e);
  if (set.length > max) set.length = max;
  return true;
}

/** The exemplars of two merged aggregates: the same choice as one set offered every row of both. */
export function mergeExemplars(
  a: readonly Exemplar[] | undefined,
  b: readonly Exemplar[] | undefined,
  order: ExemplarOrder,
): Exemplar[] {
  const out: Exemplar[] = [];
  for (const e of a ?? []) offerExemplar(out, order, e);
  for (const e of b ?? []) offerExemplar(out, order, e);
  return out;
}

/**
 * The order an aggregate's `exemplars` were chosen by: a count aggregate (`{ n }` only) keeps the latest rows, a
 * stats or sketch aggregate (it has `max`) the largest values. `exemplars_low` is always `smallest`.
 */
export function exemplarOrderOf(aggregate: { readonly max?: number | undefined }): ExemplarOrder {
  return aggregate.max === undefined ? 'latest' : 'largest';
}
