import { Duration, Stack } from 'aws-cdk-lib';
import { CfnNamedQuery, CfnWorkGroup } from 'aws-cdk-lib/aws-athena';
import { CfnDatabase, CfnTable } from 'aws-cdk-lib/aws-glue';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import {
  BASE_TABLES,
  DATABASE_NAME,
  namedLookupQueries,
  prestoViewText,
  VIEW_NAMES,
  type ViewName,
  viewColumns,
  WORKGROUP_NAME,
} from '../query/named-queries.ts';
import { namedSearchQueries } from '../query/search/search-queries.ts';
import {
  type ColumnDef,
  glueType,
  INDEX_BUCKET_PARTITION_KEYS,
  PARTITION_KEYS,
  TABLES,
  TRACE_INDEX_COLUMNS,
} from '../schemas/columns.ts';
import { type CompactionManifest, MANIFEST_PREFIX } from '../schemas/compaction.ts';
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

/** The OpenX JSON SerDe: one JSON document per line (manifests are written as single-line JSON). */
export const JSON_SERDE = {
  serializationLibrary: 'org.openx.data.jsonserde.JsonSerDe',
  inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
  outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
} as const;

/** The tables whose hours compaction merges (the `table` partition of the manifests). */
export const COMPACTED_TABLES = [
  'logs',
  'spans',
  'trace_index',
] as const satisfies readonly CompactionManifest['table'][];

/** The 256 compacted-index buckets, `00`…`ff` (`indexBucket` in functions/core/index-bucket.ts). */
export const INDEX_BUCKETS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Manifest partition keys: they are in the object key, so the JSON fields of the same names are not columns. */
const MANIFEST_PARTITION_FIELDS = ['table', 'dt', 'hour'] as const;
type ManifestColumn = Exclude<keyof CompactionManifest, (typeof MANIFEST_PARTITION_FIELDS)[number]>;

/**
 * Glue columns of `compaction_manifests`, one per field of the manifest schema that is not a partition key. Typed as
 * a total record of the schema's fields, so a field added to `schemas/compaction.ts` fails compilation here.
 */
export const MANIFEST_COLUMNS: Readonly<Record<ManifestColumn, { readonly type: string; readonly comment: string }>> = {
  version: { type: 'int', comment: 'manifest format version' },
  generation: { type: 'bigint', comment: 'generation; the highest of a partition is the current one' },
  sources: { type: 'array<string>', comment: 'raw object keys this generation covers' },
  outputs: { type: 'array<string>', comment: 'compacted object keys of this generation' },
  rows: { type: 'bigint', comment: 'rows in the outputs' },
  created_at: { type: 'string', comment: 'ISO time the manifest was written' },
  source_ranges: {
    type: 'array<struct<key:string,shard_id:string,first:string,last:string>>',
    comment: 'stream records (shard, first..last sequence) each covered source holds; ingest drops re-deliveries',
  },
};

/** Glue columns of a table, in the order of the column list (the Parquet writer uses the same list). */
export function glueColumns(columns: readonly ColumnDef[]): CfnTable.ColumnProperty[] {
  return columns.map((c) => ({ name: c.name, type: glueType(c.type), comment: c.comment }));
}

const DT_PROJECTION = {
  'projection.dt.type': 'date',
  'projection.dt.format': 'yyyy-MM-dd',
  'projection.dt.range': `${PROJECTION_START_DATE},NOW`,
  'projection.dt.interval': '1',
  'projection.dt.interval.unit': 'DAYS',
} as const;

const HOUR_PROJECTION = {
  'projection.hour.type': 'integer',
  'projection.hour.range': '0,23',
  'projection.hour.digits': '2',
} as const;

/**
 * Table parameters of partition projection over `dt=YYYY-MM-DD/hour=HH`: Athena computes the partitions from these
 * instead of asking the catalogue, so no crawler and no `MSCK REPAIR` (docs: Athena "Partition projection").
 */
