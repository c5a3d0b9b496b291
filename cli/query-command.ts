import { join } from 'node:path';
import { isZeroTraceId, normaliseRequestId, normaliseTraceId } from '../functions/core/ids.ts';
import { formatLookupStats, type LookupStats } from '../query/read-stats.ts';
import { type QueryRow, toJsonRow } from '../query/rows.ts';
import { formatTable } from '../query/table-format.ts';
import { parseTimeRange } from '../query/time-range.ts';
import { formatTimeline } from '../query/timeline.ts';
import { UsageError } from '../schemas/errors.ts';
import { type CliIo, EXIT, parseCommandArgs, runGuarded, usageHint } from './io.ts';
import { localDir } from './local-dir.ts';
import { localEndpoints, progressLine, QUERY_TARGET_OPTIONS } from './query-target.ts';

export const QUERY_USAGE = `Usage: skein query trace <id> [--local <dir> | --athena --workgroup <wg>] [--since <time>] [--until <time>]
                         [--format timeline|ndjson|table | --json] [--stats]
       skein query request <id> (same options)
       skein query search '<filter>' (see skein query search --help)

Finds every span and log line of a trace, or of a request, and prints them as a timeline.

  trace <id>      a trace id: 32 hex digits, a UUID, a W3C traceparent or an X-Ray trace id (Root=1-…)
  request <id>    a request id (x-request-id, awsRequestId, …): the rows carrying that request id plus every row
                  of the traces those rows belong to, i.e. the whole request across all services it touched

Where:
  --local <dir>   query the local stack in <dir> (default .skein; DuckDB over its Parquet files; reads
                  <dir>/endpoints.json); --dir <dir> is the same
  --athena        query Athena (needs AWS credentials in the environment)
  --workgroup <wg>  the Athena workgroup (with --athena)
  --database <db>   the Glue database (with --athena; default skein)
  --region <r>      the AWS region (with --athena; default from the environment)

What:
  --since <time>  read only partitions from this time on: ISO 8601 (2024-05-01T07:30:00Z, UTC unless an offset
                  is given) or a duration ago (90s, 15m, 2h, 1d, 1w)
  --until <time>  read only partitions up to this time (same forms, or 'now')

How:
  --format <f>    timeline (default): spans indented under their parent, log lines under their span;
                  ndjson: one JSON object per row; table: aligned columns
  --json          the same as --format ndjson: "table" ("logs" or "spans") and the table's columns;
                  BIGINT columns as decimal strings, timestamps as ISO 8601
  --stats         after the result, also list every object read (stderr)
  -h, --help      show this help

Without --since/--until a local lookup reads the trace index (the id's compacted bucket plus the recent per-batch
index objects) and then only the data objects it names. With them, the partitions in range are read directly;
partitions are by arrival hour, so the range is widened by an hour on each side. After the result, one line on
stderr says what was read: objects opened, bytes read, row groups read of those objects' total, index objects, time
(with --json: the same as {"stats": …}).

Examples:
  skein query trace 4bf92f3577b34da6a3ce929d0e0e4736 --local .skein
  skein query request 6f1c2e0a-9b7d-4c1e-8f3a-2d5b7e9c1a40 --local .skein --since 2h --format ndjson | jq .body
  skein query trace 4bf92f3577b34da6a3ce929d0e0e4736 --athena --workgroup skein
`;

const BAD_ID = {
  trace: 'not a trace id: expected 32 hex digits, a UUID, a traceparent or an X-Ray trace id',
  request: 'not a request id: expected 1–256 printable characters',
} as const;

const FORMATS = ['timeline', 'ndjson', 'table'] as const;
type Format = (typeof FORMATS)[number];

export interface QueryCommandDeps {
  readonly now?: () => number;
}

