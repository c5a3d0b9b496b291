import { createHash } from 'node:crypto';
import type { Matcher, MeasureSpec } from '../../../schemas/measures.ts';
import { compareStrings } from './expr-parser.ts';

/** A measure before it has its id. */
export type MeasureDefinition = Omit<MeasureSpec, 'id'>;

function compareMatchers(a: Matcher, b: Matcher): number {
  return compareStrings(a.label, b.label) || compareStrings(a.op, b.op) || compareStrings(a.value, b.value);
}

/**
 * The canonical form of a measure: matchers sorted by label, op, value (duplicates dropped), `by` sorted and
 * deduplicated, `field` only when set. Two rules that mean the same measure get the same canonical form.
 */
export function canonicalMeasure(spec: MeasureDefinition): MeasureDefinition {
  const matchers: Matcher[] = [];
  for (const m of [...spec.selector.matchers].sort(compareMatchers)) {
    const last = matchers[matchers.length - 1];
    if (last === undefined || compareMatchers(last, m) !== 0)
      matchers.push({ label: m.label, op: m.op, value: m.value });
  }
  const by = [...new Set(spec.by)].sort(compareStrings);
  return {
    selector: { table: spec.selector.table, matchers },
    by,
    kind: spec.kind,
    ...(spec.field === undefined ? {} : { field: spec.field }),
  };
}

/**
 * The stable id of a measure (schemas/measures.ts): the first 16 hex of sha256 of the canonical JSON
 * `{"selector":{"table","matchers":[{"label","op","value"}…]},"by":[…],"kind","field"?}`.
 * @example measureId({ selector: { table: 'logs', matchers: [] }, by: [], kind: 'count' })
 */
export function measureId(spec: MeasureDefinition): string {
  const c = canonicalMeasure(spec);
  return createHash('sha256').update(JSON.stringify(c)).digest('hex').slice(0, 16);
}
