import type { ColumnDef } from '../../../schemas/columns.ts';

/** Copies rows [start, end) into one array per column; returns the index of the first row that is not an object, or -1. */
export type Transposer = (
  rows: readonly Readonly<Record<string, unknown>>[],
  start: number,
  end: number,
  columnValues: unknown[][],
) => number;

const transposers = new WeakMap<readonly ColumnDef[], Transposer>();

/**
 * Returns a function copying rows [start, end) into one array per column, row by row.
 *
 * Why row by row: rows sorted by trace id sit in memory in allocation order, not array order, so reading them column
 * by column costs a cache miss per value; one pass per row touches each object once. Why generated code: with the
 * column names as literal property keys every load is a monomorphic named load instead of a megamorphic keyed one
 * (measured 2.5× faster on 100k log rows). Names are embedded with `JSON.stringify`, so any name is a safe literal;
 * where code generation is disallowed (`--disallow-code-generation-from-strings`) a generic loop takes over.
 */
export function transposerFor(columns: readonly ColumnDef[]): Transposer {
  const cached = transposers.get(columns);
  if (cached !== undefined) return cached;
  const names = columns.map((column) => column.name);
  let transposer: Transposer;
  try {
    const targets = names.map((_name, c) => `const c${c} = columnValues[${c}];`).join('\n');
    const copies = names.map((name, c) => `c${c}[k] = row[${JSON.stringify(name)}];`).join('\n');
    const body =
      `${targets}\nfor (let i = start, k = 0; i < end; i++, k++) {\nconst row = rows[i];\n` +
      `if (typeof row !== 'object' || row === null) return i;\n${copies}\n}\nreturn -1;`;
    // The generated body implements exactly the Transposer signature: the cast only names that.
    transposer = new Function('rows', 'start', 'end', 'columnValues', body) as Transposer;
  } catch {
    transposer = genericTransposer(names);
  }
  transposers.set(columns, transposer);
  return transposer;
}

function genericTransposer(names: readonly string[]): Transposer {
  return (rows, start, end, columnValues) => {
    for (let i = start; i < end; i++) {
      const row: unknown = rows[i];
      if (typeof row !== 'object' || row === null) return i;
      for (let c = 0; c < names.length; c++) {
        const target = columnValues[c];
        if (target !== undefined) target[i - start] = Reflect.get(row, names[c] ?? '');
      }
    }
    return -1;
  };
}
