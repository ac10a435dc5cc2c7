// The flow files under a directory, found one at a time: a day's directory can
// hold millions of files, so the walk holds one open directory per level and
// never a list of names. Files come in the order the file system lists them.
// The walk is synchronous (opendirSync, a few hundred entries per read): a
// promise per file costs more than reading a small flow file.
import { opendirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** True for the names of files the daemon writes, and of plain captures. */
export function isCaptureName(name: string): boolean {
  return name.endsWith('.pcap.gz') || name.endsWith('.pcap');
}

/** Every capture file under `dir`, at any depth; unreadable subdirectories are reported to `onError` and skipped. */
export function* walkCaptures(dir: string, onError: (path: string, error: Error) => void): Generator<string> {
  let handle;
  try {
    handle = opendirSync(dir, { bufferSize: 256 });
  } catch (error) {
    onError(dir, error as Error);
    return;
  }
  try {
    for (let entry = handle.readSync(); entry !== null; entry = handle.readSync()) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) yield* walkCaptures(path, onError);
      else if ((entry.isFile() || entry.isSymbolicLink()) && isCaptureName(entry.name)) yield path;
    }
  } finally {
    handle.closeSync();
  }
}

/** Every file the command line names, directories walked one entry at a time. */
export function* inputFiles(paths: readonly string[], onError: (path: string, error: Error) => void): Generator<string> {
  for (const path of paths) {
    let isDirectory = false;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch {
      // A missing file is summarized as unreadable, so it shows in the output too.
    }
    if (isDirectory) yield* walkCaptures(path, onError);
    else yield path;
  }
}
