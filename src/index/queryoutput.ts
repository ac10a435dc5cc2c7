// Rows of an SQL query as people read them (an aligned table) or as programs
// do (one JSON object per line, as `inspect --json` writes summaries).
import type Database from 'better-sqlite3';

export type Write = (text: string) => void;

/** Rows kept to size the table's columns; past it the table is printed in blocks of this many rows. */
const TABLE_BLOCK_ROWS = 1000;

/** Runs `sql` and writes its rows; returns the number of rows. Throws SQLite's error for bad SQL. */
export function printQuery(db: Database.Database, sql: string, format: 'table' | 'json', write: Write): number {
  const statement = db.prepare(sql);
  if (!statement.reader) throw new Error('the query returns no rows (the index is opened read-only: use SELECT)');
  // Integers past 2^53 (none in the schema, but a query can make them) print exactly.
  statement.safeIntegers(true);
  const columns = statement.columns().map((c) => c.name);
  let rows = 0;
  if (format === 'json') {
    for (const row of statement.iterate() as Iterable<Record<string, unknown>>) {
      write(`${JSON.stringify(row, jsonValue)}\n`);
      rows++;
    }
    return rows;
  }
  let block: string[][] = [];
  const flush = () => {
    write(formatTable(columns, block));
    block = [];
  };
  for (const row of statement.raw(true).iterate() as Iterable<unknown[]>) {
    block.push(row.map(cellText));
    rows++;
    if (block.length === TABLE_BLOCK_ROWS) flush();
  }
  if (block.length > 0 || rows === 0) flush();
  return rows;
}

function jsonValue(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (Buffer.isBuffer(value)) return value.toString('base64');
  return value;
}

function cellText(value: unknown): string {
  if (value === null) return 'NULL';
  if (Buffer.isBuffer(value)) return `x'${value.toString('hex')}'`;
  return String(value);
}

/** A header line, a rule, and the rows; numbers right-aligned. */
export function formatTable(columns: readonly string[], rows: readonly string[][]): string {
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i].length)));
  const numeric = columns.map((_, i) => rows.length > 0 && rows.every((r) => r[i] === 'NULL' || /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(r[i])));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(columns), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n') + '\n';
}
