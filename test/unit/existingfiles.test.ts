// One flow name, one complete file: when a flow's file exists already (a
// daemon restart while its connection lives on, two writers of one name), the
// flow store appends to it if its pcap header is the same, and otherwise
// leaves it alone and writes a numbered file beside it. Read back with tshark.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { ExistingFileAction } from '../../src/saver/flowfile.js';
import { FlowStore } from '../../src/saver/flowstore.js';
import { batchOf, ethernetFrame } from '../helpers/frames.js';
import { parsePcap } from '../helpers/pcapread.js';
import { routeToFile } from '../helpers/routefile.js';

const LINKTYPE_ETHERNET = 1;
const frame = ethernetFrame({ src: '192.0.2.77', dst: '198.51.100.9', sport: 40000, dport: 80, payload: Buffer.alloc(100, 0x41) });
let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ph-existing-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

interface Seen {
  action: ExistingFileAction;
  requested: string;
  path: string;
  cutBytes: number;
}

/**
 * One writer's run, as one daemon run would do it: a new store, one flow of
 * `count` records with timestamps from `first` µs, named `path`, finished,
 * store closed. Returns what the store reported about an existing file.
 */
async function writeFlow(path: string, stream: boolean, first: number, count: number, keep = 94, appendExisting = true): Promise<Seen[]> {
  const seen: Seen[] = [];
  const store = new FlowStore({ stream, appendExisting, onExistingFile: (action, requested, p, cutBytes) => seen.push({ action, requested, path: p, cutBytes }) });
  try {
    const file = store.openFile((reason, p, error) => assert.fail(`${reason} ${p} ${error.message}`));
    if (stream) file.setTarget(path);
    // Two batches with a flush between: in stream mode the first member goes
    // to disk on its own, the second is appended after it.
    for (const half of [0, 1]) {
      const n = half === 0 ? Math.ceil(count / 2) : Math.floor(count / 2);
      const start = first + (half === 0 ? 0 : Math.ceil(count / 2));
      const batch = batchOf(Array.from({ length: n }, (_, i) => ({ frame, timestampNs: BigInt(start + i) * 1000n })));
      routeToFile(store, file, batch, LINKTYPE_ETHERNET, keep);
      file.flush();
    }
    if (!stream) file.setTarget(path);
    assert.equal(await file.finish(), 'written');
    return seen;
  } finally {
    store.close();
  }
}