export function projectionParameters(bucketName: string, table: string): Record<string, string> {
  return {
    'projection.enabled': 'true',
    ...DT_PROJECTION,
    ...HOUR_PROJECTION,
    'storage.location.template': `s3://${bucketName}/tables/${table}/dt=\${dt}/hour=\${hour}/`,
  };
}

/** Projection of the compacted index: `bucket=<00…ff>/dt=YYYY-MM-DD`. */
export function compactedIndexProjection(bucketName: string): Record<string, string> {
  return {
    'projection.enabled': 'true',
    // enum, not injected: the trace_index view reads every bucket, which an injected key would refuse.
    'projection.bucket.type': 'enum',
    'projection.bucket.values': INDEX_BUCKETS.join(','),
    ...DT_PROJECTION,
    'storage.location.template': `s3://${bucketName}/tables/trace_index/bucket=\${bucket}/dt=\${dt}/`,
  };
}

/** Projection of the manifests: `tables/_manifests/<table>/dt=YYYY-MM-DD/hour=HH/`. */
export function manifestProjection(bucketName: string): Record<string, string> {
  return {
    'projection.enabled': 'true',
    'projection.table.type': 'enum',
    'projection.table.values': COMPACTED_TABLES.join(','),
    ...DT_PROJECTION,
    ...HOUR_PROJECTION,
    'storage.location.template': `s3://${bucketName}/${MANIFEST_PREFIX}\${table}/dt=\${dt}/hour=\${hour}/`,
  };
}

const PARQUET_PARAMETERS = {
  EXTERNAL: 'TRUE',
  classification: 'parquet',
  // Only for Parquet Athena itself writes (CTAS, INSERT INTO); readers take the codec from each file.
  'parquet.compression': 'ZSTD',
} as const;

const parquetStorage = (location: string, columns: readonly ColumnDef[]): CfnTable.StorageDescriptorProperty => ({
  location,
  columns: glueColumns(columns),
  inputFormat: PARQUET_SERDE.inputFormat,
  outputFormat: PARQUET_SERDE.outputFormat,
  serdeInfo: { serializationLibrary: PARQUET_SERDE.serializationLibrary, parameters: { 'serialization.format': '1' } },
  compressed: false,
  storedAsSubDirectories: false,
});

export interface QueryProps {
  readonly bucket: Bucket;
  /** Per-query data usage limit of the workgroup, bytes. */
  readonly bytesScannedCutoffPerQuery: number;
  /** Server access logs of the results bucket. */
  readonly accessLogs: AccessLogTarget;
}

