import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../functions/core/logger.ts';
import { memoryObjectStore } from '../../functions/core/object-store.ts';
import { loadIngestConfig } from '../../functions/ingest/config.ts';
import { ingest } from '../../functions/ingest/ingest-batch.ts';
import { writeParquet } from '../../functions/shared/parquet/parquet-writer.ts';
import type { ColumnDef } from '../../schemas/columns.ts';
import { cloudWatchBenchRecords, kplBenchRecords } from '../bench/kpl-cloudwatch.bench-input.ts';
import { otlpBenchRecords } from '../bench/otlp-fixtures.bench-input.ts';
import { syntheticRecords } from '../bench/workload.ts';
import { aKinesisEvent } from '../builders/kinesis.ts';

/**
 * Golden bytes: the sha256 of what the Parquet writer and `ingest()` write for fixed inputs, computed before the
 * writer was split and the ingest path was tuned (D25). Any change here is a change of the files on S3: it must be
 * deliberate, recorded in docs/decisions.md, and these digests updated in the same commit.
 */

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Every column type, nullable and not, plain and dictionary, with one dictionary that outgrows 1 MiB. */
const COLUMNS = [
  { name: 'trace_id', type: 'string', nullable: true, comment: 'sorted key' },
  { name: 'service', type: 'string', nullable: true, dictionary: true, comment: 'low cardinality' },
  { name: 'unique', type: 'string', nullable: false, dictionary: true, comment: 'dictionary falls back to PLAIN' },
  { name: 'body', type: 'string', nullable: false, comment: 'pages over 1 MiB, some non-ASCII' },
  { name: 'status', type: 'int32', nullable: false, dictionary: true, comment: 'int32 dictionary' },
  { name: 'delta', type: 'int32', nullable: true, comment: 'signed' },
  { name: 'nanos', type: 'int64', nullable: true, comment: 'beyond 2^53' },
  { name: 'kind', type: 'int64', nullable: true, dictionary: true, comment: 'int64 dictionary' },
  { name: 'time', type: 'timestamp_ms', nullable: false, comment: 'epoch ms' },
  { name: 'minute', type: 'timestamp_ms', nullable: true, dictionary: true, comment: 'timestamp dictionary' },
  { name: 'ok', type: 'boolean', nullable: true, comment: 'flag' },
  { name: 'always', type: 'boolean', nullable: false, comment: 'required flag' },
] as const satisfies readonly ColumnDef[];

function fixedRows(count: number): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const hex = (i * 2_654_435_761).toString(16).padStart(8, '0').slice(-8);
    rows.push({
      trace_id: i % 7 === 0 ? null : hex.repeat(4),
      service: i % 11 === 0 ? null : ['orders', 'payments', 'größe-ü', '🚀-svc'][i % 4],
      unique: `${hex}-${'u'.repeat(500)}-${i}`,
      body: `${i % 13 === 0 ? 'naïve ' : ''}line ${i} ${'x'.repeat(i % 900)}`,
      status: [200, 404, 500][i % 3],
      delta: i % 5 === 0 ? null : (i % 2 === 0 ? -i : i) * 7919,
      nanos: i % 9 === 0 ? null : 1_767_225_600_123_456_789n + BigInt(i) * 1_000_003n,
      kind: i % 6 === 0 ? null : BigInt(i % 3),
      time: 1_767_225_600_000 + i * 17,
      minute: i % 4 === 0 ? null : 1_767_225_600_000 + Math.floor(i / 100) * 60_000,
      ok: i % 3 === 0 ? null : i % 2 === 0,
      always: i % 10 !== 0,
    });
  }
  return rows;
}

