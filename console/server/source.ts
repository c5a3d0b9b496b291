import type { ObjectStore } from '../../functions/core/object-store.ts';
import type { CompiledRuleSet } from '../../functions/shared/rules/compile-rules.ts';
import type { QueryRow } from '../../query/rows.ts';
import type { SearchHit } from '../../query/search/local-search.ts';
import type { SearchQuery } from '../../query/search/traceql.ts';

/** What the console reads, the same for the local stack and a deployed one. */
export interface ConsoleSource {
  /** `local <dir>` or `s3://<bucket>`: shown on every page. */
  readonly where: string;
  /** The data bucket: alert state, outbox, rollups, quarantine, last-run markers. */
  readonly store: ObjectStore;
  /** The rules the evaluator runs, for a rule's value per minute against its threshold (none: state only). */
  readonly rules?: CompiledRuleSet | undefined;
  /** Every row of a trace or a request (the same code paths as `skein query`). */
  lookup(by: 'trace' | 'request', id: string): Promise<{ rows: QueryRow[]; read: string }>;
  /** Traces matching a filter (the same code paths as `skein query search`). */
  search(query: SearchQuery, range: { since: number; until: number }, limit: number): Promise<SearchResult>;
  /** The `skein` options that read the same place (`--local .skein`, `--athena --workgroup wg`). */
  readonly cliTarget: string;
  /** The command that replays the quarantine of this place. */
  readonly replayCommand: string;
}

export interface SearchResult {
  readonly traces: readonly SearchHit[];
  /** What was read, in one line (as the CLI prints it). */
  readonly read: string;
}

/** The local stack's source: DuckDB over s3rver's folder, as `skein query --local`. */
export function localSource(options: {
  readonly dir: string;
  readonly dataDir: string;
  readonly bucket: string;
  readonly store: ObjectStore;
  readonly rules?: CompiledRuleSet | undefined;
}): ConsoleSource {
  const { dataDir, bucket } = options;
  return {
    where: `local ${options.dir}`,
    store: options.store,
    rules: options.rules,
    cliTarget: `--local ${options.dir}`,
    replayCommand: `skein replay --local ${options.dir}`,
    async lookup(by, id) {
      const [{ queryLocal }, { formatLookupStats }] = await Promise.all([
        import('../../query/local-query.ts'),
        import('../../query/read-stats.ts'),
      ]);
      const { rows, stats } = await queryLocal({ dataDir, bucket, by, id });
      return { rows, read: `local (${stats.mode}): ${formatLookupStats(stats)}` };
    },
    async search(query, range, limit) {
      const [{ searchLocal }, { formatLookupStats }] = await Promise.all([
        import('../../query/search/local-search.ts'),
        import('../../query/read-stats.ts'),
      ]);
      const { traces, stats } = await searchLocal({ dataDir, bucket, query, range, limit });
      return { traces, read: `local (search): ${formatLookupStats(stats)}` };
    },
  };
}

/** A deployed stack: lookups and searches through Athena, the rest from the bucket, as `skein query --athena`. */
export function athenaSource(options: {
  readonly bucket: string;
  readonly store: ObjectStore;
  readonly workgroup: string;
  readonly database: string;
  readonly region?: string | undefined;
  readonly rules?: CompiledRuleSet | undefined;
}): ConsoleSource {
  const region = options.region ? ` --region ${options.region}` : '';
  const client = async () => {
    const { AthenaClient } = await import('@aws-sdk/client-athena');
    return new AthenaClient(options.region ? { region: options.region } : {});
  };
  return {
    where: `s3://${options.bucket} (Athena workgroup ${options.workgroup})`,
    store: options.store,
    rules: options.rules,
    cliTarget: `--athena --workgroup ${options.workgroup}${region}`,
    replayCommand: `skein replay --bucket ${options.bucket}${region}`,
    async lookup(by, id) {
      const { runAthenaLookup, formatBytes } = await import('../../query/athena-query.ts');
      const { rows, stats } = await runAthenaLookup(await client(), {
        by,
        id,
        workgroup: options.workgroup,
        database: options.database,
      });
      return { rows, read: `athena: ${stats.queries} queries, ${formatBytes(stats.bytesScanned)} scanned` };
    },
    async search(query, range, limit) {
      const { runAthenaSearch } = await import('../../query/search/athena-search.ts');
      const { formatBytes } = await import('../../query/athena-query.ts');
      const result = await runAthenaSearch(await client(), {
        query,
        range,
        limit,
        workgroup: options.workgroup,
        database: options.database,
      });
      return { traces: result.traces, read: `athena (search): ${formatBytes(result.bytesScanned)} scanned` };
    },
  };
}
