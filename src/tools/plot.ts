// `packet-headers plot FILE.pcap.gz [-o OUT.svg]`: one flow's time-sequence
// graph, throughput and RTT as a standalone SVG (src/plot/). Exit code 0, or 1
// when the file was cut short or damaged (what was read is still drawn), or
// 2 for a bad command line.
import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { errorWords } from '../errors.js';
import { readFlow } from '../plot/readflow.js';
import { renderFlowPlot } from '../plot/render.js';
import { flagsOrExit } from './toolflags.js';

const USAGE = `usage: packet-headers plot FILE.pcap.gz|FILE.pcap [-o OUT.svg]
  Draws the flow in FILE: sequence numbers over time for each direction's data (relative to its
  first), the ACK and receive-window lines, retransmissions, out-of-order segments, SACK blocks and
  zero windows marked; below, throughput and RTT samples over the same time. Series of more than
  4,000 points are drawn per pixel column (the range each column holds), marks merged where they
  overlap on screen.
  -o OUT.svg   where to write the SVG (default: the file's name with .svg, in the current
               directory; - for standard output)
`;

interface Flags {
  file: string;
  output: string;
}

function parseFlags(argv: string[]): Flags | 'help' | string {
  let file: string | null = null;
  let output: string | null = null;
  let options = true;
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (options && word === '--') options = false;
    else if (options && (word === '-h' || word === '-help' || word === '--help')) return 'help';
    else if (options && (word === '-o' || word === '--output' || word === '-output')) {
      output = argv[++i] ?? null;
      if (output === null) return `flag ${word} needs a file name`;
    } else if (options && word.startsWith('-o=')) output = word.slice(3);
    else if (options && word.startsWith('-') && word !== '-') return `unknown flag ${word}`;
    else if (file !== null) return `one FILE only (got ${JSON.stringify(file)} and ${JSON.stringify(word)})`;
    else file = word;
  }
  if (file === null) return 'no FILE given';
  return { file, output: output ?? `${basename(file).replace(/(\.pcap)?(\.gz)?$/, '')}.svg` };
}

export async function plotMain(argv: string[], stdout: NodeJS.WritableStream = process.stdout, stderr: NodeJS.WritableStream = process.stderr): Promise<number> {
  const flags = flagsOrExit('plot', USAGE, parseFlags(argv), stdout, stderr);
  if (typeof flags === 'number') return flags;
  const { series, summary } = await readFlow(flags.file);
  if (summary.read_problem !== null && summary.packets === 0) {
    stderr.write(`packet-headers plot: ${flags.file}: ${summary.read_problem}\n`);
    return 1;
  }
  const svg = renderFlowPlot(series);
  try {
    if (flags.output === '-') stdout.write(svg);
    else await writeFile(flags.output, svg);
  } catch (error) {
    stderr.write(`packet-headers plot: cannot write ${flags.output}: ${errorWords(error)}\n`);
    return 1;
  }
  const where = flags.output === '-' ? 'standard output' : flags.output;
  if (!summary.complete) {
    stderr.write(`packet-headers plot: ${flags.file} is cut short or damaged (${summary.read_problem}): drew the ${summary.packets} packets before the fault to ${where}\n`);
    return 1;
  }
  if (flags.output !== '-') stderr.write(`packet-headers plot: ${summary.packets} packets drawn to ${where} (${(svg.length / 1024).toFixed(0)} kB)\n`);
  return 0;
}
