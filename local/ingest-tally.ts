/** What the counters of one ingested batch look like (`BatchSummary` of functions/ingest/ingest-batch.ts). */
export interface BatchCounts {
  readonly rowsByFormat: Readonly<Record<string, number>>;
  readonly quarantinedByReason: Readonly<Record<string, number>>;
  readonly controlMessages: number;
}

/** Rows per format, quarantine entries per reason and dropped control messages of every batch ingested so far. */
export class IngestTally {
  readonly rowsByFormat = new Map<string, number>();
  readonly quarantinedByReason = new Map<string, number>();
  controlMessages = 0;

  add(batch: BatchCounts): void {
    for (const [format, n] of Object.entries(batch.rowsByFormat)) addTo(this.rowsByFormat, format, n);
    for (const [reason, n] of Object.entries(batch.quarantinedByReason)) addTo(this.quarantinedByReason, reason, n);
    this.controlMessages += batch.controlMessages;
  }

  /** `rows json-lines 120, otlp-json 30; quarantined invalid_json 2; 1 control message dropped` */
  describe(): string {
    const rows = this.rowsByFormat.size === 0 ? 'rows 0' : `rows ${counts(this.rowsByFormat)}`;
    const quarantined =
      this.quarantinedByReason.size === 0 ? 'quarantined 0' : `quarantined ${counts(this.quarantinedByReason)}`;
    const control =
      this.controlMessages > 0
        ? `; ${this.controlMessages} control message${this.controlMessages === 1 ? '' : 's'} dropped`
        : '';
    return `${rows}; ${quarantined}${control}`;
  }
}

function addTo(map: Map<string, number>, key: string, n: number): void {
  map.set(key, (map.get(key) ?? 0) + n);
}

function counts(map: ReadonlyMap<string, number>): string {
  return [...map]
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
}
