import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { writeParquet } from '../../functions/shared/parquet/parquet-writer.ts';
import { type ColumnDef, TABLES, TRACE_INDEX_COLUMNS } from '../../schemas/columns.ts';
import { synthTemplate } from '../support/cdk.ts';
import { readParquetObjects } from '../support/duckdb.ts';

const GlueTable = z.object({
  Properties: z.object({
    TableInput: z.object({
      Name: z.string(),
      StorageDescriptor: z
        .object({ Columns: z.array(z.object({ Name: z.string(), Type: z.string() }).loose()) })
        .loose(),
    }),
  }),
});

/** One value of each column's type: the schema is under test, not the values. */
function sampleRow(columns: readonly ColumnDef[]): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const c of columns) {
    row[c.name] =
      c.type === 'string'
        ? 'x'
        : c.type === 'int32'
          ? 1
          : c.type === 'int64'
            ? 1n
            : c.type === 'boolean'
              ? true
              : 1_764_064_801_500;
  }
  return row;
}

/**
 * The Hive/Glue type Athena maps a Parquet leaf to (Athena "Parquet SerDe" type mapping): UTF8 byte arrays are
 * strings, INT32 int, INT64 bigint unless annotated as a timestamp, BOOLEAN boolean.
 */
function glueTypeOfParquet(leaf: { type: string; converted_type: string | null; logical_type: string | null }): string {
  const logical = `${leaf.converted_type ?? ''} ${leaf.logical_type ?? ''}`;
  switch (leaf.type) {
    case 'BYTE_ARRAY':
      return /UTF8|String/i.test(logical) ? 'string' : 'binary';
    case 'INT32':
      return 'int';
    case 'INT64':
      return /TIMESTAMP/i.test(logical) ? 'timestamp' : 'bigint';
    case 'BOOLEAN':
      return 'boolean';
    default:
      return `unmapped ${leaf.type}`;
  }
}

const ParquetLeaf = z.object({
  name: z.string(),
  type: z.string().nullable(),
  converted_type: z.string().nullable(),
  logical_type: z.string().nullable(),
  num_children: z.union([z.bigint(), z.number()]).nullable(),
});

describe('Parquet files and the Glue tables over them', () => {
  let glueColumns: Map<string, { Name: string; Type: string }[]>;

  beforeAll(() => {
    const template = synthTemplate();
    glueColumns = new Map(
      Object.values(template.findResources('AWS::Glue::Table')).map((r) => {
        const input = GlueTable.parse(r).Properties.TableInput;
        return [input.Name, input.StorageDescriptor.Columns.map((c) => ({ Name: c.Name, Type: c.Type }))];
      }),
    );
  });

  it.each([
    ['logs_files', TABLES.logs],
    ['spans_files', TABLES.spans],
    ['trace_index_files', TRACE_INDEX_COLUMNS],
    ['trace_index_compacted', TRACE_INDEX_COLUMNS],
  ] as const)(
    '%s declares each column of our writer’s files with its name, in order, as the Glue type Athena maps it to',
    async (table, columns) => {
      // Prepare
      const file = writeParquet(columns, [sampleRow(columns)], { rowGroupRows: 10 });

      // Act
      const schema = await readParquetObjects([file], (files) => `SELECT * FROM parquet_schema(${files})`);
      const leaves = schema
        .map((r) => ParquetLeaf.parse(r))
        .filter((l) => l.num_children === null || Number(l.num_children) === 0);

      // Assess
      const fromFile = leaves.map((l) => ({
        Name: l.name,
        Type: glueTypeOfParquet({ type: l.type ?? '', converted_type: l.converted_type, logical_type: l.logical_type }),
      }));
      expect(fromFile).toEqual(glueColumns.get(table));
      expect(fromFile.length).toBe(columns.length);
    },
  );

  it('maps a timestamp column to a TIMESTAMP(MILLIS) annotation, not a plain INT64', async () => {
    const file = writeParquet(TABLES.logs, [sampleRow(TABLES.logs)], { rowGroupRows: 10 });

    const schema = await readParquetObjects(
      [file],
      (files) => `SELECT * FROM parquet_schema(${files}) WHERE name = 'time'`,
    );

    expect(ParquetLeaf.parse(schema[0])).toMatchObject({ type: 'INT64', converted_type: 'TIMESTAMP_MILLIS' });
  });
});
