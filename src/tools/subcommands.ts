// The first word of the command line picks a tool instead of the daemon
// (`packet-headers inspect FILE…`). Daemon flags all start with '-', so a
// word without one cannot be mistaken for them. Each tool is loaded only when
// asked for: the daemon never imports them.

export interface Subcommand {
  name: string;
  /** One line for the list of tools. */
  summary: string;
  /** Runs the tool on the words after its name; resolves to the exit code. */
  run(argv: string[]): Promise<number>;
}

const SUBCOMMANDS: readonly Subcommand[] = [
  {
    name: 'inspect',
    summary: 'one summary per flow file (table, or NDJSON with --json)',
    run: async (argv) => (await import('./inspect.js')).inspectMain(argv),
  },
  {
    name: 'index',
    summary: 'keep a SQLite index of the flows in a datadir, and query it with SQL (--query)',
    run: async (argv) => (await import('./flowindex.js')).indexMain(argv),
  },
  {
    name: 'plot',
    summary: "draw one flow's time-sequence graph, throughput and RTT as SVG",
    run: async (argv) => (await import('./plot.js')).plotMain(argv),
  },
];

/**
 * A reader that stops reading (`packet-headers inspect DIR | head`) ends the
 * tool quietly with exit code 0, instead of with an EPIPE stack trace.
 */
export function endQuietlyWhenOutputCloses(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
}

/** The tool named by the first word, or undefined when the daemon should run. */
export function findSubcommand(firstWord: string | undefined): Subcommand | undefined {
  if (firstWord === undefined || firstWord.startsWith('-')) return undefined;
  return SUBCOMMANDS.find((s) => s.name === firstWord);
}

/** Lines naming every tool, for usage texts. */
export function subcommandList(): string {
  return SUBCOMMANDS.map((s) => `  ${s.name.padEnd(10)} ${s.summary}\n`).join('');
}
