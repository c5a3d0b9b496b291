import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { INDEX_BUCKETS, MANIFEST_COLUMNS } from '../../../lib/query.ts';
import { namedLookupQueries, VIEW_NAMES, viewColumns, viewSql } from '../../../query/named-queries.ts';
import { namedSearchQueries } from '../../../query/search/search-queries.ts';
import {
  glueType,
  INDEX_BUCKET_PARTITION_KEYS,
  PARTITION_KEYS,
  TABLES,
  TRACE_INDEX_COLUMNS,
} from '../../../schemas/columns.ts';
import { CompactionManifest } from '../../../schemas/compaction.ts';
import { synthTemplate } from '../../support/cdk.ts';

const GlueTable = z.object({
  Properties: z.object({
    TableInput: z.object({
      Name: z.string(),
      TableType: z.string(),
      Parameters: z.record(z.string(), z.unknown()),
      PartitionKeys: z.array(z.unknown()),
      ViewOriginalText: z.string().optional(),
      ViewExpandedText: z.string().optional(),
      StorageDescriptor: z.looseObject({ Columns: z.array(z.object({ Name: z.string(), Type: z.string() }).loose()) }),
    }),
  }),
});
type GlueTableInput = z.infer<typeof GlueTable>['Properties']['TableInput'];

const PrestoView = z.object({
  originalSql: z.string(),
  catalog: z.string(),
  schema: z.string(),
  columns: z.array(z.object({ name: z.string(), type: z.string() })),
});

const DT_PROJECTION = {
  'projection.dt.type': 'date',
  'projection.dt.format': 'yyyy-MM-dd',
  'projection.dt.range': '2024-01-01,NOW',
  'projection.dt.interval': '1',
  'projection.dt.interval.unit': 'DAYS',
};
const HOUR_PROJECTION = {
  'projection.hour.type': 'integer',
  'projection.hour.range': '0,23',
  'projection.hour.digits': '2',
};
const PARQUET = {
  EXTERNAL: 'TRUE',
  classification: 'parquet',
  'parquet.compression': 'ZSTD',
  'projection.enabled': 'true',
};

