import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { LOOKUP_KINDS, LOOKUPS, lookupQuery } from '../../../lib/queries.ts';
import { glueType, PARTITION_KEYS, TABLE_NAMES, TABLES } from '../../../schemas/columns.ts';
import { synthTemplate } from '../../support/cdk.ts';

const GlueTable = z.object({
  Properties: z.object({
    TableInput: z.object({
      Name: z.string(),
      TableType: z.string(),
      Parameters: z.record(z.string(), z.unknown()),
      PartitionKeys: z.array(z.unknown()),
      StorageDescriptor: z.looseObject({ Columns: z.array(z.unknown()) }),
    }),
  }),
});
type GlueTableInput = z.infer<typeof GlueTable>['Properties']['TableInput'];

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

  it('has the database skein with one table per entry of the column list', () => {
    template.hasResourceProperties('AWS::Glue::Database', {
      CatalogId: { Ref: 'AWS::AccountId' },
      DatabaseInput: { Name: 'skein' },
    });
    expect([...tables.keys()].sort()).toEqual([...TABLE_NAMES].sort());
    expect(TABLE_NAMES).toEqual(expect.arrayContaining(['logs', 'spans']));
  });

  describe.each(TABLE_NAMES)('table %s', (name) => {
    it('has the columns of schemas/columns.ts: name, Glue type and comment, in order', () => {
      const expected = TABLES[name].map((c) => ({ Name: c.name, Type: glueType(c.type), Comment: c.comment }));

      expect(tables.get(name)?.StorageDescriptor.Columns).toEqual(expected);
    });

    it('is partitioned by dt and hour, both strings', () => {
      expect(tables.get(name)?.PartitionKeys).toEqual(
        PARTITION_KEYS.map((k) => ({ Name: k.name, Type: 'string', Comment: k.comment })),
      );
      expect(PARTITION_KEYS.map((k) => k.name)).toEqual(['dt', 'hour']);
    });

    it('is an external Parquet table under tables/<name>/', () => {
      const table = tables.get(name);

      expect(table?.TableType).toBe('EXTERNAL_TABLE');
      expect(table?.StorageDescriptor).toMatchObject({
        Location: inBucket(`/tables/${name}/`),
        InputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
        OutputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
        SerdeInfo: { SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
      });
    });

    it('projects partitions dt=yyyy-MM-dd since 2024-01-01 and hour=00..23 onto its own prefix', () => {
      expect(tables.get(name)?.Parameters).toEqual({
        EXTERNAL: 'TRUE',
        classification: 'parquet',
        'parquet.compression': 'ZSTD',
        'projection.enabled': 'true',
        'projection.dt.type': 'date',
        'projection.dt.format': 'yyyy-MM-dd',
        'projection.dt.range': '2024-01-01,NOW',
        'projection.dt.interval': '1',
        'projection.dt.interval.unit': 'DAYS',
        'projection.hour.type': 'integer',
        'projection.hour.range': '0,23',
        'projection.hour.digits': '2',
        'storage.location.template': inBucket(`/tables/${name}/dt=\${dt}/hour=\${hour}/`),
      });
    });
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

  it.each(LOOKUP_KINDS)(
    'ships the named query of the %s lookup, in the workgroup, text from lib/queries.ts',
    (kind) => {
      const workGroup = Object.keys(template.findResources('AWS::Athena::WorkGroup'))[0] ?? '';
      const database = Object.keys(template.findResources('AWS::Glue::Database'))[0] ?? '';

      template.hasResourceProperties('AWS::Athena::NamedQuery', {
        Name: LOOKUPS[kind].queryName,
        Database: { Ref: database },
        WorkGroup: { Ref: workGroup },
        QueryString: lookupQuery(kind),
      });
    },
  );

  it('names the queries skein-trace-by-id and skein-request-by-id', () => {
    const names = Object.values(template.findResources('AWS::Athena::NamedQuery')).map((q) => q.Properties.Name);

    expect(names.sort()).toEqual(['skein-request-by-id', 'skein-trace-by-id']);
  });
});
