import {
  AthenaClient,
  type ColumnInfo,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  type QueryExecution,
  StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { type ColumnDef, TABLES } from '../schemas/columns.ts';
import { SkeinError, type SkeinErrorCode } from '../schemas/errors.ts';
import {
  CATALOG_NAME,
  type DataTable,
  type HitPartition,
  type LookupKind,
  lookupHitsSql,
  lookupRowsSql,
} from './named-queries.ts';
import type { OutputStreams } from './output.ts';
import { compareRows, type QueryRow, ROW_SCHEMAS, toJsonRow, withoutRetriedCopies } from './rows.ts';
import { formatTimeline } from './timeline.ts';

/** What `skein query … --athena` asks for (cli/query-command.ts builds it from its flags). */
export interface AthenaLookupOptions {
  readonly by: LookupKind;
  /** Already normalised (`normaliseTraceId` / `normaliseRequestId`). */
  readonly id: string;
  /** Event-time range, epoch milliseconds. */
  readonly since?: number | undefined;
  readonly until?: number | undefined;
  readonly workgroup: string;
  readonly database: string;
  /** AWS region; the SDK's default chain (AWS_REGION, profile) when absent. */
  readonly region?: string | undefined;
  /** `timeline` for people, `json` for one JSON object per row (ndjson), as the local path prints. */
  readonly format: 'timeline' | 'json';
}

/** Totals over the statements of one lookup. */
export interface AthenaLookupStats {
  readonly queries: number;
  readonly bytesScanned: number;
  /** Athena's own execution time (queueing excluded), summed. */
  readonly engineMs: number;
  /** Rows returned but not shown: copies of a record a producer sent twice (D18); Athena scanned them. */
  readonly retriedCopiesDropped: number;
  /** Wall-clock time of the whole lookup. */
  readonly elapsedMs: number;
}

export interface AthenaLookupResult {
  /** Sorted by event time, as the local path returns them. */
  readonly rows: QueryRow[];
  /** Partitions (table, dt, hour) the index named. */
  readonly partitions: readonly HitPartition[];
  readonly stats: AthenaLookupStats;
}

/** One poll of a running statement. */
export interface AthenaProgress {
  readonly step: 'index' | DataTable | 'search';
  readonly state: string;
  readonly elapsedMs: number;
  readonly bytesScanned: number;
}

/** Time and waiting, injected so tests neither sleep nor depend on the clock. */
export interface AthenaRunDeps {
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly onProgress?: (progress: AthenaProgress) => void;
}

/** Why a lookup failed, as a stable code: the CLI prints the message, scripts can match the code. */
export const ATHENA_ERRORS = {
  scanLimit: 'athena_scan_limit',
  accessDenied: 'athena_access_denied',
  notFound: 'athena_not_found',
  failed: 'athena_failed',
  throttled: 'athena_throttled',
} as const satisfies Record<string, SkeinErrorCode>;

/** Polling starts fast (lookups take seconds) and slows down to this. */
export const POLL_MS = { initial: 250, factor: 1.5, max: 2_000 } as const;
/** Throttled API calls (`TooManyRequestsException`, `ThrottlingException`) are retried this often, backing off. */
export const THROTTLE_RETRY = { attempts: 6, initialMs: 500, max: 8_000 } as const;
/** Rows per `GetQueryResults` page (the API's maximum). */
const PAGE_SIZE = 1_000;

const THROTTLED = new Set(['TooManyRequestsException', 'ThrottlingException', 'ThrottledException']);
const SCAN_LIMIT = /bytes scanned limit|exceeded (?:the )?limit/i;
const NOT_FOUND = /TABLE_NOT_FOUND|SCHEMA_NOT_FOUND|does not exist|not found/i;
const ACCESS_DENIED = /access ?denied|not authorized|permission denied/i;

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Looks up a trace or a request with Athena in two steps: the trace index names the partitions holding the id
 * (`lookupHitsSql`), then the logs and spans views are read in those partitions only (`lookupRowsSql`, both tables at
 * once). Rows come back in the shape of the local path (`QueryRow`), sorted by event time.
 *
 * @throws SkeinError with a code of {@link ATHENA_ERRORS} and a message that says what to do.
 * @example
 * const { rows, stats } = await runAthenaLookup(new AthenaClient({}), { by: 'trace', id, workgroup: 'skein', database: 'skein' });
 */
export async function runAthenaLookup(
  client: AthenaClient,
  request: Omit<AthenaLookupOptions, 'format' | 'region'>,
  deps: AthenaRunDeps = {},
): Promise<AthenaLookupResult> {
  const now = deps.now ?? Date.now;
  const started = now();
  const totals = { queries: 0, bytesScanned: 0, engineMs: 0 };
  const run = async (step: AthenaProgress['step'], sql: string) => {
    const result = await runStatement(client, sql, request, step, deps);
    totals.queries += 1;
    totals.bytesScanned += result.bytesScanned;
    totals.engineMs += result.engineMs;
    return result;
  };
  const range = { since: request.since, until: request.until };

  const hits = await run('index', lookupHitsSql(request.by, request.id, range, started, request.database));
  const partitions: HitPartition[] = [];
  for (const row of hits.rows) {
    const [table, dt, hour] = [row.data_table, row.data_dt, row.data_hour];
    if ((table === 'logs' || table === 'spans') && dt && hour) partitions.push({ table, dt, hour });
  }

  const rows: QueryRow[] = [];
  const tables = (['logs', 'spans'] as const).filter((t) => partitions.some((p) => p.table === t));
  const results = await Promise.all(
    tables.map((table) =>
      run(table, lookupRowsSql(request.by, table, request.id, partitions, request.database)).then((r) => ({
        table,
        r,
      })),
    ),
  );
  for (const { table, r } of results) for (const raw of r.rows) rows.push(toQueryRow(table, raw));
  const unique = withoutRetriedCopies(rows);
  unique.rows.sort(compareRows);
  return {
    rows: unique.rows,
    partitions,
    stats: { ...totals, retriedCopiesDropped: unique.dropped, elapsedMs: now() - started },
  };
}

/**
 * `skein query trace|request <id> --athena`: runs {@link runAthenaLookup}, shows progress on stderr (state, elapsed,
 * bytes scanned so far; one updating line on a terminal), prints the rows like the local path and ends with the bytes
 * scanned and the time taken. Returns the exit code; errors are thrown for the command's guard to print.
 */
export async function athenaLookupCommand(
  options: AthenaLookupOptions,
  io: OutputStreams,
  deps: AthenaRunDeps & { readonly client?: AthenaClient } = {},
): Promise<number> {
  const client = deps.client ?? new AthenaClient(options.region ? { region: options.region } : {});
  const tty = io.stderr.isTTY === true;
  const lastState = new Map<string, string>();
  const onProgress = (p: AthenaProgress) => {
    const line = `athena ${p.step}: ${p.state} ${seconds(p.elapsedMs)}, ${formatBytes(p.bytesScanned)} scanned`;
    if (tty) io.stderr.write(`\r\x1b[K${line}`);
    // Off a terminal, one line per statement and state keeps logs readable.
    else if (lastState.get(p.step) !== p.state) io.stderr.write(`${line}\n`);
    lastState.set(p.step, p.state);
  };
  const { rows, stats } = await runAthenaLookup(client, options, { ...deps, onProgress });
  if (tty) io.stderr.write('\r\x1b[K');
  const summary = `athena: ${stats.queries} ${stats.queries === 1 ? 'query' : 'queries'}, ${formatBytes(stats.bytesScanned)} scanned, ${seconds(stats.elapsedMs)} (engine ${seconds(stats.engineMs)})${stats.retriedCopiesDropped > 0 ? `, ${stats.retriedCopiesDropped} retried ${stats.retriedCopiesDropped === 1 ? 'copy' : 'copies'} not shown` : ''}\n`;

  if (rows.length === 0) {
    const message = `no records for ${options.by} ${options.id}`;
    if (options.format === 'json') io.stderr.write(`${message}\n`);
    else io.stdout.write(`${message}\n`);
  } else if (options.format === 'json') {
    for (const row of rows) io.stdout.write(`${JSON.stringify(toJsonRow(row))}\n`);
  } else {
    const env = io.env ?? process.env;
    const colour = io.stdout.isTTY === true && !env.NO_COLOR;
    io.stdout.write(formatTimeline(rows, { by: options.by, id: options.id }, { colour }));
  }
  io.stderr.write(summary);
  return 0;
}

export interface StatementResult {
  /** Rows by column name; SQL NULL as null. */
  readonly rows: Record<string, string | null>[];
  readonly bytesScanned: number;
  readonly engineMs: number;
}

/**
 * Runs one statement to completion (polling, throttling retried) and reads every result page. `parameters` are the
 * `ExecutionParameters` of a statement with `?` placeholders (SQL literals, e.g. `'abc'`), as named queries take.
 */
export async function runStatement(
  client: AthenaClient,
  sql: string,
  request: Pick<AthenaLookupOptions, 'workgroup' | 'database'>,
  step: AthenaProgress['step'],
  deps: AthenaRunDeps,
  parameters?: readonly string[],
): Promise<StatementResult> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? sleepFor;
  const started = now();
  const start = await retryThrottled(
    () =>
      client.send(
        new StartQueryExecutionCommand({
          QueryString: sql,
          WorkGroup: request.workgroup,
          QueryExecutionContext: { Database: request.database, Catalog: CATALOG_NAME },
          ...(parameters && parameters.length > 0 ? { ExecutionParameters: [...parameters] } : {}),
        }),
      ),
    sleep,
    request,
  );
  const queryExecutionId = start.QueryExecutionId;
  if (!queryExecutionId) throw new SkeinError(ATHENA_ERRORS.failed, 'Athena started no query (no execution id)');

  let wait: number = POLL_MS.initial;
  let execution: QueryExecution | undefined;
  for (;;) {
    const response = await retryThrottled(
      () => client.send(new GetQueryExecutionCommand({ QueryExecutionId: queryExecutionId })),
      sleep,
      request,
    );
    execution = response.QueryExecution;
    const state = execution?.Status?.State ?? 'UNKNOWN';
    deps.onProgress?.({
      step,
      state,
      elapsedMs: now() - started,
      bytesScanned: execution?.Statistics?.DataScannedInBytes ?? 0,
    });
    if (state === 'SUCCEEDED') break;
    if (state === 'FAILED' || state === 'CANCELLED') throw executionError(state, execution, request);
    await sleep(wait);
    wait = Math.min(POLL_MS.max, Math.round(wait * POLL_MS.factor));
  }

  const rows: Record<string, string | null>[] = [];
  let columns: string[] | undefined;
  let nextToken: string | undefined;
  let first = true;
  do {
    const page = await retryThrottled(
      () =>
        client.send(
          new GetQueryResultsCommand({
            QueryExecutionId: queryExecutionId,
            MaxResults: PAGE_SIZE,
            ...(nextToken ? { NextToken: nextToken } : {}),
          }),
        ),
      sleep,
      request,
    );
    columns ??= columnNames(page.ResultSet?.ResultSetMetadata?.ColumnInfo);
    const pageRows = page.ResultSet?.Rows ?? [];
    // The first row of the first page of a SELECT is the header.
    for (let i = first ? 1 : 0; i < pageRows.length; i++) {
      const data = pageRows[i]?.Data ?? [];
      const row: Record<string, string | null> = {};
      for (let c = 0; c < columns.length; c++) row[columns[c] ?? `_${c}`] = data[c]?.VarCharValue ?? null;
      rows.push(row);
    }
    first = false;
    nextToken = page.NextToken;
  } while (nextToken);

  return {
    rows,
    bytesScanned: execution?.Statistics?.DataScannedInBytes ?? 0,
    engineMs: execution?.Statistics?.EngineExecutionTimeInMillis ?? 0,
  };
}