describe('query catalogue', () => {
  let template: Template;
  let dataBucket: string;
  let resultsBucket: string;
  let tables: Map<string, GlueTableInput>;

  beforeAll(() => {
    template = synthTemplate();
    const bucketWith = (ruleId: string) =>
      Object.keys(
        template.findResources('AWS::S3::Bucket', {
          Properties: { LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Id: ruleId })]) } },
        }),
      )[0] ?? '';
    dataBucket = bucketWith('expire-quarantine');
    resultsBucket = bucketWith('expire-query-results');
    tables = new Map(
      Object.values(template.findResources('AWS::Glue::Table')).map((r) => {
        const input = GlueTable.parse(r).Properties.TableInput;
        return [input.Name, input];
      }),
    );
  });

  const inBucket = (path: string) => ({ 'Fn::Join': ['', ['s3://', { Ref: dataBucket }, path]] });
  const columnsOf = (columns: typeof TABLES.logs | typeof TABLES.spans | typeof TRACE_INDEX_COLUMNS) =>
    columns.map((c) => ({ Name: c.name, Type: glueType(c.type), Comment: c.comment }));

  it('has the database skein with base tables, manifests and the three views', () => {
    template.hasResourceProperties('AWS::Glue::Database', {
      CatalogId: { Ref: 'AWS::AccountId' },
      DatabaseInput: { Name: 'skein' },
    });
    expect([...tables.keys()].sort()).toEqual(
      [
        'compaction_manifests',
        'logs',
        'logs_files',
        'spans',
        'spans_files',
        'trace_index',
        'trace_index_compacted',
        'trace_index_files',
      ].sort(),
    );
  });

  describe.each([
    ['logs_files', 'logs', TABLES.logs],
    ['spans_files', 'spans', TABLES.spans],
    ['trace_index_files', 'trace_index', TRACE_INDEX_COLUMNS],
  ] as const)('base table %s', (name, folder, columns) => {
    it('has the columns of schemas/columns.ts: name, Glue type and comment, in order', () => {
      expect(tables.get(name)?.StorageDescriptor.Columns).toEqual(columnsOf(columns));
    });

    it('is an external Parquet table under tables/<table>/, partitioned by dt and hour strings', () => {
      const table = tables.get(name);

      expect(table?.TableType).toBe('EXTERNAL_TABLE');
      expect(table?.PartitionKeys).toEqual(
        PARTITION_KEYS.map((k) => ({ Name: k.name, Type: 'string', Comment: k.comment })),
      );
      expect(table?.StorageDescriptor).toMatchObject({
        Location: inBucket(`/tables/${folder}/`),
        InputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
        OutputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
        SerdeInfo: { SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
      });
    });

    it('projects partitions dt=yyyy-MM-dd since 2024-01-01 and hour=00..23 onto its own prefix', () => {
      expect(tables.get(name)?.Parameters).toEqual({
        ...PARQUET,
        ...DT_PROJECTION,
        ...HOUR_PROJECTION,
        'storage.location.template': inBucket(`/tables/${folder}/dt=\${dt}/hour=\${hour}/`),
      });
    });
  });

  describe('compacted trace index', () => {
    it('is partitioned by bucket and dt, projected onto bucket=<00…ff>/dt=', () => {
      const table = tables.get('trace_index_compacted');

      expect(table?.StorageDescriptor.Columns).toEqual(columnsOf(TRACE_INDEX_COLUMNS));
      expect(table?.PartitionKeys).toEqual(
        INDEX_BUCKET_PARTITION_KEYS.map((k) => ({ Name: k.name, Type: 'string', Comment: k.comment })),
      );
      expect(table?.Parameters).toEqual({
        ...PARQUET,
        'projection.bucket.type': 'enum',
        'projection.bucket.values': INDEX_BUCKETS.join(','),
        ...DT_PROJECTION,
        'storage.location.template': inBucket(`/tables/trace_index/bucket=\${bucket}/dt=\${dt}/`),
      });
    });

    it('projects every one of the 256 two-hex buckets, 00 to ff', () => {
      expect(INDEX_BUCKETS).toHaveLength(256);
      expect(new Set(INDEX_BUCKETS).size).toBe(256);
      expect([INDEX_BUCKETS[0], INDEX_BUCKETS[10], INDEX_BUCKETS[255]]).toEqual(['00', '0a', 'ff']);
      expect(INDEX_BUCKETS.every((b) => /^[0-9a-f]{2}$/.test(b))).toBe(true);
    });
  });

  describe('compaction manifests', () => {
    it('reads single-line JSON under tables/_manifests/<table>/dt=/hour=, projected for the three tables', () => {
      const table = tables.get('compaction_manifests');

      expect(table?.StorageDescriptor).toMatchObject({
        Location: inBucket('/tables/_manifests/'),
        InputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
        SerdeInfo: { SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe' },
      });
      expect(table?.PartitionKeys).toEqual([
        expect.objectContaining({ Name: 'table', Type: 'string' }),
        expect.objectContaining({ Name: 'dt', Type: 'string' }),
        expect.objectContaining({ Name: 'hour', Type: 'string' }),
      ]);
      expect(table?.Parameters).toEqual({
        EXTERNAL: 'TRUE',
        classification: 'json',
        'projection.enabled': 'true',
        'projection.table.type': 'enum',
        'projection.table.values': 'logs,spans,trace_index',
        ...DT_PROJECTION,
        ...HOUR_PROJECTION,
        'storage.location.template': inBucket(`/tables/_manifests/\${table}/dt=\${dt}/hour=\${hour}/`),
      });
    });

    it('has a column for every field of the manifest schema that is not a partition key', () => {
      const columns = tables.get('compaction_manifests')?.StorageDescriptor.Columns.map((c) => c.Name) ?? [];

      expect([...columns, 'table', 'dt', 'hour'].sort()).toEqual(Object.keys(CompactionManifest.shape).sort());
      expect(MANIFEST_COLUMNS.sources.type).toBe('array<string>');
    });
  });

  describe.each(VIEW_NAMES)('view %s', (name) => {
    it('is a Presto view, as Athena stores one: VIRTUAL_VIEW, base64 definition, columns with Presto types', () => {
      const view = tables.get(name);
      const encoded = /^\/\* Presto View: ([A-Za-z0-9+/=]+) \*\/$/.exec(view?.ViewOriginalText ?? '')?.[1] ?? '';

      const definition = PrestoView.parse(JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')));

      expect(view?.TableType).toBe('VIRTUAL_VIEW');
      expect(view?.ViewExpandedText).toBe('/* Presto View */');
      expect(view?.Parameters).toEqual({ presto_view: 'true', comment: 'Presto View' });
      expect(definition).toEqual({
        originalSql: viewSql(name),
        catalog: 'awsdatacatalog',
        schema: 'skein',
        columns: viewColumns(name),
      });
      expect(view?.StorageDescriptor.Columns.map((c) => c.Name)).toEqual(viewColumns(name).map((c) => c.name));
    });
  });

  it('types view columns as Athena does: varchar, integer, bigint, timestamp(3), boolean', () => {
    const types = new Set([...viewColumns('logs'), ...viewColumns('trace_index')].map((c) => c.type));

    expect([...types].sort()).toEqual(['bigint', 'boolean', 'integer', 'timestamp(3)', 'varchar']);
    expect(viewColumns('logs').at(-2)).toEqual({ name: 'dt', type: 'varchar' });
  });

  describe('workgroup', () => {
    it('is skein on engine v3, enforced, with a 10 GiB scan limit, metrics and SSE-S3 results', () => {
      template.hasResourceProperties('AWS::Athena::WorkGroup', {
        Name: 'skein',
        State: 'ENABLED',
        WorkGroupConfiguration: {
          EnforceWorkGroupConfiguration: true,
          PublishCloudWatchMetricsEnabled: true,
          BytesScannedCutoffPerQuery: 10 * 1024 ** 3,
          EngineVersion: { SelectedEngineVersion: 'Athena engine version 3' },
          ResultConfiguration: {
            OutputLocation: { 'Fn::Join': ['', ['s3://', { Ref: resultsBucket }, '/athena/']] },
            EncryptionConfiguration: { EncryptionOption: 'SSE_S3' },
            ExpectedBucketOwner: { Ref: 'AWS::AccountId' },
          },
        },
      });
    });

    it('takes the scan limit from the context, in GiB', () => {
      const custom = synthTemplate({ 'skein:athenaScanLimitGiB': '0.5' });

      custom.hasResourceProperties('AWS::Athena::WorkGroup', {
        WorkGroupConfiguration: Match.objectLike({ BytesScannedCutoffPerQuery: 512 * 1024 ** 2 }),
      });
    });
  });

  it.each([...namedLookupQueries(), ...namedSearchQueries()].map((q) => [q.name, q] as const))(
    'ships the named query %s in the workgroup, text from query/named-queries.ts',
    (_name, query) => {
      const workGroup = Object.keys(template.findResources('AWS::Athena::WorkGroup'))[0] ?? '';
      const database = Object.keys(template.findResources('AWS::Glue::Database'))[0] ?? '';

      template.hasResourceProperties('AWS::Athena::NamedQuery', {
        Name: query.name,
        Description: query.description,
        Database: { Ref: database },
        WorkGroup: { Ref: workGroup },
        QueryString: query.sql,
      });
    },
  );

  it('names the queries by id and by id in a date range, for traces and requests, and the search of error traces', () => {
    const names = Object.values(template.findResources('AWS::Athena::NamedQuery')).map((q) => q.Properties.Name);

    expect(names.sort()).toEqual([
      'skein-request-by-id',
      'skein-request-by-id-in-range',
      'skein-search-error-traces-of-service',
      'skein-trace-by-id',
      'skein-trace-by-id-in-range',
    ]);
  });
});
