// The flow index database: one SQLite file, one row per pcap file in `flows`.
// The table is derived data (every row can be made again from its file), so a
// table whose columns no longer match the schema is dropped and rebuilt
// rather than migrated. WAL journaling lets `index --query` read while the
// daemon's indexer writes; a busy timeout lets two writers take turns.
import Database from 'better-sqlite3';
import { createTableSql, FLOW_COLUMNS, quoteName, sqlValue, type Column } from './columns.js';

export const FLOWS_TABLE = 'flows';
/** How long a writer waits for another one (the daemon, a second `index` run) before giving up. */
const BUSY_TIMEOUT_MS = 10_000;

/** What the incremental update compares: a file whose size or mtime differs is read again. */
export interface FileStamp {
  bytes: number;
  mtimeNs: bigint;
}

export interface FlowRow {
  path: string;
  stamp: FileStamp;
  /** The summary's fields by name (the inspect schema). */
  summary: Readonly<Record<string, unknown>>;
}

export class FlowDb {
  readonly db: Database.Database;
  private readonly upsert: Database.Statement;
  private readonly remove: Database.Statement;
  private readonly columns: readonly Column[];

  /** Opens (or creates) the database at `file`; `readonly` for queries, which then never create or change anything. */
  constructor(file: string, options: { readonly?: boolean; columns?: readonly Column[] } = {}) {
    this.columns = options.columns ?? FLOW_COLUMNS;
    this.db = openDatabase(file, options.readonly === true);
    this.db.defaultSafeIntegers(false);
    if (options.readonly !== true) {
      this.db.pragma('journal_mode = WAL');
      // A batch committed is on disk in the WAL; NORMAL skips only the fsync at each commit that WAL does not need for consistency.
      this.db.pragma('synchronous = NORMAL');
      this.ensureTable();
    }
    const names = this.columns.map((c) => quoteName(c.name));
    this.upsert = this.db.prepare(
      `INSERT OR REPLACE INTO ${quoteName(FLOWS_TABLE)} (${names.join(', ')}) VALUES (${this.columns.map(() => '?').join(', ')})`,
    );
    this.remove = this.db.prepare(`DELETE FROM ${quoteName(FLOWS_TABLE)} WHERE path = ?`);
  }

  /** Every indexed file and its stamp, for the incremental update. */
  stamps(): Map<string, FileStamp> {
    const result = new Map<string, FileStamp>();
    const select = this.db.prepare(`SELECT path, file_bytes, file_mtime_ns FROM ${quoteName(FLOWS_TABLE)}`).safeIntegers(true);
    for (const row of select.iterate() as Iterable<{ path: string; file_bytes: bigint; file_mtime_ns: bigint }>) {
      result.set(row.path, { bytes: Number(row.file_bytes), mtimeNs: row.file_mtime_ns });
    }
    return result;
  }

  /** Writes rows and removes paths in one transaction: after an interrupt either all of them are in or none. */
  commit(rows: readonly FlowRow[], removed: readonly string[] = []): void {
    const indexedAt = new Date().toISOString();
    this.db.transaction(() => {
      for (const row of rows) this.upsert.run(this.values(row, indexedAt));
      for (const path of removed) this.remove.run(path);
    })();
  }

  count(): number {
    return (this.db.prepare(`SELECT count(*) AS n FROM ${quoteName(FLOWS_TABLE)}`).get() as { n: number }).n;
  }

  close(): void {
    this.db.close();
  }

  private values(row: FlowRow, indexedAt: string): unknown[] {
    return this.columns.map((c) => {
      switch (c.name) {
        case 'path':
          return row.path;
        case 'file_bytes':
          return row.stamp.bytes;
        case 'file_mtime_ns':
          return row.stamp.mtimeNs;
        case 'indexed_at':
          return indexedAt;
        default:
          return sqlValue(row.summary[c.name]);
      }
    });
  }

  private ensureTable(): void {
    const wanted = createTableSql(FLOWS_TABLE, this.columns);
    const existing = this.db.prepare(`SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?`).get(FLOWS_TABLE) as { sql: string } | undefined;
    if (existing?.sql === wanted) return;
    this.db.transaction(() => {
      if (existing !== undefined) this.db.exec(`DROP TABLE ${quoteName(FLOWS_TABLE)}`);
      this.db.exec(wanted);
    })();
  }
}

/**
 * better-sqlite3 loads its native part at the first open. An install that ran
 * no install scripts (npm ci --ignore-scripts, or npm install -g, which runs
 * none unless allowed) has none: say how to build it.
 */
function openDatabase(file: string, readonly: boolean): Database.Database {
  try {
    return new Database(file, { readonly, fileMustExist: readonly, timeout: BUSY_TIMEOUT_MS });
  } catch (error) {
    if (/Could not locate the bindings file/.test((error as Error).message)) {
      throw new Error('better-sqlite3 is installed without its native part: build it with "npm rebuild better-sqlite3" (or scripts/setup.sh in a checkout)', { cause: error });
    }
    throw error;
  }
}