/** `skein query trace|request <id>`: see {@link QUERY_USAGE}. */
export async function queryCommand(args: string[], io: CliIo, deps: QueryCommandDeps = {}): Promise<number> {
  if (args[0] === 'search') {
    const { searchCommand } = await import('./search-command.ts');
    return searchCommand(args.slice(1), io, deps);
  }
  return runGuarded(io, usageHint(QUERY_USAGE, 'skein query'), async () => {
    const { values, positionals } = parseCommandArgs(args, {
      ...QUERY_TARGET_OPTIONS,
      json: { type: 'boolean' },
      format: { type: 'string' },
      stats: { type: 'boolean' },
    });
    if (values.help) {
      io.stdout.write(QUERY_USAGE);
      return EXIT.ok;
    }
    const [by, raw, ...extra] = positionals;
    if (by === undefined)
      throw new UsageError("say what to look up: query trace <id>, query request <id> or query search '<filter>'");
    if (by === 'search') throw new UsageError("put search first: skein query search '<filter>' [options]");
    if (by !== 'trace' && by !== 'request') throw new UsageError(`unknown query '${by}': use trace, request or search`);
    if (raw === undefined) throw new UsageError(`missing the ${by} id: skein query ${by} <id>`);
    if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}' after the ${by} id`);
    const id = by === 'trace' ? normaliseTraceId(raw) : normaliseRequestId(raw);
    if (id === undefined && by === 'trace' && isZeroTraceId(raw))
      throw new UsageError(
        `the all-zero trace id is invalid (W3C Trace Context: no trace has it; got '${printable(raw)}')`,
      );
    if (id === undefined) throw new UsageError(`${BAD_ID[by]} (got '${printable(raw)}')`);
    const format = parseFormat(values.format, values.json === true);
    const dir = localDir(values, { flag: '--athena', value: values.athena ? 'athena' : undefined });
    const range = parseTimeRange(values.since, values.until, (deps.now ?? Date.now)());

    if (values.athena) {
      if (values.workgroup === undefined) throw new UsageError('--athena needs --workgroup <wg>');
      if (format === 'table')
        throw new UsageError('--format table is not available with --athena yet: use timeline or ndjson');
      // Loaded here so that --help, usage errors and local lookups answer without the AWS SDK.
      const athena = await import('../query/athena-query.ts');
      return athena.athenaLookupCommand(
        {
          by,
          id,
          since: range.since,
          until: range.until,
          workgroup: values.workgroup,
          database: values.database ?? 'skein',
          region: values.region,
          format: format === 'ndjson' ? 'json' : 'timeline',
        },
        io,
      );
    }
    const endpoints = await localEndpoints(values, dir);
    const progress = progressLine(io);
    // Loaded here so that --help and usage errors answer without DuckDB's native binding.
    const { queryLocal } = await import('../query/local-query.ts');
    const { rows, stats } = await queryLocal({
      dataDir: endpoints.dataDir,
      bucket: endpoints.bucket,
      by,
      id,
      since: range.since,
      until: range.until,
      onProgress: progress.show,
    });
    progress.clear();

    if (rows.length === 0) {
      const message = `no records for ${by} ${id}`;
      // With ndjson stdout stays valid (empty) ndjson; the message goes to stderr.
      if (format === 'ndjson') io.stderr.write(`${message}\n`);
      else io.stdout.write(`${message}\n`);
      if (stats.objectsOpened === 0 && stats.indexObjectsRead === 0)
        io.stderr.write(
          `(no data files under ${join(endpoints.dataDir, endpoints.bucket, 'tables')}${range.since !== undefined || range.until !== undefined ? ' in that time range' : ''}: nothing ingested yet?)\n`,
        );
    } else io.stdout.write(render(rows, format, { by, id }, io));
    writeStats(io, stats, format, values.stats === true);
    return EXIT.ok;
  });
}

function parseFormat(format: string | undefined, json: boolean): Format {
  if (json && format !== undefined && format !== 'ndjson')
    throw new UsageError(`--json is --format ndjson: it cannot go with --format ${format}`);
  if (json) return 'ndjson';
  if (format === undefined) return 'timeline';
  const known = FORMATS.find((f) => f === format);
  if (known === undefined) throw new UsageError(`unknown --format '${format}': use ${FORMATS.join(', ')}`);
  return known;
}

function render(
  rows: readonly QueryRow[],
  format: Format,
  lookup: { by: 'trace' | 'request'; id: string },
  io: CliIo,
): string {
  if (format === 'ndjson') return rows.map((row) => `${JSON.stringify(toJsonRow(row))}\n`).join('');
  if (format === 'table') return formatTable(rows);
  const env = io.env ?? process.env;
  const colour = io.stdout.isTTY === true && !env.NO_COLOR;
  return formatTimeline(rows, lookup, { colour });
}

/** The read summary on stderr: one line for people, one JSON line `{"stats": …}` beside ndjson output. */
function writeStats(io: CliIo, stats: LookupStats, format: Format, detailed: boolean): void {
  if (format === 'ndjson') {
    const { objectKeys, indexKeys, ...totals } = stats;
    const shown = detailed ? stats : { ...totals, latencyMs: Math.round(stats.latencyMs) };
    io.stderr.write(`${JSON.stringify({ stats: shown })}\n`);
    return;
  }
  io.stderr.write(`local (${stats.mode}): ${formatLookupStats(stats)}\n`);
  if (!detailed) return;
  for (const key of stats.indexKeys) io.stderr.write(`  index ${key}\n`);
  for (const key of stats.objectKeys) io.stderr.write(`  data  ${key}\n`);
}

/** The raw id, shortened and with control characters escaped, for an error message. */
function printable(raw: string): string {
  const shown = raw.length > 80 ? `${raw.slice(0, 77)}...` : raw;
  return JSON.stringify(shown).slice(1, -1);
}
