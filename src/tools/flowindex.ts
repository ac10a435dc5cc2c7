// `packet-headers index DATADIR`: brings the flow index of a datadir up to
// date (src/index/), or with --query runs SQL on it. The index is a SQLite
// file, by default DATADIR/flows.sqlite; a run reads only files that are new
// or changed since the last one. SIGINT stops after the file being read,
// commits what was read and exits 130; the next run goes on from there.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { summarizeFile } from '../analysis/summarize.js';
import { errorWords } from '../errors.js';
import { FlowDb } from '../index/flowdb.js';
import { updateIndex, type UpdateResult } from '../index/indexer.js';
import { printQuery } from '../index/queryoutput.js';
import { flagsOrExit } from './toolflags.js';

export const DEFAULT_DATABASE_NAME = 'flows.sqlite';

const USAGE = `usage: packet-headers index DATADIR [--db FILE] [--query SQL [--json]]
  Indexes the flow files under DATADIR (*.pcap.gz, *.pcap) in a SQLite database, one row per file in
  the table "flows": path (relative to DATADIR), file_bytes, file_mtime_ns, indexed_at, then every field
  of 'packet-headers inspect --json' (docs/inspect-schema.md). Only new or changed files are read; rows
  of files no longer in DATADIR are dropped.
  --db FILE     the database (default DATADIR/${DEFAULT_DATABASE_NAME}; for a live datadir that an uploader
                ships, give a FILE outside it, as the daemon's -index must be)
  --query SQL   run SQL on the index (read-only) and print its rows instead of updating the index
  --json        with --query: one JSON object per row and line
`;

interface Flags {
  datadir: string;
  database: string;
  query: string | null;
  json: boolean;
}

function parseFlags(argv: string[]): Flags | 'help' | string {
  let datadir: string | null = null;
  let database: string | null = null;
  let query: string | null = null;
  let json = false;
  let options = true;
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    const [name, inline] = word.startsWith('-') && options ? splitFlag(word) : [null, null];
    const value = () => inline ?? argv[++i];
    if (name === null) {
      if (datadir !== null) return `one DATADIR only (got ${JSON.stringify(datadir)} and ${JSON.stringify(word)})`;
      datadir = word;
    } else if (name === '') options = false;
    else if (name === 'h' || name === 'help') return 'help';
    else if (name === 'json') json = true;
    else if (name === 'db' || name === 'query') {
      const v = value();
      if (v === undefined) return `flag --${name} needs a value`;
      if (name === 'db') database = v;
      else query = v;
    } else return `unknown flag ${word}`;
  }
  if (datadir === null) return 'no DATADIR given';
  if (json && query === null) return '--json goes with --query';
  return { datadir, database: database ?? join(datadir, DEFAULT_DATABASE_NAME), query, json };
}

/** `--name=value` → ['name', 'value']; `--name` → ['name', null]; `--` → ['', null]. */
function splitFlag(word: string): [string, string | null] {
  const bare = word.replace(/^--?/, '');
  const eq = bare.indexOf('=');
  return eq < 0 ? [bare, null] : [bare.slice(0, eq), bare.slice(eq + 1)];
}

export async function indexMain(argv: string[], stdout: NodeJS.WritableStream = process.stdout, stderr: NodeJS.WritableStream = process.stderr): Promise<number> {
  const flags = flagsOrExit('index', USAGE, parseFlags(argv), stdout, stderr);
  if (typeof flags === 'number') return flags;
  return flags.query === null ? update(flags, stderr) : query(flags, flags.query, stdout, stderr);
}

async function query(flags: Flags, sql: string, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): Promise<number> {
  if (!existsSync(flags.database)) {
    stderr.write(`packet-headers index: no index at ${flags.database}: run 'packet-headers index ${flags.datadir}' first\n`);
    return 1;
  }
  let db: FlowDb;
  try {
    db = new FlowDb(flags.database, { readonly: true });
  } catch (error) {
    stderr.write(`packet-headers index: cannot open ${flags.database}: ${errorWords(error)}\n`);
    return 1;
  }
  try {
    const chunks: string[] = [];
    const rows = printQuery(db.db, sql, flags.json ? 'json' : 'table', (text) => {
      chunks.push(text);
      if (chunks.length >= 256) stdout.write(chunks.splice(0).join(''));
    });
    stdout.write(chunks.join(''));
    if (!flags.json) stderr.write(`(${rows} row${rows === 1 ? '' : 's'})\n`);
    return 0;
  } catch (error) {
    stderr.write(`packet-headers index: query failed: ${(error as Error).message}\n`);
    return 1;
  } finally {
    db.close();
  }
}

async function update(flags: Flags, stderr: NodeJS.WritableStream): Promise<number> {
  let db: FlowDb;
  try {
    db = new FlowDb(flags.database);
  } catch (error) {
    stderr.write(`packet-headers index: cannot open ${flags.database}: ${errorWords(error)}\n`);
    return 1;
  }
  const interrupt = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupt.signal.aborted) {
      // A second signal: the open transaction is rolled back by SQLite; the committed batches stay.
      stderr.write(`packet-headers index: ${signal} again: exiting at once\n`);
      process.exit(130);
    }
    stderr.write(`packet-headers index: ${signal}: stopping after the file being read\n`);
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const started = performance.now();
  let result: UpdateResult;
  try {
    result = await updateIndex(db, flags.datadir, {
      summarize: async (file) => (await summarizeFile(file)) as unknown as Record<string, unknown>,
      signal: interrupt.signal,
    });
  } catch (error) {
    stderr.write(`packet-headers index: cannot index ${flags.datadir}: ${errorWords(error)}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const rows = db.count();
  db.close();
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const unreadable = result.failed > 0 ? `, ${result.failed} vanished or unreadable` : '';
  const line = `${result.indexed} files indexed (new or changed), ${result.unchanged} unchanged, ${result.removed} rows of removed files dropped${unreadable}; ${rows} rows in ${flags.database} (${seconds} s)`;
  if (result.interrupted) {
    stderr.write(`packet-headers index: interrupted: ${line}; run it again to index the rest\n`);
    return 130;
  }
  stderr.write(`packet-headers index: ${line}\n`);
  return 0;
}