/** tshark's reading of a file: every frame's time in µs, and whether it read without complaint. */
function tsharkTimes(path: string): number[] {
  const r = spawnSync('tshark', ['-r', path, '-T', 'fields', '-e', 'frame.time_epoch'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `tshark -r ${path}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /appears to be damaged|cut short|isn't a capture file/i, r.stderr);
  return r.stdout.trim().split('\n').filter((l) => l !== '').map((l) => Math.round(Number(l) * 1e6));
}

/** pcap file headers in a decompressed stream: the nanosecond magic at record boundaries (parsePcap's framing breaks on a second one). */
function headerCount(bytes: Buffer): number {
  let n = 0;
  for (let i = 0; i + 4 <= bytes.length; i++) if (bytes.readUInt32LE(i) === 0xa1b23c4d) n++;
  return n;
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

for (const stream of [false, true]) {
  const mode = stream ? '-stream' : 'buffered';
  describe(`a flow whose file exists (${mode})`, () => {
    test('same pcap header: appended as further members, one pcap with every record of both writers and one header', async () => {
      const path = join(dir, '2026', '12', '01', 'host_1_unsafe_00000000000000AB.pcap.gz');
      assert.deepEqual(await writeFlow(path, stream, 1000, 6), []);
      const seen = await writeFlow(path, stream, 2000, 5);
      assert.deepEqual(seen, [{ action: 'appended', requested: path, path, cutBytes: 0 }]);
      const raw = gunzipSync(readFileSync(path));
      assert.equal(headerCount(raw), 1, 'exactly one pcap file header');
      const pcap = parsePcap(raw);
      assert.equal(pcap.snaplen, 94);
      assert.deepEqual(pcap.records.map((r) => r.nanoseconds / 1000), [...range(1000, 6), ...range(2000, 5)]);
      assert.deepEqual(tsharkTimes(path).map((t) => t % 1_000_000), [...range(1000, 6), ...range(2000, 5)]);
      assert.deepEqual(readdirSync(join(dir, '2026', '12', '01')), ['host_1_unsafe_00000000000000AB.pcap.gz'], 'no second file, no temporary file');
    });

    test('same pcap header without appendExisting (-read): the existing file is untouched and the flow goes to <UUID>.1.pcap.gz', async () => {
      const path = join(dir, 'trace_flow.pcap.gz');
      await writeFlow(path, stream, 1000, 6);
      const before = readFileSync(path);
      const seen = await writeFlow(path, stream, 1000, 6, 94, false);
      const numbered = join(dir, 'trace_flow.1.pcap.gz');
      assert.deepEqual(seen, [{ action: 'separate', requested: path, path: numbered, cutBytes: 0 }]);
      assert.deepEqual(readFileSync(path), before, 'the first run\'s file is byte for byte the same');
      assert.deepEqual(tsharkTimes(numbered).map((t) => t % 1_000_000), range(1000, 6));
    });

    test('other pcap header (snaplen): the existing file is untouched and the flow goes to <UUID>.1.pcap.gz, then .2', async () => {
      const path = join(dir, 'X.pcap.gz');
      await writeFlow(path, stream, 1000, 4);
      const before = readFileSync(path);
      const first = await writeFlow(path, stream, 2000, 3, 114);
      assert.deepEqual(first, [{ action: 'separate', requested: path, path: join(dir, 'X.1.pcap.gz'), cutBytes: 0 }]);
      const second = await writeFlow(path, stream, 3000, 2, 74);
      assert.deepEqual(second.map((s) => s.path), [join(dir, 'X.2.pcap.gz')]);
      assert.deepEqual(readFileSync(path), before, 'first file byte for byte as it was');
      assert.deepEqual(tsharkTimes(path).map((t) => t % 1_000_000), range(1000, 4));
      assert.deepEqual(tsharkTimes(join(dir, 'X.1.pcap.gz')).map((t) => t % 1_000_000), range(2000, 3));
      assert.equal(parsePcap(gunzipSync(readFileSync(join(dir, 'X.1.pcap.gz')))).snaplen, 114);
      assert.deepEqual(tsharkTimes(join(dir, 'X.2.pcap.gz')).map((t) => t % 1_000_000), range(3000, 2));
    });

    test('a damaged, empty or non-pcap existing file is untouched, the flow goes to <UUID>.1.pcap.gz', async () => {
      const valid = join(dir, 'valid.pcap.gz');
      await writeFlow(valid, stream, 1000, 4);
      const good = readFileSync(valid);
      const damaged = Buffer.from(good);
      damaged[Math.floor(damaged.length / 2)] ^= 0xff;
      const cases: Array<[string, Buffer]> = [
        ['damaged', damaged],
        ['empty', Buffer.alloc(0)],
        ['text', Buffer.from('not a capture\n')],
        ['gzip-not-pcap', gzipSync(Buffer.from('hello world, this is no pcap file at all'))],
      ];
      for (const [name, bytes] of cases) {
        const path = join(dir, `${name}.pcap.gz`);
        writeFileSync(path, bytes);
        const seen = await writeFlow(path, stream, 2000, 3);
        assert.deepEqual(seen.map((s) => [s.action, s.path]), [['separate', join(dir, `${name}.1.pcap.gz`)]], name);
        assert.deepEqual(readFileSync(path), bytes, `${name}: untouched`);
        assert.deepEqual(tsharkTimes(join(dir, `${name}.1.pcap.gz`)).map((t) => t % 1_000_000), range(2000, 3), name);
      }
    });

    test('a partial gzip member at the end (a crash while streaming) is cut off before the records are appended', async () => {
      const path = join(dir, 'cut.pcap.gz');
      await writeFlow(path, true, 1000, 6);
      const whole = readFileSync(path);
      // What a crash mid-write leaves: the start of a further member.
      const partial = gzipSync(Buffer.alloc(5000, 7)).subarray(0, 20);
      writeFileSync(path, Buffer.concat([whole, partial]));
      const seen = await writeFlow(path, stream, 2000, 4);
      assert.deepEqual(seen, [{ action: 'appended', requested: path, path, cutBytes: partial.length }]);
      assert.deepEqual(tsharkTimes(path).map((t) => t % 1_000_000), [...range(1000, 6), ...range(2000, 4)]);
      const check = spawnSync('gzip', ['-t', path]);
      assert.equal(check.status, 0, String(check.stderr));
    });

    test('damage followed by a whole member is not a cut member: the file is left alone', async () => {
      const path = join(dir, 'middle.pcap.gz');
      await writeFlow(path, true, 1000, 6);
      const whole = readFileSync(path);
      const garbled = Buffer.concat([whole, Buffer.from('garbage in the middle'), gzipSync(Buffer.alloc(100))]);
      writeFileSync(path, garbled);
      const seen = await writeFlow(path, stream, 2000, 2);
      assert.deepEqual(seen.map((s) => s.action), ['separate']);
      assert.deepEqual(readFileSync(path), garbled);
      assert.ok(existsSync(join(dir, 'middle.1.pcap.gz')));
    });
  });
}
