import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import { Compressor } from '../../src/saver/compressor.js';
import { writeFileAtomicallySync } from '../../src/saver/outputfs.js';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ph-outputfs-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Every file and directory under `root`, relative, sorted. */
function tree(root: string): string[] {
  return (readdirSync(root, { recursive: true }) as string[]).sort();
}

// The daemon's path: the same write, run in a saver worker thread, with errors carried back.
const compressor = new Compressor({ workers: 1 });
after(() => compressor.close());

const writers = {
  sync: async (path: string, chunks: Buffer[], mode: number, dirMode: number) => writeFileAtomicallySync(path, chunks, mode, dirMode),
  worker: (path: string, chunks: Buffer[], mode: number, dirMode: number) => compressor.writeFileAtomically(path, chunks, mode, dirMode),
};

for (const [name, write] of Object.entries(writers)) {
  describe(`writeFileAtomically (${name})`, () => {
    test('writes the chunks in order, making missing directories, and leaves no temporary file', async () => {
      const path = join(dir, '2026', '11', '23', 'a.pcap.gz');
      await write(path, [Buffer.from('one '), Buffer.from('two '), Buffer.from('three')], 0o640, 0o750);
      assert.equal(readFileSync(path, 'utf8'), 'one two three');
      assert.deepEqual(tree(dir), ['2026', '2026/11', '2026/11/23', '2026/11/23/a.pcap.gz']);
      assert.equal(statSync(path).mode & 0o777, 0o640 & ~process.umask());
      assert.equal(statSync(join(dir, '2026', '11')).mode & 0o777, 0o750 & ~process.umask());
    });

    test('more chunks than one writev takes', async () => {
      const path = join(dir, 'many');
      const chunks = Array.from({ length: 1000 }, (_, i) => Buffer.from(`${i},`));
      await write(path, chunks, 0o644, 0o755);
      assert.equal(readFileSync(path, 'utf8'), chunks.map(String).join(''));
    });

    test('a failure keeps its errno code and leaves nothing behind', async () => {
      // The final name is taken by a non-empty directory, so the rename fails
      // after the temporary file was written.
      const path = join(dir, 'taken');
      mkdirSync(path);
      writeFileSync(join(path, 'inside'), 'x');
      await assert.rejects(write(path, [Buffer.from('data')], 0o644, 0o755), (error: NodeJS.ErrnoException) => {
        assert.ok(error.code === 'EISDIR' || error.code === 'ENOTEMPTY', String(error.code));
        return true;
      });
      assert.deepEqual(tree(dir), ['taken', 'taken/inside']);
    });
  });
}
