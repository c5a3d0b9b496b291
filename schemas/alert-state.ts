import { z } from 'zod';
import { AlertTransition } from './alerts.ts';
import { Exemplar } from './exemplars.ts';

/**
 * The evaluator's state of one rule group, stored at `alerts/state/<group>.json` and only ever replaced with a
 * conditional write (functions/evaluate/state-store.ts). Minutes are epoch minutes (ms / 60,000).
 */
export const SeriesStatus = z.enum(['pending', 'firing', 'resolved']);
export type SeriesStatus = z.infer<typeof SeriesStatus>;

/** One alert series (one fingerprint) that is pending, firing, or resolved within the retention. */
export const SeriesState = z.object({
  status: SeriesStatus,
  /** The full alert label set: `alertname`, rule labels (incl. `severity`), series labels. */
  labels: z.record(z.string(), z.string()),
  /** Minute the condition started to hold (pending), of the current or last cycle. */
  active_at: z.number().int(),
  /** Minute it fired (firing, resolved). */
  fired_at: z.number().int().optional(),
  /** Last minute the condition held: `keep_firing_for` counts from here. */
  last_held: z.number().int(),
  /** Minute it resolved (resolved): the series is forgotten a retention after this. */
  resolved_at: z.number().int().optional(),
  /** Last value seen (null: no data). */
  value: z.number().nullable(),
  /** Last transition sequence number emitted for this fingerprint (0: none yet). */
  seq: z.number().int().nonnegative(),
  /** Example rows of the window that made it fire (issue 12): shown by `skein alerts` and the console. */
  exemplars: z.array(Exemplar).optional(),
});
export type SeriesState = z.infer<typeof SeriesState>;

export const AlertGroupState = z.object({
  version: z.literal(1),
  group: z.string(),
  /** The last evaluation minute applied to this state; null before the first evaluation. */
  last_evaluated_minute: z.number().int().nullable(),
  /** Rule name → fingerprint → series. */
  rules: z.record(z.string(), z.record(z.string(), SeriesState)),
  /**
   * Sequence numbers of forgotten series (fingerprint → `[seq, minute forgotten]`), kept a day so a series that
   * comes back continues its `seq` instead of reusing one the notifier has already seen.
   */
  retired: z.record(z.string(), z.tuple([z.number().int().nonnegative(), z.number().int()])),
  /** Measure id → group key → last minute it had data: what `absent` rules compare against (forgotten after 1 h). */
  known_groups: z.record(z.string(), z.record(z.string(), z.number().int())),
  /** Transitions committed with this state but not yet confirmed written to the outbox. */
  unflushed: z.array(AlertTransition),
});
export type AlertGroupState = z.infer<typeof AlertGroupState>;

export const ALERT_STATE_PREFIX = 'alerts/state/';

/** `alerts/state/<group>.json`; the group name is URI-encoded so any name is one flat key. */
export function alertStateKey(group: string): string {
  return `${ALERT_STATE_PREFIX}${encodeURIComponent(group)}.json`;
}

/** The state of a group that was never evaluated. */
export function emptyGroupState(group: string): AlertGroupState {
  return { version: 1, group, last_evaluated_minute: null, rules: {}, retired: {}, known_groups: {}, unflushed: [] };
}
