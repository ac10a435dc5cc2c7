// `packet-headers inspect FILE.pcap.gz… | DIR…`: one summary per flow file,
// as an aligned table or, with --json, one JSON object per line whose fields
// are FLOW_SUMMARY_FIELDS (docs/inspect-schema.md). Exit code 0 when every file
// was read to its end, 1 when one was cut, damaged or unreadable (it is still
// summarized as far as it could be read), 2 for a bad command line.
import { stat } from 'node:fs/promises';
import { analyzeFile } from '../analysis/summarize.js';
import { type FlowSummary, summaryJson } from '../analysis/summary.js';
import { TableWriter } from './inspecttable.js';
import { walkCaptures } from './walk.js';
import { flagsOrExit } from './toolflags.js';

const USAGE = `usage: packet-headers inspect [--json] FILE.pcap.gz|FILE.pcap|DIR...
  One summary per flow file; directories are searched at any depth for *.pcap.gz and *.pcap.
  --json   one JSON object per flow and line (NDJSON); fields in docs/inspect-schema.md
`;

/** Files summarized at the same time: enough to overlap reading with analysis, few enough to bound memory. */
const IN_FLIGHT = 8;

interface Flags {
  json: boolean;
  paths: string[];
}

function parseFlags(argv: string[]): Flags | 'help' | string {
  const flags: Flags = { json: false, paths: [] };
  let options = true;
  for (const word of argv) {
    if (options && word === '--') options = false;
    else if (options && (word === '--json' || word === '-json')) flags.json = true;
    else if (options && (word === '-h' || word === '--help' || word === '-help')) return 'help';
    else if (options && word.startsWith('-') && word !== '-') return `unknown flag ${word}`;
    else flags.paths.push(word);
  }
  if (flags.paths.length === 0) return 'no file or directory given';
  return flags;
}

/** Writes to a stream, waiting when it is full (a slow pipe must not grow the heap). */
function writerOf(stream: NodeJS.WritableStream): (text: string) => Promise<void> {
  return (text) =>
    new Promise<void>((resolve, reject) => {
      const ok = stream.write(text, (error) => (error ? reject(error) : undefined));
      if (ok) resolve();
      else stream.once('drain', resolve);
    });
}

/** Every file the command line names, directories walked one entry at a time. */
async function* inputFiles(paths: readonly string[], report: (line: string) => void): AsyncGenerator<string> {
  for (const path of paths) {
    let isDirectory = false;
    try {
      isDirectory = (await stat(path)).isDirectory();
    } catch {
      // A missing file is summarized as unreadable, so it shows in the output too.
    }
    if (isDirectory) yield* walkCaptures(path, (where, error) => report(`${where}: ${error.message}`));
    else yield path;
  }
}

export async function inspectMain(argv: string[], stdout: NodeJS.WritableStream = process.stdout, stderr: NodeJS.WritableStream = process.stderr): Promise<number> {
  const flags = flagsOrExit('inspect', USAGE, parseFlags(argv), stdout, stderr);
  if (typeof flags === 'number') return flags;
  const write = writerOf(stdout);
  const table = flags.json ? null : new TableWriter(write);
  let problems = 0;
  const report = (line: string) => {
    problems++;
    stderr.write(`packet-headers inspect: ${line}\n`);
  };
  const emit = async (summary: FlowSummary) => {
    if (!summary.complete) report(`${summary.file}: ${summary.read_problem}`);
    if (table !== null) await table.add(summary);
    else await write(`${summaryJson(summary)}\n`);
  };

  // Up to IN_FLIGHT files are read at once; summaries come out in input order.
  const pending: Array<Promise<FlowSummary>> = [];
  for await (const file of inputFiles(flags.paths, report)) {
    pending.push(analyzeFile(file).then((r) => r.summary));
    if (pending.length >= IN_FLIGHT) await emit(await pending.shift()!);
  }
  while (pending.length > 0) await emit(await pending.shift()!);
  await table?.flush();
  return problems > 0 ? 1 : 0;
}
