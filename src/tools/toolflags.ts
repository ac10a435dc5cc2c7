// What every subcommand does with its parsed command line before its work:
// `--help` prints the usage (exit 0); a bad command line prints the reason
// and the usage to stderr (exit 2).

/** The flags, or the exit code when they were a help request or bad. */
export function flagsOrExit<T extends object>(
  name: string,
  usage: string,
  flags: T | 'help' | string,
  stdout: NodeJS.WritableStream,
  stderr: NodeJS.WritableStream,
): T | number {
  if (flags === 'help') {
    stdout.write(usage);
    return 0;
  }
  if (typeof flags === 'string') {
    stderr.write(`packet-headers ${name}: ${flags}\n${usage}`);
    return 2;
  }
  return flags;
}
