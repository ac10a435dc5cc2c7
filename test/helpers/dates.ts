// A flow's file is in the directory of its Open event's UTC date. Tests that
// make live events know that date only as "between these two instants", so
// they look in every day of that window, not in today's directory at
// assertion time (which is wrong for a test run across midnight).
import { existsSync } from 'node:fs';
import { join } from 'node:path';

function datePath(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replaceAll('-', '/');
}

/** The UTC YYYY/MM/DD directories of every day from fromMs to toMs, both included. */
export function datePathsBetween(fromMs: number, toMs: number): string[] {
  const days: string[] = [];
  for (let day = Math.floor(fromMs / 86_400_000); day <= Math.floor(toMs / 86_400_000); day++) days.push(datePath(day * 86_400_000));
  return days;
}

/**
 * The file <datadir>/<day>/<name> for the one day of the window that has it;
 * throws when no day or more than one has it.
 */
export function fileInWindow(datadir: string, name: string, fromMs: number, toMs: number): string {
  const found = datePathsBetween(fromMs, toMs)
    .map((day) => join(datadir, day, name))
    .filter((path) => existsSync(path));
  if (found.length !== 1) throw new Error(`${name}: ${found.length} files in the days from ${new Date(fromMs).toISOString()} to ${new Date(toMs).toISOString()}`);
  return found[0];
}
