import { AthenaClient } from '@aws-sdk/client-athena';
import { type AthenaProgress, type AthenaRunDeps, formatBytes, runStatement } from '../athena-query.ts';
import type { OutputStreams } from '../output.ts';
import type { SearchHit } from './local-search.ts';
import { formatSearchTable, toJsonTrace } from './search-format.ts';
import { isIndexSearch, searchSql } from './search-queries.ts';
import type { SearchQuery } from './traceql.ts';

/** What `skein query search … --athena` asks for. */
export interface AthenaSearchOptions {
  readonly query: SearchQuery;
  readonly filter: string;
  readonly range: { readonly since?: number | undefined; readonly until: number };
  readonly limit: number;
  readonly workgroup: string;
  readonly database: string;
  readonly region?: string | undefined;
  readonly json: boolean;
}

const HOUR_MS = 3_600_000;

/**
 * Runs a search as one Athena statement ({@link searchSql}: from the trace index alone when every condition is a
 * service condition or `status = error`, else over the spans of the range), prints the traces like the local path
 * and ends with the bytes Athena scanned.
 */
export async function athenaSearchCommand(
  options: AthenaSearchOptions,
  io: OutputStreams,
  deps: AthenaRunDeps & { readonly client?: AthenaClient } = {},
): Promise<number> {
  const client = deps.client ?? new AthenaClient(options.region ? { region: options.region } : {});
  const tty = io.stderr.isTTY === true;
  let lastState = '';
  const onProgress = (p: AthenaProgress) => {
    const line = `athena search: ${p.state} ${(p.elapsedMs / 1000).toFixed(1)} s, ${formatBytes(p.bytesScanned)} scanned`;
    if (tty) io.stderr.write(`\r\x1b[K${line}`);
    else if (p.state !== lastState) io.stderr.write(`${line}\n`);
    lastState = p.state;
  };
  const result = await runAthenaSearch(client, options, { ...deps, onProgress });
  if (tty) io.stderr.write('\r\x1b[K');
  const { traces } = result;
  if (options.json) for (const t of traces) io.stdout.write(`${JSON.stringify(toJsonTrace(t))}\n`);
  else if (traces.length === 0) io.stdout.write('no traces match in that time range\n');
  else io.stdout.write(formatSearchTable(traces));
  io.stderr.write(
    `athena (search, ${isIndexSearch(options.query) ? 'trace index only' : 'spans of the range'}): ${formatBytes(result.bytesScanned)} scanned, engine ${(result.engineMs / 1000).toFixed(1)} s\n`,
  );
  return 0;
}

/** What one Athena search returns: the traces, newest first, and what Athena scanned. */
export interface AthenaSearchResult {
  readonly traces: SearchHit[];
  readonly bytesScanned: number;
  readonly engineMs: number;
}

/** Runs a search as one Athena statement ({@link searchSql}); `skein query search --athena` and the console. */
export async function runAthenaSearch(
  client: AthenaClient,
  options: Pick<AthenaSearchOptions, 'query' | 'range' | 'limit' | 'workgroup' | 'database'>,
  deps: AthenaRunDeps = {},
): Promise<AthenaSearchResult> {
  const since = options.range.since ?? options.range.until - HOUR_MS;
  const sql = searchSql(options.query, { since, until: options.range.until, limit: options.limit }, options.database);
  const result = await runStatement(client, sql, options, 'search', deps);
  return { traces: result.rows.map(toHit), bytesScanned: result.bytesScanned, engineMs: result.engineMs };
}

/** A result row (Athena returns strings) as a search hit. */
function toHit(row: Record<string, string | null>): SearchHit {
  const int = (v: string | null | undefined) => (v === null || v === '' ? null : Number(v));
  const start = Date.parse(`${(row.start_time ?? '').replace(' ', 'T')}Z`);
  return {
    traceId: row.trace_id ?? '',
    startMs: Number.isFinite(start) ? start : 0,
    durationMs: int(row.duration_ms) ?? 0,
    rootService: row.root_service ?? null,
    rootName: row.root_name ?? null,
    services: (row.services ?? '').split(',').filter((s) => s !== ''),
    spans: int(row.spans) ?? 0,
    logs: int(row.logs) ?? 0,
    errors: int(row.errors),
    matchedSpans: null,
  };
}
