// Temporary files an earlier run left in the datadir: a second signal
// (process.exit), kill -9 or a crash between a temporary file's creation and
// its rename (native/files.cc names them). They are removed at start-up,
// before this run writes anything: in a container the pid is the same on
// every start, so an earlier run's temporary name can be this run's.
import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

/** `.<name>.pcap.gz.<pid>.tmp`, the flow store's only temporary name. */
export const TEMPORARY_NAME = /^\..+\.pcap\.gz\.\d+\.tmp$/;
const YEAR = /^\d{4}$/;
const MONTH_OR_DAY = /^\d{2}$/;

export interface LeftoverCleanup {
  removed: number;
  /** Names that matched but could not be removed. */
  failed: number;
  ms: number;
}

/**
 * Removes the flow store's temporary files from `<datadir>/YYYY/MM/DD/`, and
 * nothing else: only names of that pattern, only regular files, only in
 * directories of that layout; symbolic links are never followed.
 */
export function removeLeftoverTemporaries(datadir: string): LeftoverCleanup {
  const started = performance.now();
  const result: LeftoverCleanup = { removed: 0, failed: 0, ms: 0 };
  for (const year of subdirectories(datadir, YEAR)) {
    for (const month of subdirectories(year, MONTH_OR_DAY)) {
      for (const day of subdirectories(month, MONTH_OR_DAY)) {
        for (const entry of entries(day)) {
          if (!entry.isFile() || !TEMPORARY_NAME.test(entry.name)) continue;
          try {
            unlinkSync(join(day, entry.name));
            result.removed++;
          } catch {
            result.failed++;
          }
        }
      }
    }
  }
  result.ms = performance.now() - started;
  return result;
}

function entries(dir: string) {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** Real directories (a Dirent of a symbolic link is never a directory) named like `pattern`. */
function subdirectories(dir: string, pattern: RegExp): string[] {
  return entries(dir)
    .filter((e) => e.isDirectory() && pattern.test(e.name))
    .map((e) => join(dir, e.name));
}