/** The Glue catalogue (base tables, manifests, views), the Athena workgroup with its results bucket, and the named queries. */
export class Query extends Construct {
  readonly database: CfnDatabase;
  /** Base tables and manifests by Glue name (`logs_files`, …, `compaction_manifests`). */
  readonly tables: Record<string, CfnTable>;
  /** The views `logs`, `spans`, `trace_index`: each row exactly once, compacted or not. */
  readonly views: Record<ViewName, CfnTable>;
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
        description:
          'Skein telemetry: views logs, spans and trace_index over Parquet objects partitioned by arrival date and hour',
      },
    });

    const table = (name: string, tableInput: Omit<CfnTable.TableInputProperty, 'name'>) => {
      const created = new CfnTable(this, `Table-${name}`, {
        catalogId: account,
        databaseName: this.database.ref,
        tableInput: { name, ...tableInput },
      });
      this.tables[name] = created;
      return created;
    };
    this.tables = {};
    const hourly = PARTITION_KEYS.map((k) => ({ name: k.name, type: k.type, comment: k.comment }));

    for (const name of ['logs', 'spans'] as const) {
      table(BASE_TABLES[name], {
        description: `Skein ${name}: every Parquet object, raw and compacted; query the view ${name} instead`,
        tableType: 'EXTERNAL_TABLE',
        parameters: { ...PARQUET_PARAMETERS, ...projectionParameters(bucketName, name) },
        partitionKeys: hourly,
        storageDescriptor: parquetStorage(`s3://${bucketName}/tables/${name}/`, TABLES[name]),
      });
    }
    table(BASE_TABLES.trace_index, {
      description: 'Skein trace index as ingest writes it, one object per batch under dt=/hour=',
      tableType: 'EXTERNAL_TABLE',
      parameters: { ...PARQUET_PARAMETERS, ...projectionParameters(bucketName, 'trace_index') },
      partitionKeys: hourly,
      storageDescriptor: parquetStorage(`s3://${bucketName}/tables/trace_index/`, TRACE_INDEX_COLUMNS),
    });
    table(BASE_TABLES.traceIndexCompacted, {
      description: 'Skein trace index after compaction, re-partitioned by bucket=<indexBucket(id)>/dt=',
      tableType: 'EXTERNAL_TABLE',
      parameters: { ...PARQUET_PARAMETERS, ...compactedIndexProjection(bucketName) },
      partitionKeys: INDEX_BUCKET_PARTITION_KEYS.map((k) => ({ name: k.name, type: k.type, comment: k.comment })),
      storageDescriptor: parquetStorage(`s3://${bucketName}/tables/trace_index/`, TRACE_INDEX_COLUMNS),
    });
    table(BASE_TABLES.manifests, {
      description: 'Skein compaction manifests: the current generation of each hour decides which objects are visible',
      tableType: 'EXTERNAL_TABLE',
      parameters: { EXTERNAL: 'TRUE', classification: 'json', ...manifestProjection(bucketName) },
      partitionKeys: [
        { name: 'table', type: 'string', comment: 'compacted table: logs, spans or trace_index' },
        ...hourly,
      ],
      storageDescriptor: {
        location: `s3://${bucketName}/${MANIFEST_PREFIX}`,
        columns: Object.entries(MANIFEST_COLUMNS).map(([name, c]) => ({ name, type: c.type, comment: c.comment })),
        inputFormat: JSON_SERDE.inputFormat,
        outputFormat: JSON_SERDE.outputFormat,
        serdeInfo: {
          serializationLibrary: JSON_SERDE.serializationLibrary,
          parameters: { 'ignore.malformed.json': 'FALSE' },
        },
        compressed: false,
        storedAsSubDirectories: false,
      },
    });

    const views: Partial<Record<ViewName, CfnTable>> = {};
    for (const name of VIEW_NAMES) {
      const columnsOf = name === 'trace_index' ? TRACE_INDEX_COLUMNS : TABLES[name];
      const partitionColumns = viewColumns(name).slice(columnsOf.length);
      // How Athena stores a view it created (CREATE VIEW): a VIRTUAL_VIEW table whose original text is the Presto
      // view definition; the Hive columns are for other readers of the catalogue.
      // Construct id `Table-<name>`: the logs and spans views take over the logical ids of the tables of the same name
      // from before compaction, so a deployed stack updates them in place instead of creating a clashing name.
      const view = new CfnTable(this, `Table-${name}`, {
        catalogId: account,
        databaseName: this.database.ref,
        tableInput: {
          name,
          description: `Skein ${name}: every row exactly once, compacted or not (visibility rule of schemas/compaction.ts)`,
          tableType: 'VIRTUAL_VIEW',
          parameters: { presto_view: 'true', comment: 'Presto View' },
          partitionKeys: [],
          viewOriginalText: prestoViewText(name, DATABASE_NAME),
          viewExpandedText: '/* Presto View */',
          storageDescriptor: {
            columns: [...glueColumns(columnsOf), ...partitionColumns.map((c) => ({ name: c.name, type: 'string' }))],
            serdeInfo: {},
          },
        },
      });
      for (const base of Object.values(this.tables)) view.node.addDependency(base);
      views[name] = view;
    }
    this.views = { logs: required(views.logs), spans: required(views.spans), trace_index: required(views.trace_index) };

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

    this.namedQueries = [...namedLookupQueries(DATABASE_NAME), ...namedSearchQueries(DATABASE_NAME)].map(
      (query) =>
        new CfnNamedQuery(this, `Query-${query.name}`, {
          name: query.name,
          description: query.description,
          database: this.database.ref,
          workGroup: this.workGroup.ref,
          queryString: query.sql,
        }),
    );
  }
}

function required<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('a view was not created');
  return value;
}