function columnNames(info: ColumnInfo[] | undefined): string[] {
  return (info ?? []).map((c, i) => c.Name ?? `_${i}`);
}

/** Retries a call Athena throttled, backing off exponentially; any other error is classified and thrown. */
async function retryThrottled<T>(
  call: () => Promise<T>,
  sleep: (ms: number) => Promise<void>,
  request: Pick<AthenaLookupOptions, 'workgroup' | 'database'>,
): Promise<T> {
  let wait: number = THROTTLE_RETRY.initialMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isThrottled(error)) throw apiError(error, request);
      if (attempt >= THROTTLE_RETRY.attempts) {
        throw new SkeinError(
          ATHENA_ERRORS.throttled,
          `Athena kept throttling the lookup (${attempt} attempts): too many queries at once in this account; try again in a minute`,
          { cause: error },
        );
      }
      await sleep(wait);
      wait = Math.min(THROTTLE_RETRY.max, wait * 2);
    }
  }
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : '';
}

function isThrottled(error: unknown): boolean {
  if (THROTTLED.has(errorName(error))) return true;
  if (typeof error !== 'object' || error === null || !('$metadata' in error)) return false;
  const metadata = error.$metadata;
  return (
    typeof metadata === 'object' && metadata !== null && 'httpStatusCode' in metadata && metadata.httpStatusCode === 429
  );
}

