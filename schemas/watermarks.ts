import { z } from 'zod';
import { ShardMark } from './measures.ts';

/** Minutes evaluated before every shard was past them are kept for `skein alerts`, newest last, at most this many. */
export const INCOMPLETE_MINUTES_KEPT = 20;

/** One shard that held a minute back when it was evaluated anyway (its maximum wait ran out). */
export const LaggingShard = z.object({
  shard_id: z.string(),
  /** How far the shard's watermark was behind the clock when the minute was evaluated (ms); null: never seen. */
  behind_ms: z.number().nullable(),
});
export type LaggingShard = z.infer<typeof LaggingShard>;

/** A minute evaluated with what there was: some shard had not been ingested past its end + allowed lateness. */
export const IncompleteMinute = z.object({
  /** Epoch minute. */
  minute: z.number().int(),
  evaluated_at_ms: z.number(),
  shards: z.array(LaggingShard),
});
export type IncompleteMinute = z.infer<typeof IncompleteMinute>;

/**
 * `rollups/watermarks.json`, written by the evaluator (D15): what it proved by reading the stream (an idle shard has
 * nothing left before the time it was read), and the minutes it evaluated without some shard. It lives beside the
 * rollups so a capture of them (`skein rules test --data`) sees the same watermarks the evaluator did.
 */
export const EvaluationProgress = z.object({
  version: z.literal(1),
  /** Shard id → watermark proven from the stream. */
  shards: z.record(z.string(), ShardMark),
  /** Newest last, at most {@link INCOMPLETE_MINUTES_KEPT}. */
  incomplete: z.array(IncompleteMinute),
});
export type EvaluationProgress = z.infer<typeof EvaluationProgress>;

export const EVALUATION_PROGRESS_KEY = 'rollups/watermarks.json';
