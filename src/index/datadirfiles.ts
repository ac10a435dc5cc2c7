// The pcap files of a datadir, walked as a stream: a directory's entries are
// read as they are needed, so a datadir of millions of files never has its
// names in memory at once.
import { opendir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileStamp } from './flowdb.js';

export interface DatadirFile {
  /** Relative to the datadir, with '/' separators. */
  path: string;
  stamp: FileStamp;
}

/**
 * What the daemon writes (`.pcap.gz`) and plain captures (`.pcap`). Names that
 * start with a dot are skipped: the flow store's temporary files are
 * `.<UUID>.pcap.gz.<pid>.tmp`, and a file is only complete once renamed.
 */
export function isFlowFileName(name: string): boolean {
  return !name.startsWith('.') && (name.endsWith('.pcap.gz') || name.endsWith('.pcap'));
}

/** Every flow file under `datadir`, at any depth; symbolic links are not followed. */
export async function* datadirFiles(datadir: string, relative = ''): AsyncGenerator<DatadirFile> {
  let dir;
  try {
    dir = await opendir(relative === '' ? datadir : join(datadir, relative));
  } catch (error) {
    // The datadir itself must be readable; a subdirectory removed while walking is not an error.
    if (relative === '') throw error;
    return;
  }
  for await (const entry of dir) {
    const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
    if (entry.isDirectory()) {
      yield* datadirFiles(datadir, path);
    } else if (entry.isFile() && isFlowFileName(entry.name)) {
      const stamp = await fileStamp(join(datadir, path));
      if (stamp !== null) yield { path, stamp };
    }
  }
}

/** Size and mtime, or null for a file removed since its directory was read. */
export async function fileStamp(file: string): Promise<FileStamp | null> {
  try {
    const s = await stat(file, { bigint: true });
    return { bytes: Number(s.size), mtimeNs: s.mtimeNs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