describe('Parquet bytes stay identical (golden digests)', () => {
  it.each([
    ['gzip', 'd0e0014d13dc18c8af071c1c65b5bea2510ae1aae16fe8855b2a03c30ac6ac02'],
    ['none', '02cd961da62803e9254f30a5fd9c2218121bd070e721f5ac0b7d4b6d17c273cc'],
  ] as const)('writes the same %s file for a fixed set of rows of every column type', (compression, expected) => {
    // Prepare
    const rows = fixedRows(6_000);

    // Act
    const bytes = writeParquet(COLUMNS, rows, { rowGroupRows: 2_500, compression });

    // Assess
    expect(sha256(bytes)).toBe(expected);
  });

  it('ingest writes the same logs, spans and trace index objects for a fixed input of every format', async () => {
    // Prepare
    const otlp = otlpBenchRecords(60);
    const records: Uint8Array[] = [
      ...syntheticRecords(1_500).map((r) => Buffer.from(r)),
      ...otlp.protoGzip,
      ...otlp.json,
      ...kplBenchRecords(40),
      ...cloudWatchBenchRecords(40),
    ];
    const config = loadIngestConfig({ SKEIN_BUCKET: 'golden', SKEIN_ROW_GROUP_ROWS: '1000' });
    const logger = createLogger({ service: 'golden', level: 'error', write: () => {} });
    const store = memoryObjectStore();

    // Act
    for (let i = 0; i < records.length; i += 500) {
      const event = aKinesisEvent(records.slice(i, i + 500), {
        firstSeq: 49650000000000000000000000000000000000000000000000000001n + BigInt(i) * 1000n,
      });
      await ingest(event.Records, { store, config, clock: () => 1_764_104_400_000, logger });
    }

    // Assess
    const digests = [...store.objects.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, body]) => `${key} ${sha256(body)}`);
    expect(digests).toEqual(INGEST_DIGESTS);
  });
});

const INGEST_DIGESTS = [
  'tables/logs/dt=2026-11-25/hour=21/shardId-000000000000-49650000000000000000000000000000000000000000000000000001.parquet c242c2eea0056e17baa4a548b3078b6f968cf44be98c8a835b3f211a48dd2604',
  'tables/logs/dt=2026-11-25/hour=21/shardId-000000000000-49650000000000000000000000000000000000000000000000500001.parquet a585bfd55e5916a866d68d64a925e8a6588cd99fc409d9c34360869c7ab6d500',
  'tables/logs/dt=2026-11-25/hour=21/shardId-000000000000-49650000000000000000000000000000000000000000000001000001.parquet 5c9cfe9bc218077ca881fbf34171ba8e613f1e85b492fb8dbfa48cca5c30805e',
  'tables/logs/dt=2026-11-25/hour=21/shardId-000000000000-49650000000000000000000000000000000000000000000001500001.parquet 44de0b66dac695d21da5a191c7b87cbfdd294832cd521fbcca686aef73642211',
  'tables/spans/dt=2026-11-25/hour=21/shardId-000000000000-49650000000000000000000000000000000000000000000000000001.parquet ce1995525aee819822c736769ebf950d84b50ad6143f518a5618a5300f0db6e1',
  'tables/spans/dt=2026-11-25/hour=21/shardId-000000000000-49650000000000000000000000000000000000000000000000500001.parquet 6d99f8cdca3e3629fa66d6be69c4ad7f600a6e9dfe018c02c32d9c27ebcc6cb5',
  'tables/spans/dt=2026-11-25/hour=21/shardId-000000000000-49650000000000000000000000000000000000000000000001000001.parquet d5f5224a7325fda6cdb596d7b6251adef4664eaace18eb99fdbabcb1c185b958',
  'tables/spans/dt=2026-11-25/hour=21/shardId-000000000000-49650000000000000000000000000000000000000000000001500001.parquet 80d9944e5e9b9562552412250fa9efd119a52c114852b8527fcbcfd0a61e5825',
  'tables/trace_index/dt=2026-11-25/hour=21/shardId-000000000000-49650000000000000000000000000000000000000000000000000001.parquet 52f6d3ac057bc46606159223ac076e952a88077709b97eaa0b9094cf0967043f',
  'tables/trace_index/dt=2026-11-25/hour=21/shardId-000000000000-49650000000000000000000000000000000000000000000000500001.parquet 6e788d3b32f82bbb430d79ed4dea5bfd502f18a0faa92583679234fb6d231fa9',
  'tables/trace_index/dt=2026-11-25/hour=21/shardId-000000000000-49650000000000000000000000000000000000000000000001000001.parquet dd40c5b4ac649f0265713e3f6917700e4a09e50433741ea6d81a6aad9f5e6a1c',
  'tables/trace_index/dt=2026-11-25/hour=21/shardId-000000000000-49650000000000000000000000000000000000000000000001500001.parquet 73fb473dadaf3439113e38bca2f33e97391ff34143765e4a5bc537c66cc58ee1',
];