/** An error of an API call (not of a query) as a SkeinError that says what to do. */
function apiError(error: unknown, request: Pick<AthenaLookupOptions, 'workgroup' | 'database'>): SkeinError {
  if (error instanceof SkeinError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const name = errorName(error);
  if (name === 'AccessDeniedException' || ACCESS_DENIED.test(message)) {
    return new SkeinError(
      ATHENA_ERRORS.accessDenied,
      `access denied by Athena (${oneLine(message)}): the caller needs athena:StartQueryExecution, GetQueryExecution and GetQueryResults on workgroup ${request.workgroup}, glue:Get* on database ${request.database}, and s3:GetObject on the data and results buckets`,
      { cause: error },
    );
  }
  if (NOT_FOUND.test(message)) return notFound(message, request, error);
  return new SkeinError(
    ATHENA_ERRORS.failed,
    `Athena refused the lookup: ${name ? `${name}: ` : ''}${oneLine(message)}`,
    {
      cause: error,
    },
  );
}

function notFound(reason: string, request: Pick<AthenaLookupOptions, 'workgroup' | 'database'>, cause?: unknown) {
  return new SkeinError(
    ATHENA_ERRORS.notFound,
    `Athena did not find the Skein catalogue (${oneLine(reason)}): is the Skein stack deployed in this account and region, with database ${request.database} and workgroup ${request.workgroup}? (--region, AWS_REGION)`,
    cause === undefined ? undefined : { cause },
  );
}

/** A FAILED or CANCELLED execution as a SkeinError with Athena's reason. */
function executionError(
  state: string,
  execution: QueryExecution | undefined,
  request: Pick<AthenaLookupOptions, 'workgroup' | 'database'>,
): SkeinError {
  const reason = execution?.Status?.AthenaError?.ErrorMessage ?? execution?.Status?.StateChangeReason ?? state;
  if (SCAN_LIMIT.test(reason)) {
    const scanned = execution?.Statistics?.DataScannedInBytes;
    return new SkeinError(
      ATHENA_ERRORS.scanLimit,
      `Athena cancelled the lookup at the workgroup's bytes-scanned limit${scanned ? ` (${formatBytes(scanned)} scanned)` : ''}: narrow it with --since/--until, or raise skein:athenaScanLimitGiB`,
    );
  }
  if (ACCESS_DENIED.test(reason)) {
    return new SkeinError(
      ATHENA_ERRORS.accessDenied,
      `the lookup was denied access (${oneLine(reason)}): the caller needs s3:GetObject/ListBucket on the Skein data bucket and write access to the workgroup's results bucket`,
    );
  }
  if (NOT_FOUND.test(reason)) return notFound(reason, request);
  return new SkeinError(ATHENA_ERRORS.failed, `Athena query ${state}: ${oneLine(reason)}`);
}

/** Athena's strings to the value types of `query/rows.ts`, then the row schema of the table. */
function toQueryRow(table: DataTable, raw: Record<string, string | null>): QueryRow {
  const columns: readonly ColumnDef[] = TABLES[table];
  const values: Record<string, unknown> = {};
  for (const column of columns) values[column.name] = convert(column, raw[column.name] ?? null);
  if (table === 'logs') {
    const parsed = ROW_SCHEMAS.logs.safeParse(values);
    if (parsed.success) return { table, row: parsed.data };
    throw unexpectedRow(table, parsed.error.issues);
  }
  const parsed = ROW_SCHEMAS.spans.safeParse(values);
  if (parsed.success) return { table, row: parsed.data };
  throw unexpectedRow(table, parsed.error.issues);
}

function convert(column: ColumnDef, value: string | null): unknown {
  if (value === null) return null;
  switch (column.type) {
    case 'string':
      return value;
    case 'int32':
      return Number(value);
    case 'int64':
      return /^-?\d+$/.test(value) ? BigInt(value) : value;
    case 'timestamp_ms': {
      // Athena prints TIMESTAMP(3) as `2025-11-25 10:00:01.500`, in UTC (the writer stores UTC-adjusted millis).
      const ms = Date.parse(`${value.replace(' ', 'T')}Z`);
      return Number.isFinite(ms) ? BigInt(ms) : value;
    }
    case 'boolean':
      return value === 'true';
  }
}

function unexpectedRow(table: DataTable, issues: readonly { path: readonly PropertyKey[]; message: string }[]) {
  const issue = issues[0];
  const where = issue ? `column ${issue.path.map(String).join('.')}: ${issue.message}` : 'unknown column';
  return new SkeinError(ATHENA_ERRORS.failed, `an Athena ${table} row does not match schemas/columns.ts (${where})`);
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 300);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Bytes as Athena's console shows them (powers of 1024). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}
