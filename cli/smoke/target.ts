import type { ObjectStore } from '../../functions/core/object-store.ts';
import type { PutRecordsFn } from '../put-records.ts';

/**
 * What `skein smoke` checks, behind one port: a deployed stack (CloudFormation outputs, Athena, CloudWatch, SQS) or
 * the local stack (endpoints.json, DuckDB over the s3rver files, the local poller's marker). Every check is written
 * once, against this interface, so the local integration tests exercise the code that runs against AWS.
 */
export interface SmokeTarget {
  /** `stack Skein (eu-west-1)`, `local stack in .skein`: the first line of the report. */
  readonly description: string;
  readonly kind: 'aws' | 'local';
  readonly stream: string;
  readonly bucket: string;
  /** Kinesis `PutRecords` on the stream. */
  readonly putRecords: PutRecordsFn;
  /** The data bucket (through the conditional-write proxy locally). */
  readonly store: ObjectStore;
  /** A lookup as `skein query trace|request` runs it: Athena over the views, or DuckDB over the same objects. */
  lookup(request: LookupRequest): Promise<LookupOutcome>;
  /** Ingest lag and failed batches: CloudWatch and SQS on AWS, the local poller's marker locally. */
  ingestHealth(): Promise<IngestHealth>;
  /** How stale a last-run marker may be before the function counts as not running (its schedule, with slack). */
  readonly markerMaxAgeMs: { readonly compact: number; readonly evaluate: number };
  /** Where to look when a function misbehaves: its log group on AWS (from the stack outputs), if known. */
  readonly logGroups?: Readonly<Partial<Record<'ingest' | 'compact' | 'evaluate' | 'notify', string>>>;
  /** Default bounds of the polls (probes arriving, notifications answered). */
  readonly defaultWaitMs: number;
  readonly pollEveryMs: number;
  close(): Promise<void>;
}

export interface LookupRequest {
  readonly by: 'trace' | 'request';
  /** Normalised id. */
  readonly id: string;
  /** Event-time range, epoch milliseconds; both undefined: through the index. */
  readonly since?: number | undefined;
  readonly until?: number | undefined;
  /** The lookup `skein query` runs (polling for the probes); otherwise, on AWS, the workgroup's named query. */
  readonly viaCli?: boolean;
}

export interface LookupOutcome {
  /** The rows found (their attributes: which probe each is). */
  readonly rows: readonly { readonly attributes: string }[];
  /** Athena's `DataScannedInBytes` summed over the lookup's queries; locally the bytes DuckDB reads (index + data). */
  readonly bytesScanned: number;
}

export interface IngestHealth {
  /** Milliseconds, or `undefined` when nothing reports it (no data points yet). */
  readonly iteratorAgeMs: number | undefined;
  /** Where the figure comes from, for the report line. */
  readonly iteratorSource: string;
  /** Batches the ingest function gave up on, or `undefined` when unknown. */
  readonly failedBatches: number | undefined;
  readonly failedSource: string;
  /** Locally: how old the poller's marker is (a stopped stack stops writing it). */
  readonly reportAgeMs?: number | undefined;
}
