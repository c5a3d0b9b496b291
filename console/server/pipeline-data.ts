import { HEARTBEAT_FUNCTIONS, readHeartbeat } from '../../functions/core/heartbeat.ts';
import type { ObjectStore } from '../../functions/core/object-store.ts';
import { incompleteMinutes } from '../../query/alerts.ts';

/** What a running local stack knows only in memory (its poller and ingest counters), handed in by `skein local up`. */
export interface LiveFigures {
  readonly recordsIn: number;
  readonly batches: number;
  readonly retries: number;
  readonly lagMs: number;
  readonly rowsByFormat: Readonly<Record<string, number>>;
  readonly quarantinedByReason: Readonly<Record<string, number>>;
}

export interface QuarantineRow {
  readonly arrival: string;
  readonly reason: string;
  readonly decoder: string;
  readonly message: string;
  readonly shard: string;
  readonly sequence: string;
  readonly line: number | null;
  readonly size: number;
  readonly objectKey: string;
}

export interface PipelineView {
  readonly live: LiveFigures | null;
  /** Last-run markers: function → { at, counts } (null: never ran). */
  readonly lastRuns: Record<string, { at: string; counts: Record<string, number> } | { error: string } | null>;
  readonly quarantine: {
    readonly byReason: Record<string, number>;
    readonly total: number;
    readonly replayed: number;
    /** Newest first, at most {@link QUARANTINE_SHOWN}. */
    readonly entries: QuarantineRow[];
  };
  readonly incompleteMinutes: string[];
  readonly replayCommand: string;
}

export const QUARANTINE_SHOWN = 200;

/**
 * `/api/pipeline`: the figures `skein smoke` and `skein local up` show — last-run markers of the poller, compactor
 * and evaluator, the quarantine per reason with its newest entries, the minutes the evaluator could not wait for —
 * plus the live counters of a local stack when there is one.
 */
export async function pipelineView(
  store: ObjectStore,
  options: { readonly live?: (() => LiveFigures) | undefined; readonly replayCommand: string },
): Promise<PipelineView> {
  const { scanQuarantine } = await import('../../functions/ingest/replay.ts');
  const [scan, markers, incomplete] = await Promise.all([
    scanQuarantine(store),
    Promise.all(HEARTBEAT_FUNCTIONS.map(async (fn) => [fn, await readHeartbeat(store, fn)] as const)),
    incompleteMinutes(store).catch(() => []),
  ]);
  const lastRuns: PipelineView['lastRuns'] = {};
  for (const [fn, got] of markers)
    lastRuns[fn] = !got.ok
      ? { error: got.reason }
      : got.value === undefined
        ? null
        : { at: got.value.at, counts: got.value.counts ?? {} };
  const byReason: Record<string, number> = {};
  const rows: (QuarantineRow & { ms: number })[] = [];
  let replayed = 0;
  for (const object of scan.objects)
    for (const e of object.entries) {
      if (e.status === 'replayed') {
        replayed++;
        continue;
      }
      byReason[e.entry.reason] = (byReason[e.entry.reason] ?? 0) + 1;
      rows.push({
        ms: e.arrivalMs,
        arrival: new Date(e.arrivalMs).toISOString(),
        reason: e.entry.reason,
        decoder: e.entry.decoder,
        message: e.entry.message,
        shard: e.entry.shard_id,
        sequence: e.entry.sequence_number,
        line: e.entry.line,
        size: e.size,
        objectKey: e.objectKey,
      });
    }
  rows.sort((a, b) => b.ms - a.ms);
  return {
    live: options.live?.() ?? null,
    lastRuns,
    quarantine: {
      byReason,
      total: rows.length,
      replayed,
      entries: rows.slice(0, QUARANTINE_SHOWN).map(({ ms, ...row }) => row),
    },
    incompleteMinutes: incomplete,
    replayCommand: options.replayCommand,
  };
}
