import { z } from 'zod';
import { SourceRange } from './compaction.ts';
import { Exemplar, MAX_EXEMPLARS } from './exemplars.ts';

/**
 * Measures: what ingest aggregates per minute so the evaluator never rescans raw data. Rules compile to measures
 * (functions/evaluate/…); ingest computes each loaded measure over each batch (functions/shared/rollup.ts).
 *
 * Labels a selector or `by` can name, resolved per row (functions/core/row-labels.ts):
 * - both tables: `service` (service_name), `attr.<key>` (attributes[key], any key, dots allowed),
 *   `resource.<key>` (resource_attributes[key]), `request_id`;
 * - logs: `severity` (trace|debug|info|warn|error|fatal from severity_number; ordered, so `>=` works), `body`;
 * - spans: `name`, `kind` (server|client|internal|producer|consumer|unspecified), `status` (unset|ok|error).
 * A label that a row lacks resolves to the empty string (as in Prometheus).
 */
export const MatchOp = z.enum(['=', '!=', '=~', '!~', '>=', '>', '<=', '<']);
export type MatchOp = z.infer<typeof MatchOp>;

export const Matcher = z.object({ label: z.string().min(1), op: MatchOp, value: z.string() });
export type Matcher = z.infer<typeof Matcher>;

export const Selector = z.object({ table: z.enum(['logs', 'spans']), matchers: z.array(Matcher) });
export type Selector = z.infer<typeof Selector>;

/**
 * - `count`: rows matching the selector;
 * - `stats`: count/sum/min/max of a numeric field (`field`) over matching rows that have it;
 * - `sketch`: `stats` plus a mergeable quantile sketch of the field. The field `duration` of spans is the span
 *   duration in milliseconds; any other field is a log or span attribute key (`attr.<key>` naming).
 */
export const MeasureKind = z.enum(['count', 'stats', 'sketch']);
export type MeasureKind = z.infer<typeof MeasureKind>;

export const MeasureSpec = z.object({
  /** Stable id: first 16 hex of sha256 of the canonical JSON of the other fields (matchers sorted, `by` sorted). */
  id: z.string().regex(/^[0-9a-f]{16}$/),
  selector: Selector,
  /** Group-by label names, sorted. The group key of a row is JSON.stringify of its values in this order. */
  by: z.array(z.string()),
  kind: MeasureKind,
  field: z.string().optional(),
});
export type MeasureSpec = z.infer<typeof MeasureSpec>;

/** A mergeable quantile sketch, serialised (functions/core/sketch.ts owns the encoding). */
export const SketchData = z.object({
  /** Relative accuracy alpha the sketch guarantees for quantiles of positive values. */
  alpha: z.number().positive().lt(1),
  /** Bucket index → count, for positive values (index i covers (gamma^(i-1), gamma^i]). */
  pos: z.record(z.string(), z.number().int().positive()),
  /** Same for the magnitudes of negative values. */
  neg: z.record(z.string(), z.number().int().positive()),
  zeros: z.number().int().nonnegative(),
});
export type SketchData = z.infer<typeof SketchData>;

/**
 * The aggregate of one measure, one minute, one group key. `sum/min/max` only for stats and sketch measures.
 * Exemplars (D22; absent in objects written before them): rows with a trace or request id, at most
 * `MAX_EXEMPLARS` distinct requests, chosen deterministically (functions/shared/exemplar-select.ts) — for count
 * measures the latest rows, for stats and sketch measures the rows with the largest values; `exemplars_low` (stats
 * measures) the rows with the smallest values, what `min(...)` rules show.
 */
export const Aggregate = z.object({
  n: z.number().int().nonnegative(),
  sum: z.number().optional(),
  min: z.number().optional(),
  max: z.number().optional(),
  sketch: SketchData.optional(),
  exemplars: z.array(Exemplar).max(MAX_EXEMPLARS).optional(),
  exemplars_low: z.array(Exemplar).max(MAX_EXEMPLARS).optional(),
});
export type Aggregate = z.infer<typeof Aggregate>;

/**
 * How far one shard's ingest has got (functions/shared/watermark.ts): no record of the shard that is still
 * unprocessed arrived before `arrival_ms` (epoch ms). `sequence_number` is the last record processed, where known: the
 * evaluator asks the stream what follows it.
 */
export const ShardMark = z.object({
  arrival_ms: z.number(),
  sequence_number: z.string().regex(/^\d+$/).optional(),
});
export type ShardMark = z.infer<typeof ShardMark>;

/**
 * One rollup object: what one ingest batch (or, compacted, one whole minute) contributed, by event-time minute.
 * `minutes[<epoch minute>][<measure id>][<group key>]`.
 */
export const RollupObject = z.object({
  version: z.literal(1),
  /** Measure ids this object was computed for: a measure absent here has no data in it, not zero. */
  measures: z.array(z.string()),
  minutes: z.record(z.string(), z.record(z.string(), z.record(z.string(), Aggregate))),
  /** For compacted objects: the per-batch keys merged into it (readers skip those, see the rollup reader). */
  sources: z.array(z.string()).optional(),
  /** For compacted objects: when it was written (epoch ms); what it covers is deleted a grace period later. */
  writtenAtMs: z.number().optional(),
  /**
   * Shard id → how far ingest had got on that shard once this object was durable (a batch: its own shard; compacted:
   * the per-shard maximum of its sources). Absent in objects written before watermarks (decision D15).
   */
  shards: z.record(z.string(), ShardMark).optional(),
  /** The allowed lateness (ms) its rows were assigned to minutes with; absent: the old 5-minute clamp (D15). */
  lateness_ms: z.number().int().nonnegative().optional(),
  /** For per-batch objects: the stream records the batch held (its own key, shard, first..last sequence; D19). */
  batch_range: SourceRange.optional(),
  /** For compacted objects: the `batch_range` of every per-batch object merged into it. */
  source_ranges: z.array(SourceRange).optional(),
});
export type RollupObject = z.infer<typeof RollupObject>;
