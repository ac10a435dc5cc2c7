// The flow files under a directory, found one at a time: a day's directory can
// hold millions of files, so the walk holds one open directory per level and
// never a list of names. Files come in the order the file system lists them.
import { opendir } from 'node:fs/promises';
import { join } from 'node:path';

/** True for the names of files the daemon writes, and of plain captures. */
export function isCaptureName(name: string): boolean {
  return name.endsWith('.pcap.gz') || name.endsWith('.pcap');
}

/** Every capture file under `dir`, at any depth; unreadable subdirectories are reported to `onError` and skipped. */
export async function* walkCaptures(dir: string, onError: (path: string, error: Error) => void): AsyncGenerator<string> {
  let handle;
  try {
    handle = await opendir(dir, { bufferSize: 256 });
  } catch (error) {
    onError(dir, error as Error);
    return;
  }
  for await (const entry of handle) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walkCaptures(path, onError);
    else if ((entry.isFile() || entry.isSymbolicLink()) && isCaptureName(entry.name)) yield path;
  }
}
