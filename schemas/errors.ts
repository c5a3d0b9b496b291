/**
 * Every code a {@link SkeinError} may carry: a closed list (decision D27), so a code is a contract a caller or a test
 * can rely on, not free text. A code names the kind of failure (what to do about it differs by code); the message
 * says the specifics. To raise a new kind of failure, add its code here with one line on what it means.
 */
export const ERROR_CODES = {
  // Input and configuration
  usage: 'bad command-line input (UsageError; exit code 2)',
  config_invalid: 'a configuration file or environment setting is missing or invalid (ConfigError)',
  rule_invalid: 'an alert rule does not compile',
  rule_test_invalid: "a rule test's input is not usable (RuleTestInputError)",
  measure_invalid: 'a measure or label selector of a rule cannot be evaluated',
  record_too_large: 'a file is larger than one Kinesis record (skein push)',
  // Storage and formats
  store_failed: 'the object store refused or failed a request (StoreError)',
  parquet_write_invalid: 'rows cannot be written as Parquet (ParquetWriteError)',
  parquet_read_invalid: 'a Parquet object cannot be read back (ParquetReadError)',
  manifest_invalid: 'a compaction manifest is unreadable (ManifestError)',
  rollup_invalid: 'a rollup object is not JSON or does not match its schema',
  rollup_query_invalid: 'a rollup window is not a minute range',
  rollup_minute_open: 'a rollup minute still open was asked to be compacted',
  sketch_invalid: 'a sketch parameter (accuracy, quantile) is out of range',
  sketch_alpha_mismatch: 'sketches of different accuracy cannot merge',
  // Functions
  compaction_failed: 'some hours of a compaction run failed (the log says which)',
  secret_unavailable: 'a notifier secret cannot be read (SecretError)',
  endpoint_refused: 'a webhook URL from a secret is not allowed (https, allowed_hosts)',
  http_timeout: 'a receiver did not answer in time (HttpSendError)',
  http_connection: 'a receiver could not be reached (HttpSendError)',
  // Lookups
  query_failed: 'the local store could not be read for a lookup or search',
  athena_scan_limit: "Athena stopped a query at the workgroup's bytes-scanned limit",
  athena_access_denied: 'Athena or S3 denied the caller',
  athena_not_found: 'the Skein database, table or workgroup does not exist',
  athena_throttled: 'Athena kept throttling the query',
  athena_failed: 'Athena refused or failed the query otherwise',
  // The CLI and the local stack
  push_failed: 'records could not be put on the stream (PushFailedError)',
  unavailable: 'a command needs a part that cannot be loaded here',
  state_in_use: 'another local stack holds the state folder (StateInUseError)',
  alertmanager_failed: 'the local Alertmanager did not start or answer (AlertmanagerError)',
  smoke_stack: 'the deployed stack lacks an output this version needs: redeploy',
  smoke_named_query: 'the workgroup lacks a named query this version needs: redeploy',
  smoke_dependency: 'an AWS SDK client skein smoke --stack needs is not installed',
  smoke_aws: 'an AWS call of skein smoke failed or answered unexpectedly',
  smoke_failed: 'skein smoke could not read what it checks on the local stack',
} as const;

/** One of {@link ERROR_CODES}. */
export type SkeinErrorCode = keyof typeof ERROR_CODES;

/** Base of every error Skein raises on purpose. `code` is stable and machine-readable; messages never hold secrets. */
export class SkeinError extends Error {
  readonly code: SkeinErrorCode;
  constructor(code: SkeinErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Configuration is missing or invalid: the message names the setting and what to do. */
export class ConfigError extends SkeinError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('config_invalid', message, options);
  }
}

/** The object store refused or failed a request. */
export class StoreError extends SkeinError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('store_failed', message, options);
  }
}

/** Bad input from a user of the CLI (exit code 2). */
export class UsageError extends SkeinError {
  constructor(message: string) {
    super('usage', message);
  }
}

/** A short, secret-free description of any thrown value. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** The first problem zod found, as `path: message` (`(root)` when the value itself is wrong): for one-line errors. */
export function describeIssue(error: {
  readonly issues: readonly { readonly path: readonly PropertyKey[]; readonly message: string }[];
}): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}` : 'invalid';
}
