import { formatLookupStats } from '../query/read-stats.ts';
import type { SearchStats } from '../query/search/local-search.ts';
import { formatSearchTable, toJsonTrace } from '../query/search/search-format.ts';
import { formatSearchError, parseSearch } from '../query/search/traceql.ts';
import { parseTimeRange } from '../query/time-range.ts';
import { UsageError } from '../schemas/errors.ts';
import { type CliIo, EXIT, parseCommandArgs, runGuarded, usageHint } from './io.ts';
import { localDir } from './local-dir.ts';
import { localEndpoints, progressLine, QUERY_TARGET_OPTIONS } from './query-target.ts';

export const SEARCH_USAGE = `Usage: skein query search '<filter>' [--local <dir> | --athena --workgroup <wg>] [--since <time>] [--until <time>]
                                [--limit <n>] [--json] [--stats]

Finds traces by what they did, in the TraceQL subset Grafana Tempo users type (docs/search.md), newest first.

  { resource.service.name = "orders" && status = error }    an error span of orders (one span satisfies both)
  { duration > 500ms }                                     a span slower than 500 ms
  { name = "GET /orders/{id}" }                            a span of that name
  { span.http.status_code >= 500 }                         a span attribute, compared as a number
  { status = error } && { resource.service.name = "web" }   both in the same trace, not necessarily one span

Fields: name, status (error ok unset), kind, duration, statusMessage, traceDuration, rootName, rootServiceName,
span.<key>, resource.<key>, .<key>; operators = != > >= < <= =~ !~; && and || inside and between spansets.
Pipelines, aggregates, structural operators (>> > ~ …), select() and arithmetic are refused with the column.

Where:
  --local <dir>   search the local stack in <dir> (default .skein); --dir <dir> is the same
  --athena        search with Athena (needs AWS credentials); --workgroup <wg>, --database <db>, --region <r>

What:
  --since <time>  from this time (default 1h ago): ISO 8601 or a duration ago (15m, 2h, 1d)
  --until <time>  up to this time (default now)
  --limit <n>     at most n traces (default 20)

How:
  --json          one JSON object per trace on stdout; the read summary as {"stats": …} on stderr
  --stats         also list every object read (stderr)

What the index holds (services, the services of error spans, the error flag, root span, time range, counts) is
answered from the index alone and reads no data object; other conditions read the spans of the traces the index could
not rule out, from the objects it names for them, newest first until --limit traces are certain. One line on stderr
says what was read.

Examples:
  skein query search '{ resource.service.name = "orders" && status = error }' --local .skein --since 15m
  skein query search '{ span.http.status_code >= 500 && duration > 1s }' --local .skein --since 2h --json
`;

const DEFAULT_SINCE = '1h';
const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 10_000;

export interface SearchCommandDeps {
  readonly now?: () => number;
}

/** `skein query search '<filter>'`: see {@link SEARCH_USAGE}. `args` start after `search`. */
export function searchCommand(args: string[], io: CliIo, deps: SearchCommandDeps = {}): Promise<number> {
  return runGuarded(io, usageHint(SEARCH_USAGE, 'skein query search'), async () => {
    const { values, positionals } = parseCommandArgs(args, {
      ...QUERY_TARGET_OPTIONS,
      limit: { type: 'string' },
      json: { type: 'boolean' },
      stats: { type: 'boolean' },
    });
    if (values.help) {
      io.stdout.write(SEARCH_USAGE);
      return EXIT.ok;
    }
    const [filter, ...extra] = positionals;
    if (filter === undefined)
      throw new UsageError(`missing the filter: skein query search '{ resource.service.name = "orders" }'`);
    if (extra.length > 0)
      throw new UsageError(`unexpected argument '${extra[0]}' after the filter: quote the whole filter once`);
    const parsed = parseSearch(filter);
    if (!parsed.ok) {
      // Not a UsageError: the caret needs its own lines.
      io.stderr.write(`skein: ${formatSearchError(filter, parsed.error)}\n`);
      return EXIT.usage;
    }
    const limit = parseLimit(values.limit);
    const now = (deps.now ?? Date.now)();
    const range = parseTimeRange(values.since ?? DEFAULT_SINCE, values.until, now);
    const bounded = { since: range.since, until: range.until ?? now };
    const dir = localDir(values, { flag: '--athena', value: values.athena ? 'athena' : undefined });
    const json = values.json === true;

    if (values.athena) {
      if (values.workgroup === undefined) throw new UsageError('--athena needs --workgroup <wg>');
      const athena = await import('../query/search/athena-search.ts');
      return athena.athenaSearchCommand(
        {
          query: parsed.query,
          filter,
          range: bounded,
          limit,
          workgroup: values.workgroup,
          database: values.database ?? 'skein',
          region: values.region,
          json,
        },
        io,
      );
    }
    const endpoints = await localEndpoints(values, dir);
    const progress = progressLine(io);
    // Loaded here so that --help and usage errors answer without DuckDB's native binding.
    const { searchLocal } = await import('../query/search/local-search.ts');
    const { traces, stats } = await searchLocal({
      dataDir: endpoints.dataDir,
      bucket: endpoints.bucket,
      query: parsed.query,
      range: bounded,
      limit,
      onProgress: progress.show,
    });
    progress.clear();
    if (json) for (const t of traces) io.stdout.write(`${JSON.stringify(toJsonTrace(t))}\n`);
    else if (traces.length === 0) io.stdout.write('no traces match in that time range\n');
    else io.stdout.write(formatSearchTable(traces));
    writeStats(io, stats, json, values.stats === true);
    return EXIT.ok;
  });
}

function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_LIMIT;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > MAX_LIMIT)
    throw new UsageError(`--limit ${raw}: expected a whole number from 1 to ${MAX_LIMIT}`);
  return n;
}

function writeStats(io: CliIo, stats: SearchStats, json: boolean, detailed: boolean): void {
  if (json) {
    const { objectKeys, indexKeys, ...totals } = stats;
    const shown = detailed ? stats : { ...totals, latencyMs: Math.round(stats.latencyMs) };
    io.stderr.write(`${JSON.stringify({ stats: shown })}\n`);
    return;
  }
  io.stderr.write(
    `local (search): ${formatLookupStats(stats)}; ${stats.candidates} candidate trace(s), ${stats.decidedByIndex} decided by the index, ${stats.readFromData} read\n`,
  );
  if (!detailed) return;
  for (const key of stats.indexKeys) io.stderr.write(`  index ${key}\n`);
  for (const key of stats.objectKeys) io.stderr.write(`  data  ${key}\n`);
}
