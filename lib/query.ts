import { Duration, Stack } from 'aws-cdk-lib';
import { CfnNamedQuery, CfnWorkGroup } from 'aws-cdk-lib/aws-athena';
import { CfnDatabase, CfnTable } from 'aws-cdk-lib/aws-glue';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { type ColumnDef, glueType, PARTITION_KEYS, TABLE_NAMES, TABLES, type TableName } from '../schemas/columns.ts';
import { DATABASE_NAME, LOOKUP_KINDS, LOOKUPS, lookupQuery, WORKGROUP_NAME } from './queries.ts';
import { type AccessLogTarget, secureBucketProps } from './storage.ts';

/** First day partition projection offers; queries before it find nothing. */
export const PROJECTION_START_DATE = '2024-01-01';
/** Athena query results are for reading once; the CLI and the console fetch them right away. */
export const QUERY_RESULTS_EXPIRY_DAYS = 7;

export const PARQUET_SERDE = {
  serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe',
  inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
  outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
} as const;

/** Glue columns of a table, in the order of the column list (the Parquet writer uses the same list). */
export function glueColumns(columns: readonly ColumnDef[]): CfnTable.ColumnProperty[] {
  return columns.map((c) => ({ name: c.name, type: glueType(c.type), comment: c.comment }));
}

/**
 * Table parameters of partition projection over `dt=YYYY-MM-DD/hour=HH`: Athena computes the partitions from these
 * instead of asking the catalogue, so no crawler and no `MSCK REPAIR` (docs: Athena "Partition projection").
 */
export function projectionParameters(bucketName: string, table: string): Record<string, string> {
  return {
    'projection.enabled': 'true',
    'projection.dt.type': 'date',
    'projection.dt.format': 'yyyy-MM-dd',
    'projection.dt.range': `${PROJECTION_START_DATE},NOW`,
    'projection.dt.interval': '1',
    'projection.dt.interval.unit': 'DAYS',
    'projection.hour.type': 'integer',
    'projection.hour.range': '0,23',
    'projection.hour.digits': '2',
    'storage.location.template': `s3://${bucketName}/tables/${table}/dt=\${dt}/hour=\${hour}/`,
  };
}

export interface QueryProps {
  readonly bucket: Bucket;
  /** Per-query data usage limit of the workgroup, bytes. */
  readonly bytesScannedCutoffPerQuery: number;
  /** Server access logs of the results bucket. */
  readonly accessLogs: AccessLogTarget;
}

/** The Glue catalogue over the Parquet tables, the Athena workgroup with its results bucket, and the named queries. */
export class Query extends Construct {
  readonly database: CfnDatabase;
  readonly tables: Record<TableName, CfnTable>;
  readonly workGroup: CfnWorkGroup;
  readonly resultsBucket: Bucket;
  readonly namedQueries: CfnNamedQuery[];

  constructor(scope: Construct, id: string, props: QueryProps) {
    super(scope, id);
    const account = Stack.of(this).account;
    const bucketName = props.bucket.bucketName;

    this.database = new CfnDatabase(this, 'Database', {
      catalogId: account,
      databaseInput: {
        name: DATABASE_NAME,
        description: 'Skein telemetry: logs and spans as Parquet, partitioned by arrival date and hour',
      },
    });

    const tables: Partial<Record<TableName, CfnTable>> = {};
    for (const name of TABLE_NAMES) {
      const table = new CfnTable(this, `Table-${name}`, {
        catalogId: account,
        databaseName: this.database.ref,
        tableInput: {
          name,
          description: `Skein ${name}, one Parquet object per ingest batch, rows sorted by trace_id then time`,
          tableType: 'EXTERNAL_TABLE',
          parameters: {
            EXTERNAL: 'TRUE',
            classification: 'parquet',
            // Only for Parquet Athena itself writes (CTAS, INSERT INTO); readers take the codec from each file.
            'parquet.compression': 'ZSTD',
            ...projectionParameters(bucketName, name),
          },
          partitionKeys: PARTITION_KEYS.map((k) => ({ name: k.name, type: k.type, comment: k.comment })),
          storageDescriptor: {
            location: `s3://${bucketName}/tables/${name}/`,
            columns: glueColumns(TABLES[name]),
            inputFormat: PARQUET_SERDE.inputFormat,
            outputFormat: PARQUET_SERDE.outputFormat,
            serdeInfo: {
              serializationLibrary: PARQUET_SERDE.serializationLibrary,
              parameters: { 'serialization.format': '1' },
            },
            compressed: false,
            storedAsSubDirectories: false,
          },
        },
      });
      tables[name] = table;
    }
    this.tables = tables as Record<TableName, CfnTable>;

    this.resultsBucket = new Bucket(this, 'Results', {
      ...secureBucketProps(),
      ...props.accessLogs,
      lifecycleRules: [
        { id: 'expire-query-results', expiration: Duration.days(QUERY_RESULTS_EXPIRY_DAYS) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });

    this.workGroup = new CfnWorkGroup(this, 'WorkGroup', {
      name: WORKGROUP_NAME,
      description: 'Skein: trace and request lookups over the Parquet tables',
      state: 'ENABLED',
      workGroupConfiguration: {
        // Users cannot override the limit, the output location or the encryption per query.
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: props.bytesScannedCutoffPerQuery,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: this.resultsBucket.s3UrlForObject('athena/'),
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
          expectedBucketOwner: account,
        },
      },
    });

    this.namedQueries = LOOKUP_KINDS.map((kind) => {
      const lookup = LOOKUPS[kind];
      return new CfnNamedQuery(this, `Query-${kind}`, {
        name: lookup.queryName,
        description: lookup.description,
        database: this.database.ref,
        workGroup: this.workGroup.ref,
        queryString: lookupQuery(kind, DATABASE_NAME),
      });
    });
  }
}
