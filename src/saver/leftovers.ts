// Temporary files an earlier run left in the datadir: a second signal
// (process.exit), kill -9 or a crash between a temporary file's creation and
// its rename (native/files.cc names them). They are removed at start-up,
// before this run writes anything: in a container the pid is the same on
// every start, so an earlier run's temporary name can be this run's.
import { readdirSync, unlinkSync, type Dirent } from 'node:fs';
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
  for (const { day, name } of dayFiles(datadir)) {
    if (!TEMPORARY_NAME.test(name)) continue;
    try {
      unlinkSync(join(datadir, day, name));
      result.removed++;
    } catch {
      result.failed++;
    }
  }
  result.ms = performance.now() - started;
  return result;
}

/**
 * Every regular file in `<root>/YYYY/MM/DD/` (`day` relative to `root`), and
 * nothing else: only directories of that layout, a symbolic link never
 * followed (the Dirent of one is never a directory or a file).
 */
export function* dayFiles(root: string): Generator<{ day: string; name: string }> {
  for (const year of subdirectories(root, YEAR)) {
    for (const month of subdirectories(join(root, year), MONTH_OR_DAY)) {
      for (const dd of subdirectories(join(root, year, month), MONTH_OR_DAY)) {
        const day = join(year, month, dd);
        for (const entry of entries(join(root, day))) if (entry.isFile()) yield { day, name: entry.name };
      }
    }
  }
}

export function entries(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** Names of the real directories in `dir` named like `pattern`. */
function subdirectories(dir: string, pattern: RegExp): string[] {
  return entries(dir)
    .filter((e) => e.isDirectory() && pattern.test(e.name))
    .map((e) => e.name);
}
