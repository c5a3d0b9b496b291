import { z } from 'zod';

/**
 * One line of a quarantine object (`quarantine/dt=…/hour=…/<shard>-<firstSeq>.ndjson`) as ingest writes it
 * (functions/ingest/quarantine.ts). Read back by `skein quarantine ls` and `skein replay`.
 *
 * `sub_sequence_number`, `aggregated`, `data_form`, `data_note` and `original_size` are optional so that objects
 * written before they existed still parse.
 */
export const QuarantineEntryJson = z.object({
  shard_id: z.string().min(1),
  sequence_number: z.string().regex(/^\d+$/),
  sub_sequence_number: z.number().int().nonnegative().optional(),
  /** True when `data` is one user record of a KPL aggregate. */
  aggregated: z.boolean().optional(),
  partition_key: z.string(),
  arrival_time: z.iso.datetime(),
  /** 1-based line of a JSON-lines record, or null when the whole record failed. */
  line: z.number().int().positive().nullable(),
  decoder: z.string(),
  reason: z.string(),
  message: z.string(),
  /** The bytes that failed, redacted as `data_form` says (decision D17), base64. */
  data: z.base64(),
  /**
   * `original` (no secret found), `redacted` (secrets replaced; decodes as the original did), `prefix` (only part
   * kept) or `withheld` (nothing kept). Absent in entries written before D17: the bytes as they arrived.
   */
  data_form: z.enum(['original', 'redacted', 'prefix', 'withheld']).optional(),
  /** What was not kept and why (`prefix`, `withheld`). */
  data_note: z.string().optional(),
  /** Size in bytes of what failed, as it arrived. */
  original_size: z.number().int().nonnegative().optional(),
});
export type QuarantineEntryJson = z.infer<typeof QuarantineEntryJson>;

/** One replayed entry in a replay marker: the entry's identity inside its quarantine object, and when it was replayed. */
export const ReplayedEntryJson = z.object({
  sequence_number: z.string().regex(/^\d+$/),
  sub_sequence_number: z.number().int().nonnegative(),
  line: z.number().int().positive().nullable(),
  reason: z.string(),
  replayed_at: z.iso.datetime(),
});
export type ReplayedEntryJson = z.infer<typeof ReplayedEntryJson>;

/**
 * The replay marker of one quarantine object (`quarantine/dt=…/hour=…/<shard>-<firstSeq>.replayed.json`): which of
 * its entries `skein replay` turned into rows, and the objects those rows are in.
 */
export const ReplayMarkerJson = z.object({
  version: z.literal(1),
  quarantine_key: z.string().min(1),
  shard_id: z.string().min(1),
  replayed: z.array(ReplayedEntryJson),
  objects: z.array(z.string()),
});
export type ReplayMarkerJson = z.infer<typeof ReplayMarkerJson>;
