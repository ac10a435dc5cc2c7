// One line per message on stderr, prefixed with the UTC time. Callers make sure
// that addresses in messages are already anonymized when they must be.
export type Log = (message: string) => void;

export const stderrLog: Log = (message) => {
  process.stderr.write(`${new Date().toISOString()} ${message}\n`);
};
