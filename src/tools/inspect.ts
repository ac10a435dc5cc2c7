// `packet-headers inspect FILE.pcap.gz… | DIR…`: one summary per flow file,
// as an aligned table or, with --json, one JSON object per line whose fields
// are FLOW_SUMMARY_FIELDS (docs/inspect-schema.md). Exit code 0 when every file
// was read to its end, 1 when one was cut, damaged or unreadable (it is still
// summarized as far as it could be read), 2 for a bad command line.
import { FlowSummarizer } from '../analysis/summarize.js';
import { type FlowSummary, summaryJson } from '../analysis/summary.js';
import { TableWriter } from './inspecttable.js';
import { inputFiles } from './walk.js';
import { flagsOrExit } from './toolflags.js';

const USAGE = `usage: packet-headers inspect [--json] FILE.pcap.gz|FILE.pcap|DIR...
  One summary per flow file; directories are searched at any depth for *.pcap.gz and *.pcap.
  --json   one JSON object per flow and line (NDJSON); fields in docs/inspect-schema.md
`;

/** Big (streamed) files summarized at the same time: enough to overlap reading with analysis, few enough to bound memory. */
const IN_FLIGHT = 8;
/** JSON output is written in pieces of about this many characters, not a write per line. */
const OUTPUT_BATCH = 64 * 1024;
/** The event loop gets a turn at least this often (files), also when little is written. */
const FILES_PER_TURN = 256;

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

/** Lets the event loop run (stream events, signals): the loop below is synchronous for file after small file. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

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
  // JSON lines are collected and written OUTPUT_BATCH characters at a time.
  let lines = '';
  let sinceTurn = 0;
  const flush = async () => {
    if (lines !== '') {
      const text = lines;
      lines = '';
      await write(text);
    }
    sinceTurn = 0;
    await turn();
  };
  const emit = (summary: FlowSummary): Promise<void> | undefined => {
    if (!summary.complete) report(`${summary.file}: ${summary.read_problem}`);
    if (table !== null) return table.add(summary);
    lines += `${summaryJson(summary)}\n`;
    return undefined;
  };

  // Small files are read and summarized synchronously, one after the other,
  // by summarizers that keep their state for the next file; a big or damaged
  // file gives a promise, and up to IN_FLIGHT of those are awaited at once.
  // Summaries come out in input order.
  const free: FlowSummarizer[] = [];
  const pending: Array<FlowSummary | Promise<FlowSummary>> = [];
  for (const file of inputFiles(flags.paths, (where, error) => report(`${where}: ${error.message}`))) {
    const summarizer = free.pop() ?? new FlowSummarizer();
    const analysis = summarizer.analyze(file);
    if (analysis instanceof Promise) {
      pending.push(
        analysis.then((a) => {
          free.push(summarizer);
          return a.summary;
        }),
      );
    } else {
      free.push(summarizer);
      pending.push(analysis.summary);
    }
    while (pending.length > 0 && !(pending[0] instanceof Promise)) {
      const written = emit(pending.shift() as FlowSummary);
      if (written !== undefined) await written;
    }
    if (pending.length >= IN_FLIGHT) await emit(await pending.shift()!);
    if (lines.length >= OUTPUT_BATCH || ++sinceTurn >= FILES_PER_TURN) await flush();
  }
  while (pending.length > 0) await emit(await pending.shift()!);
  await flush();
  await table?.flush();
  return problems > 0 ? 1 : 0;
}
