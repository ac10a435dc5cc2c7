// The few filesystem operations the savers need, behind an interface so tests
// can make them fail (disk full, read-only) without a real broken disk.
import { promises as fsp } from 'node:fs';

export interface OutputFs {
  /** mkdir -p with the given mode for every directory it creates. */
  mkdir(path: string, mode: number): Promise<void>;
  /** Creates or truncates `path` and writes the chunks in order. */
  writeFile(path: string, chunks: readonly Buffer[], mode: number): Promise<void>;
  /** Appends to `path`, creating it when missing. */
  appendFile(path: string, data: Buffer, mode: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
}

export const nodeOutputFs: OutputFs = {
  async mkdir(path, mode) {
    await fsp.mkdir(path, { recursive: true, mode });
  },
  async writeFile(path, chunks, mode) {
    const handle = await fsp.open(path, 'w', mode);
    try {
      // Groups below IOV_MAX; a short write on a regular file means the disk is full.
      for (let i = 0; i < chunks.length; i += 256) {
        const group = chunks.slice(i, i + 256);
        const expected = group.reduce((n, b) => n + b.length, 0);
        const { bytesWritten } = await handle.writev(group);
        if (bytesWritten !== expected) throw Object.assign(new Error(`short write to ${path}`), { code: 'ENOSPC' });
      }
    } finally {
      await handle.close();
    }
  },
  async appendFile(path, data, mode) {
    await fsp.appendFile(path, data, { mode });
  },
  rename: (from, to) => fsp.rename(from, to),
  unlink: (path) => fsp.unlink(path),
};
