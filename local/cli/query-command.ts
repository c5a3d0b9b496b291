import { join } from 'node:path';
import { UsageError } from '../../functions/core/errors.ts';
import { normaliseRequestId, normaliseTraceId } from '../../functions/core/ids.ts';
import { readEndpoints } from '../endpoints.ts';
import { toJsonRow } from '../query/rows.ts';
import { parseTimeRange } from '../query/time-range.ts';
import { formatTimeline } from '../query/timeline.ts';
import { type CliIo, EXIT, parseCommandArgs, runGuarded, usageHint } from './io.ts';

export const QUERY_USAGE = `Usage: skein query trace <id> --local <dir> [--since <time>] [--until <time>] [--json]
       skein query request <id> --local <dir> [--since <time>] [--until <time>] [--json]

Finds every span and log line of a trace, or of a request, and prints them as a timeline.

  trace <id>      a trace id: 32 hex digits, a UUID, a W3C traceparent or an X-Ray trace id (Root=1-…)
  request <id>    a request id (x-request-id, awsRequestId, …): the rows carrying that request id plus every row
                  of the traces those rows belong to, i.e. the whole request across all services it touched

Options:
  --local <dir>   query the local stack in <dir> (DuckDB over its Parquet files; reads <dir>/endpoints.json)
  --athena        query Athena (not available yet)
  --since <time>  read only partitions from this time on: ISO 8601 (2024-05-01T07:30:00Z, UTC unless an offset
                  is given) or a duration ago (90s, 15m, 2h, 1d, 1w)
  --until <time>  read only partitions up to this time (same forms, or 'now')
  --json          one JSON object per row (ndjson): "table" ("logs" or "spans") and the table's columns;
                  BIGINT columns as decimal strings, timestamps as ISO 8601
  -h, --help      show this help

Partitions are by arrival hour, so --since/--until are widened by an hour on each side; every row of the trace
found in the partitions read is shown. Without them, all partitions are read.

Examples:
  skein query trace 4bf92f3577b34da6a3ce929d0e0e4736 --local .skein
  skein query request 6f1c2e0a-9b7d-4c1e-8f3a-2d5b7e9c1a40 --local .skein --since 2h --json | jq .body
`;

const BAD_ID = {
  trace: 'not a trace id: expected 32 hex digits, a UUID, a traceparent or an X-Ray trace id',
  request: 'not a request id: expected 1–256 printable characters',
} as const;

export interface QueryCommandDeps {
  readonly now?: () => number;
}

/** `skein query trace|request <id>`: see {@link QUERY_USAGE}. */
export function queryCommand(args: string[], io: CliIo, deps: QueryCommandDeps = {}): Promise<number> {
  return runGuarded(io, usageHint(QUERY_USAGE, 'skein query'), async () => {
    const { values, positionals } = parseCommandArgs(args, {
      local: { type: 'string' },
      athena: { type: 'boolean' },
      since: { type: 'string' },
      until: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (values.help) {
      io.stdout.write(QUERY_USAGE);
      return EXIT.ok;
    }
    const [by, raw, ...extra] = positionals;
    if (by === undefined) throw new UsageError('say what to look up: query trace <id> or query request <id>');
    if (by !== 'trace' && by !== 'request') throw new UsageError(`unknown query '${by}': use trace or request`);
    if (raw === undefined) throw new UsageError(`missing the ${by} id: skein query ${by} <id>`);
    if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}' after the ${by} id`);
    const id = by === 'trace' ? normaliseTraceId(raw) : normaliseRequestId(raw);
    if (id === undefined) throw new UsageError(`${BAD_ID[by]} (got '${printable(raw)}')`);
    if (values.athena) {
      if (values.local !== undefined) throw new UsageError('give either --local <dir> or --athena, not both');
      throw new UsageError('--athena is not available yet: use --local <dir> against the local stack');
    }
    if (values.local === undefined) throw new UsageError('--local <dir> is required (the folder of skein local up)');
    const range = parseTimeRange(values.since, values.until, (deps.now ?? Date.now)());

    const endpoints = await readEndpoints(values.local);
    // Loaded here so that --help and usage errors answer without DuckDB's native binding.
    const { queryLocal } = await import('../query/local-query.ts');
    const { rows, filesScanned } = await queryLocal({
      dataDir: endpoints.dataDir,
      bucket: endpoints.bucket,
      by,
      id,
      since: range.since,
      until: range.until,
    });

    if (rows.length === 0) {
      const message = `no records for ${by} ${id}`;
      // With --json stdout stays valid (empty) ndjson; the message goes to stderr.
      if (values.json) io.stderr.write(`${message}\n`);
      else io.stdout.write(`${message}\n`);
      if (filesScanned === 0)
        io.stderr.write(
          `(no data files under ${join(endpoints.dataDir, endpoints.bucket, 'tables')}${range.since !== undefined || range.until !== undefined ? ' in that time range' : ''}: nothing ingested yet?)\n`,
        );
      return EXIT.ok;
    }
    if (values.json) {
      for (const row of rows) io.stdout.write(`${JSON.stringify(toJsonRow(row))}\n`);
      return EXIT.ok;
    }
    const env = io.env ?? process.env;
    const colour = io.stdout.isTTY === true && !env.NO_COLOR;
    io.stdout.write(formatTimeline(rows, { by, id }, { colour }));
    return EXIT.ok;
  });
}

/** The raw id, shortened and with control characters escaped, for an error message. */
function printable(raw: string): string {
  const shown = raw.length > 80 ? `${raw.slice(0, 77)}...` : raw;
  return JSON.stringify(shown).slice(1, -1);
}
