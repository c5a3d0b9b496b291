import { z } from 'zod';

/**
 * An exemplar: one row that contributed to a rollup aggregate, kept so an alert can point at example requests.
 * Rollups keep a few per (measure, group key, minute), chosen deterministically (so a retried batch and a
 * compacted minute keep the same ones); the evaluator attaches those of the window that made a rule fire to the alert
 * state and to every transition, and the notifier, `skein alerts` and the console show them.
 */
export const Exemplar = z.object({
  /** 32 lowercase hex, or null when the row had no trace id (a log line with only a request id). */
  trace_id: z.string().nullable(),
  request_id: z.string().nullable(),
  /** Event time of the row, epoch milliseconds. */
  time_ms: z.number(),
  /** The measured value: the field's value for stats and sketch measures, 1 for counts. */
  value: z.number(),
  /** Span or log service, where known. */
  service: z.string().optional(),
});
export type Exemplar = z.infer<typeof Exemplar>;

/** At most this many exemplars per (measure, group key, minute) in a rollup, and per alert. */
export const MAX_EXEMPLARS = 5;
