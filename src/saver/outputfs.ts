// The few filesystem operations the savers need, behind an interface so tests
// can make them fail (disk full, read-only) without a real broken disk.
//
// Thousands of files can finish at once (the end of an offline run, a
// shutdown), so the main thread's share of each file is kept small: the
// daemon writes whole files in its saver worker threads (workerOutputFs), and
// a directory is made only when opening a file in it finds it missing.
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface OutputFs {
  /** mkdir -p with the given mode for every directory it creates. */
  mkdir(path: string, mode: number): Promise<void>;
  /**
   * Writes the chunks in order to a temporary file beside `path` and renames
   * it to `path`, so no reader sees half a file; missing directories are made
   * with `dirMode`. On failure nothing is left behind, and the error keeps its
   * errno code. The chunks are taken: the caller must not touch them again.
   */
  writeFileAtomically(path: string, chunks: readonly Buffer[], mode: number, dirMode: number): Promise<void>;
  /** Appends to `path`, creating it when missing. */
  appendFile(path: string, data: Buffer, mode: number): Promise<void>;
  unlink(path: string): Promise<void>;
}

/** Chunks per writev: well below IOV_MAX (1024 on Linux). */
const WRITEV_GROUP = 256;

function temporaryPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
}

function shortWrite(path: string): Error {
  // A short write on a regular file means the disk is full.
  return Object.assign(new Error(`short write to ${path}`), { code: 'ENOSPC' });
}

/** writeFileAtomically with blocking syscalls, for a thread of its own (the saver workers). */
export function writeFileAtomicallySync(path: string, chunks: readonly Uint8Array[], mode: number, dirMode: number): void {
  const temporary = temporaryPathFor(path);
  let fd: number;
  try {
    fd = fs.openSync(temporary, 'w', mode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    fs.mkdirSync(dirname(path), { recursive: true, mode: dirMode });
    fd = fs.openSync(temporary, 'w', mode);
  }
  try {
    try {
      for (let i = 0; i < chunks.length; i += WRITEV_GROUP) {
        const group = chunks.slice(i, i + WRITEV_GROUP);
        let expected = 0;
        for (const b of group) expected += b.byteLength;
        if (fs.writevSync(fd, group) !== expected) throw shortWrite(temporary);
      }
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temporary, path);
  } catch (error) {
    try {
      fs.unlinkSync(temporary);
    } catch {
      // already gone
    }
    throw error;
  }
}

async function mkdir(path: string, mode: number): Promise<void> {
  await fsp.mkdir(path, { recursive: true, mode });
}

async function appendFile(path: string, data: Buffer, mode: number): Promise<void> {
  await fsp.appendFile(path, data, { mode });
}

async function unlink(path: string): Promise<void> {
  await fsp.unlink(path);
}

/**
 * Everything on the main thread. Whole files are written with blocking calls:
 * the daemon writes them through workerOutputFs; this one serves tests and
 * tools, where a file at a time is fine.
 */
export const nodeOutputFs: OutputFs = {
  mkdir,
  async writeFileAtomically(path, chunks, mode, dirMode) {
    writeFileAtomicallySync(path, chunks, mode, dirMode);
  },
  appendFile,
  unlink,
};

/** Whole files are written by the given worker threads (see Compressor); the rest as nodeOutputFs. */
export function workerOutputFs(writer: { writeFileAtomically: OutputFs['writeFileAtomically'] }): OutputFs {
  return { ...nodeOutputFs, writeFileAtomically: (path, chunks, mode, dirMode) => writer.writeFileAtomically(path, chunks, mode, dirMode) };
}
