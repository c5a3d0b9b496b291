import type { Endpoints } from '../../local/endpoints.ts';
import { listTableFiles } from '../../query/local-query.ts';
import { duckQuery } from '../support/duckdb.ts';
import { s3rverFolderStore } from '../support/s3rver-folder-store.ts';
import type { GeneratedRecord } from './hostile-records.ts';

/**
 * Reconciliation after a scenario: what went in (the records the stream accepted, each with what must become of it)
 * against what readers see (the visible rows of every table, by the compaction visibility rule, read with DuckDB as
 * Athena would read them) and what the quarantine holds.
 */
export interface Reconciliation {
  /** Records expected to become rows, and distinct ones found as rows. */
  readonly expectedRows: number;
  readonly foundRows: number;
  /** Ids with no row, ids with more than one row, rows that belong to no accepted record. */
  readonly missing: readonly string[];
  readonly doubled: readonly string[];
  readonly unexpected: readonly string[];
  /** Records expected in the quarantine, and found there with the expected reason. */
  readonly expectedQuarantined: number;
  readonly quarantinedByReason: Readonly<Record<string, number>>;
  /** Ids quarantined with another reason than expected (`id: want → got`), not at all, or more than once. */
  readonly wrongReason: readonly string[];
  readonly notQuarantined: readonly string[];
  readonly quarantinedTwice: readonly string[];
  /** Flags rows should carry and do not (`id: flag`). */
  readonly missingFlags: readonly string[];
}

const ID_IN_BODY = /^(?:good|hostile) (\S+)/;

/** Reads the local store and compares it with `accepted`. */
export async function reconcile(
  endpoints: Pick<Endpoints, 'dataDir' | 'bucket'>,
  accepted: readonly GeneratedRecord[],
  options: { readonly idPrefix?: string; readonly expectedFlags?: ReadonlyMap<string, string> } = {},
): Promise<Reconciliation> {
  const expectedFlags = options.expectedFlags ?? new Map<string, string>();
  const ours = (id: string) => options.idPrefix === undefined || id.startsWith(options.idPrefix);
  const rowsById = new Map<string, number>();
  const flagsById = new Map<string, string>();
  const unexpected: string[] = [];
  const count = (id: string) => rowsById.set(id, (rowsById.get(id) ?? 0) + 1);

  const logFiles = await listTableFiles(endpoints.dataDir, endpoints.bucket, 'logs');
  if (logFiles.length > 0) {
    for (const row of await duckQuery(`SELECT body, ingest_flags FROM read_parquet(${fileList(logFiles)})`)) {
      const id = ID_IN_BODY.exec(String(row.body ?? ''))?.[1];
      if (id === undefined) unexpected.push(`log row "${String(row.body).slice(0, 60)}"`);
      else if (ours(id)) {
        count(id);
        flagsById.set(id, String(row.ingest_flags ?? ''));
      }
    }
  }
  const spanIds = new Map<string, string>();
  for (const r of accepted) if (r.expect.kind === 'span') spanIds.set(r.expect.spanId, r.expect.id);
  const spanFiles = await listTableFiles(endpoints.dataDir, endpoints.bucket, 'spans');
  if (spanFiles.length > 0) {
    for (const row of await duckQuery(`SELECT span_id FROM read_parquet(${fileList(spanFiles)})`)) {
      const id = spanIds.get(String(row.span_id));
      if (id !== undefined) count(id);
      else if (options.idPrefix === undefined) unexpected.push(`span ${String(row.span_id)}`);
    }
  }

  const quarantined = new Map<string, string[]>();
  const store = s3rverFolderStore(endpoints.dataDir, endpoints.bucket);
  for (const key of await store.list('quarantine/')) {
    const body = await store.get(key);
    if (body === undefined) continue;
    for (const line of Buffer.from(body).toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      const entry = JSON.parse(line) as { partition_key?: unknown; reason?: unknown };
      const id = String(entry.partition_key);
      if (!ours(id)) continue;
      quarantined.set(id, [...(quarantined.get(id) ?? []), String(entry.reason)]);
    }
  }

  const missing: string[] = [];
  const doubled: string[] = [];
  const wrongReason: string[] = [];
  const notQuarantined: string[] = [];
  const quarantinedTwice: string[] = [];
  const missingFlags: string[] = [];
  const byReason: Record<string, number> = {};
  let expectedRows = 0;
  let expectedQuarantined = 0;
  let foundRows = 0;
  const expectedIds = new Set<string>();
  for (const record of accepted) {
    const { expect } = record;
    expectedIds.add(expect.id);
    if (expect.kind === 'quarantine') {
      expectedQuarantined++;
      const reasons = quarantined.get(expect.id) ?? [];
      if (reasons.length === 0) notQuarantined.push(`${expect.id} (${record.label})`);
      else if (reasons.length > 1) quarantinedTwice.push(`${expect.id} ×${reasons.length}`);
      for (const reason of new Set(reasons)) {
        byReason[reason] = (byReason[reason] ?? 0) + 1;
        if (reason !== expect.reason) wrongReason.push(`${expect.id}: ${expect.reason} → ${reason}`);
      }
      if ((rowsById.get(expect.id) ?? 0) > 0) unexpected.push(`${expect.id} has rows but should be quarantined`);
      continue;
    }
    expectedRows++;
    const n = rowsById.get(expect.id) ?? 0;
    if (n === 0) missing.push(`${expect.id} (${record.label})`);
    else foundRows++;
    if (n > 1) doubled.push(`${expect.id} ×${n}`);
    const flag = (expect.kind === 'log' ? expect.flag : undefined) ?? expectedFlags.get(expect.id);
    if (flag !== undefined && n > 0 && !(flagsById.get(expect.id) ?? '').includes(flag)) {
      missingFlags.push(`${expect.id}: ${flag}`);
    }
  }
  for (const id of rowsById.keys()) if (!expectedIds.has(id)) unexpected.push(`row of ${id}`);
  return {
    expectedRows,
    foundRows,
    missing,
    doubled,
    unexpected,
    expectedQuarantined,
    quarantinedByReason: byReason,
    wrongReason,
    notQuarantined,
    quarantinedTwice,
    missingFlags,
  };
}

/** The failures of a reconciliation, one short line each (ids listed, at most 20 per kind); empty when it holds. */
export function reconciliationFailures(r: Reconciliation): string[] {
  const lines: string[] = [];
  const list = (what: string, ids: readonly string[]) => {
    if (ids.length > 0)
      lines.push(`${ids.length} ${what}: ${ids.slice(0, 20).join(', ')}${ids.length > 20 ? ' …' : ''}`);
  };
  list('missing', r.missing);
  list('doubled', r.doubled);
  list('unexpected', r.unexpected);
  list('quarantined with the wrong reason', r.wrongReason);
  list('not quarantined', r.notQuarantined);
  list('quarantined more than once', r.quarantinedTwice);
  list('rows without their flag', r.missingFlags);
  return lines;
}

function fileList(files: readonly string[]): string {
  return `[${files.map((f) => `'${f.replaceAll("'", "''")}'`).join(', ')}]`;
}
