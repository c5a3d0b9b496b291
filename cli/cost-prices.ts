/**
 * List prices the cost model multiplies by: AWS us-east-1, on-demand, no free tier, no discounts. They were copied
 * from the AWS pricing pages as of {@link PRICES_AS_OF} and are not fetched at run time (Skein works offline): check
 * them against your region and contract, and pass `skein cost --prices <file.json>` with any of these keys to override.
 *
 * GB means GiB (2^30 bytes), as AWS bills data volumes.
 */
export const PRICES_AS_OF = '2025-06';

export const US_EAST_1 = {
  /** Kinesis Data Streams on-demand: per stream-hour. */
  kinesisOnDemandStreamHour: 0.04,
  /** Kinesis on-demand: per GB written, each record rounded up to 1 KiB. */
  kinesisOnDemandIngestGb: 0.08,
  /** Kinesis on-demand: per GB read by a shared-throughput consumer (the Lambda event source), rounded as written. */
  kinesisOnDemandRetrievalGb: 0.04,
  /** Kinesis on-demand: per GB-month stored beyond the first 24 hours (up to 7 days). */
  kinesisOnDemandExtendedRetentionGbMonth: 0.1,
  /** Kinesis provisioned: per shard-hour. */
  kinesisShardHour: 0.015,
  /** Kinesis provisioned: per million PUT payload units (25 KiB each, rounded up per record). */
  kinesisPutPayloadUnitMillion: 0.014,
  /** Kinesis provisioned: extended retention (up to 7 days), per shard-hour. */
  kinesisExtendedRetentionShardHour: 0.02,
  /** Lambda on arm64: per GB-second. */
  lambdaArmGbSecond: 0.0000133334,
  /** Lambda: per million requests. */
  lambdaRequestMillion: 0.2,
  /** S3 Standard: per GB-month (first 50 TB). */
  s3StandardGbMonth: 0.023,
  /** S3: PUT, COPY, POST, LIST per 1,000 requests. */
  s3PutPer1000: 0.005,
  /** S3: GET and other reads per 1,000 requests. */
  s3GetPer1000: 0.0004,
  /** Athena (SQL, engine v3): per TB scanned, at least 10 MB per query. */
  athenaTb: 5,
  /** CloudWatch Logs, Standard class: per GB ingested. */
  cloudwatchLogsIngestGb: 0.5,
  /** CloudWatch Logs: per GB-month archived (billed on the compressed size). */
  cloudwatchLogsStorageGbMonth: 0.03,
  /** CloudWatch Logs Insights: per GB scanned. */
  cloudwatchInsightsGb: 0.005,
  /** X-Ray: per million traces recorded (stored for 30 days). */
  xrayTracesRecordedMillion: 5,
  /** X-Ray: per million traces retrieved or scanned. */
  xrayTracesRetrievedMillion: 0.5,
  /** Data Firehose (Kinesis Data Streams or Direct PUT source): per GB ingested (first 500 TB/month). */
  firehoseIngestGb: 0.029,
  /** Data Firehose: record format conversion (JSON to Parquet), per GB. */
  firehoseFormatConversionGb: 0.018,
  /** Data Firehose: dynamic partitioning, per GB processed. */
  firehoseDynamicPartitioningGb: 0.02,
  /** Data Firehose: dynamic partitioning, per 1,000 S3 objects delivered. */
  firehoseObjectsPer1000: 0.005,
} as const;

export type PriceList = { readonly [K in keyof typeof US_EAST_1]: number };
