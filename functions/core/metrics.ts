import type { Clock } from './clock.ts';

/** CloudWatch namespace of every Skein metric. */
export const METRICS_NAMESPACE = 'Skein';

/**
 * Limits of one embedded metric format document (CloudWatch EMF specification): at most 100 metrics per directive
 * and 30 dimension keys per dimension set. A dimension value is 1–1024 characters.
 */
export const EMF_LIMITS = { metricsPerDocument: 100, dimensionsPerSet: 30, dimensionValueLength: 1024 } as const;

/** CloudWatch units Skein uses. */
export type MetricUnit = 'Count' | 'Milliseconds' | 'Bytes';

export interface MetricValue {
  readonly name: string;
  readonly unit: MetricUnit;
  readonly value: number;
}

/** Where EMF lines go: stdout in Lambda (CloudWatch Logs extracts the metrics), a string sink in tests. */
export type MetricWriter = (line: string) => void;

/** What one ingest batch reports as metrics. */
export interface IngestMetrics {
  readonly records: number;
  /** Rows written per `source_format` (`json-lines`, `kpl+otlp-proto`, …). */
  readonly rowsByFormat: Readonly<Record<string, number>>;
  /** Quarantine entries per reason code. */
  readonly quarantinedByReason: Readonly<Record<string, number>>;
  readonly controlMessages: number;
  readonly durationMs: number;
  readonly shardId: string;
}

/** Metric names of {@link emitIngestMetrics}: what alarms and dashboards refer to. */
export const INGEST_METRICS = {
  recordsIn: 'RecordsIn',
  rows: 'Rows',
  quarantined: 'Quarantined',
  controlMessagesDropped: 'ControlMessagesDropped',
  batchDurationMs: 'BatchDurationMs',
} as const;

/**
 * Writes the metrics of one ingest batch as CloudWatch embedded metric format lines, one document per dimension set:
 *
 * - no dimensions: `RecordsIn`, `Rows` (all formats), `Quarantined` (all reasons), `ControlMessagesDropped`,
 *   `BatchDurationMs` — always written, zeros included, so alarms see 0 rather than missing data;
 * - `Format`: `Rows`, one document per source format that had rows;
 * - `Reason`: `Quarantined`, one document per quarantine reason that occurred.
 *
 * The shard id is a property of every document, not a dimension: searchable in Logs Insights without creating a
 * metric per shard (each distinct dimension combination is a billed custom metric).
 *
 * @example emitIngestMetrics(summaryMetrics, (line) => process.stdout.write(`${line}\n`), Date.now);
 */
export function emitIngestMetrics(summary: IngestMetrics, write: MetricWriter, clock: Clock): void {
  const timestamp = clock();
  const properties = { ShardId: summary.shardId };
  write(
    emfDocument(timestamp, {}, properties, [
      { name: INGEST_METRICS.recordsIn, unit: 'Count', value: summary.records },
      { name: INGEST_METRICS.rows, unit: 'Count', value: sum(summary.rowsByFormat) },
      { name: INGEST_METRICS.quarantined, unit: 'Count', value: sum(summary.quarantinedByReason) },
      { name: INGEST_METRICS.controlMessagesDropped, unit: 'Count', value: summary.controlMessages },
      { name: INGEST_METRICS.batchDurationMs, unit: 'Milliseconds', value: summary.durationMs },
    ]),
  );
  for (const [format, rows] of Object.entries(summary.rowsByFormat)) {
    if (rows > 0 && isDimensionValue(format))
      write(
        emfDocument(timestamp, { Format: format }, properties, [
          { name: INGEST_METRICS.rows, unit: 'Count', value: rows },
        ]),
      );
  }
  for (const [reason, count] of Object.entries(summary.quarantinedByReason)) {
    if (count > 0 && isDimensionValue(reason))
      write(
        emfDocument(timestamp, { Reason: reason }, properties, [
          { name: INGEST_METRICS.quarantined, unit: 'Count', value: count },
        ]),
      );
  }
}

/**
 * One EMF document: `dimensions` are both the dimension set and root members, `properties` are root members only.
 * Throws on input the specification rejects (more than 100 metrics or 30 dimensions, a non-finite value), since
 * CloudWatch would drop the whole document silently.
 */
export function emfDocument(
  timestamp: number,
  dimensions: Readonly<Record<string, string>>,
  properties: Readonly<Record<string, string | number | boolean>>,
  metrics: readonly MetricValue[],
): string {
  const keys = Object.keys(dimensions);
  if (keys.length > EMF_LIMITS.dimensionsPerSet)
    throw new RangeError(`an EMF dimension set holds at most ${EMF_LIMITS.dimensionsPerSet} keys, got ${keys.length}`);
  if (metrics.length === 0 || metrics.length > EMF_LIMITS.metricsPerDocument)
    throw new RangeError(`an EMF document holds 1–${EMF_LIMITS.metricsPerDocument} metrics, got ${metrics.length}`);
  const root: Record<string, unknown> = {
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [
        {
          Namespace: METRICS_NAMESPACE,
          Dimensions: [keys],
          Metrics: metrics.map((m) => ({ Name: m.name, Unit: m.unit })),
        },
      ],
    },
    ...properties,
    ...dimensions,
  };
  for (const m of metrics) {
    if (!Number.isFinite(m.value)) throw new RangeError(`metric ${m.name} has no finite value (${m.value})`);
    root[m.name] = m.value;
  }
  return JSON.stringify(root);
}

/** Non-empty, ASCII without control characters, at most 1024 characters: what CloudWatch accepts as a value. */
function isDimensionValue(value: string): boolean {
  return value.length > 0 && value.length <= EMF_LIMITS.dimensionValueLength && /^[\x20-\x7e]+$/.test(value);
}

function sum(counts: Readonly<Record<string, number>>): number {
  let total = 0;
  for (const value of Object.values(counts)) total += value;
  return total;
}
