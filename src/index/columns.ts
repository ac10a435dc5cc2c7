// The `flows` table's columns, made from the inspect schema (src/analysis/
// summary.ts) so that a field added there becomes a column here without a
// second list to keep in step. The file's own identity (path, size, mtime)
// comes first: it is what the incremental update compares.
import { FLOW_SUMMARY_FIELDS, type FieldSpec, type FieldType } from '../analysis/summary.js';

export type SqlType = 'TEXT' | 'INTEGER' | 'REAL';

export interface Column {
  readonly name: string;
  readonly sqlType: SqlType;
  readonly nullable: boolean;
}

/**
 * Timestamps stay RFC 3339 text: the schema's fixed layout (UTC, six decimals)
 * sorts and compares as text in time order, and SQLite's date functions read it.
 * Booleans are 0 or 1, as SQLite has no boolean type.
 */
const SQL_TYPES: Record<FieldType, SqlType> = {
  string: 'TEXT',
  timestamp: 'TEXT',
  integer: 'INTEGER',
  boolean: 'INTEGER',
  float: 'REAL',
};

/** Columns that describe the file rather than the flow in it. */
export const FILE_COLUMNS: readonly Column[] = [
  // Relative to the datadir, so the index stays right when the datadir is moved or mounted elsewhere.
  { name: 'path', sqlType: 'TEXT', nullable: false },
  { name: 'file_bytes', sqlType: 'INTEGER', nullable: false },
  // Nanoseconds since the epoch: a second write within the same millisecond still changes it on ext4 and tmpfs.
  { name: 'file_mtime_ns', sqlType: 'INTEGER', nullable: false },
  { name: 'indexed_at', sqlType: 'TEXT', nullable: false },
];

export function summaryColumns(fields: readonly FieldSpec[] = FLOW_SUMMARY_FIELDS): Column[] {
  const taken = new Set(FILE_COLUMNS.map((c) => c.name));
  return fields.map((field) => {
    // A summary field named like a file column would make two columns of one name: the schema must not do that.
    if (taken.has(field.name)) throw new Error(`summary field ${field.name} clashes with a column of the index`);
    return { name: field.name, sqlType: SQL_TYPES[field.type], nullable: field.nullable };
  });
}

/** The `flows` table: file columns, then every summary field in schema order. */
export const FLOW_COLUMNS: readonly Column[] = [...FILE_COLUMNS, ...summaryColumns()];

/** A summary value as SQLite stores it. */
export function sqlValue(value: unknown): string | number | bigint | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'bigint') return value;
  return JSON.stringify(value);
}

export function createTableSql(table: string, columns: readonly Column[]): string {
  const defs = columns.map((c) => `${quoteName(c.name)} ${c.sqlType}${c.nullable ? '' : ' NOT NULL'}${c.name === 'path' ? ' PRIMARY KEY' : ''}`);
  return `CREATE TABLE ${quoteName(table)} (\n  ${defs.join(',\n  ')}\n) STRICT`;
}

export function quoteName(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
