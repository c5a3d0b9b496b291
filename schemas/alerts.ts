import { z } from 'zod';
import { Exemplar } from './exemplars.ts';

/**
 * One alert transition in the outbox: the contract between the evaluator (writer) and the notifier (reader).
 * Written once per transition under a deterministic key (`outboxKey`) with `If-None-Match: *`, so an evaluation
 * retried or run twice concurrently never creates a second entry for the same transition.
 */
export const AlertTransition = z.object({
  version: z.literal(1),
  /** Stable identity of the alert: first 16 hex of sha256 of the sorted label set (alertname and series labels). */
  fingerprint: z.string().regex(/^[0-9a-f]{16}$/),
  /** Per-fingerprint transition counter, starting at 1: (fingerprint, seq) is unique and ordered. */
  seq: z.number().int().positive(),
  status: z.enum(['firing', 'resolved']),
  /** The rule group and rule that produced it. */
  group: z.string(),
  rule: z.string(),
  /** Alert identity: `alertname` (= rule name), rule labels (incl. `severity`) and series labels. */
  labels: z.record(z.string(), z.string()),
  /** Rendered annotations (`summary`, `description`, …). */
  annotations: z.record(z.string(), z.string()),
  /** The value that made it fire (or the last value when resolving; null for no data). */
  value: z.number().nullable(),
  /** ISO times: when the condition first held (pending), when it fired, and for resolved when it resolved. */
  active_at: z.string(),
  starts_at: z.string(),
  ends_at: z.string().optional(),
  /** ISO time of the evaluation (its minute) that made the transition. */
  evaluated_at: z.string(),
  /** Optional route name from the rule, for the notifier's routing. */
  route: z.string().optional(),
  /** The rule expression, for links and context. */
  expr: z.string(),
  /** Example rows of the window that made it fire (issue 12). */
  exemplars: z.array(Exemplar).optional(),
});
export type AlertTransition = z.infer<typeof AlertTransition>;

export const OUTBOX_PREFIX = 'alerts/outbox/';

/**
 * `alerts/outbox/<evaluated minute, ISO>-<fingerprint>-<seq>.json`: sorts by time, and the same transition always
 * maps to the same key.
 */
export function outboxKey(t: Pick<AlertTransition, 'evaluated_at' | 'fingerprint' | 'seq'>): string {
  const minute = t.evaluated_at.slice(0, 16).replaceAll(':', '');
  return `${OUTBOX_PREFIX}${minute}Z-${t.fingerprint}-${String(t.seq).padStart(6, '0')}.json`;
}
