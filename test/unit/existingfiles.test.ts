// One flow name, one file, published once: a file that appeared under its name
// is never written again (an uploader may have shipped and deleted it, or be
// shipping it), so a flow whose name is taken goes to the first free
// <UUID>.N.pcap.gz, whatever the taken name holds. With a staging directory a
// file grows there and appears in the tree whole; a stream file an earlier run
// left there is published at the next start, cut to its last whole member.
// Read back with tshark.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { loadAddon } from '../../src/native/addon.js';
import { FlowStore } from '../../src/saver/flowstore.js';
import { publishStagedLeftovers, removeStagingDir, saveNamedConnections, takeNamedConnections } from '../../src/saver/staging.js';
import { batchOf, ethernetFrame } from '../helpers/frames.js';
import { openTestFlow, routeToFlow } from '../helpers/routefile.js';

const LINKTYPE_ETHERNET = 1;
const frame = ethernetFrame({ src: '192.0.2.77', dst: '198.51.100.9', sport: 40000, dport: 80, payload: Buffer.alloc(100, 0x41) });
let dir = '';
let staging = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ph-existing-'));
  staging = `${dir}.staging`;
  mkdirSync(staging);
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(staging, { recursive: true, force: true });
});

interface Run {
  /** [requested, published] for each numbered file. */
  numbered: Array<[string, string]>;
  /** What the datadir held just before finish(). */
  beforeFinish: string[];
}

/**
 * One writer's run, as one daemon run would do it: a new store, one flow of
 * `count` records with timestamps from `first` µs, named `path`, finished,
 * store closed. `staged`: with the staging directory.
 */
async function writeFlow(path: string, stream: boolean, first: number, count: number, staged: boolean, keep = 94): Promise<Run> {
  const run: Run = { numbered: [], beforeFinish: [] };
  const store = new FlowStore({ stream, stagingDir: staged ? staging : null, onNumberedFile: (requested, p) => run.numbered.push([requested, p]) });
  const writePath = staged ? join(staging, path.slice(dir.length + 1)) : path;
  try {
    const flow = openTestFlow(store, frame, LINKTYPE_ETHERNET, (reason, p, error) => assert.fail(`${reason} ${p} ${error.message}`), keep);
    const { file } = flow;
    if (stream) file.setTarget(path, writePath);
    // Two batches, each sealed into a member in stream mode: the first member
    // goes to disk on its own, the second is written after it.
    for (const half of [0, 1]) {
      const n = half === 0 ? Math.ceil(count / 2) : Math.floor(count / 2);
      const start = first + (half === 0 ? 0 : Math.ceil(count / 2));
      const batch = batchOf(Array.from({ length: n }, (_, i) => ({ frame, timestampNs: BigInt(start + i) * 1000n })));
      routeToFlow(store, flow, batch, LINKTYPE_ETHERNET, stream);
    }
    if (!stream) file.setTarget(path, writePath);
    // A stream file is on disk once its first member is: the tree is looked at from then.
    if (stream) {
      for (let waited = 0; !existsSync(writePath); waited += 5) {
        assert.ok(waited < 5000, `${writePath} never made`);
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    run.beforeFinish = walk(dir);
    assert.equal(await file.finish(), 'written');
    return run;
  } finally {
    store.close();
  }
}

function walk(root: string, prefix = ''): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(join(root, prefix), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(root, join(prefix, e.name)) : [join(prefix, e.name)]))
    .sort();
}

/** tshark's reading of a file: every frame's time in µs, and whether it read without complaint. */
function tsharkTimes(path: string): number[] {
  const r = spawnSync('tshark', ['-r', path, '-T', 'fields', '-e', 'frame.time_epoch'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `tshark -r ${path}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /appears to be damaged|cut short|isn't a capture file/i, r.stderr);
  return r.stdout.trim().split('\n').filter((l) => l !== '').map((l) => Math.round(Number(l) * 1e6) % 1_000_000);
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

for (const stream of [false, true]) {
  for (const staged of [true, false]) {
    const mode = `${stream ? '-stream' : 'buffered'}, ${staged ? 'staging directory' : 'no staging directory'}`;
    describe(`a flow whose file name is taken (${mode})`, () => {
      test('a readable file with the same pcap header is not written again: the flow goes to <UUID>.1.pcap.gz', async () => {
        const path = join(dir, '2026', '12', '01', 'host_1_unsafe_00000000000000AB.pcap.gz');
        assert.deepEqual((await writeFlow(path, stream, 1000, 6, staged)).numbered, []);
        const before = readFileSync(path);
        const second = await writeFlow(path, stream, 2000, 5, staged);
        const numbered = join(dir, '2026', '12', '01', 'host_1_unsafe_00000000000000AB.1.pcap.gz');
        assert.deepEqual(second.numbered, [[path, numbered]]);
        assert.deepEqual(readFileSync(path), before, "the first run's file is byte for byte the same");
        assert.deepEqual(tsharkTimes(path), range(1000, 6));
        assert.deepEqual(tsharkTimes(numbered), range(2000, 5));
        assert.deepEqual(walk(dir), ['2026/12/01/host_1_unsafe_00000000000000AB.1.pcap.gz', '2026/12/01/host_1_unsafe_00000000000000AB.pcap.gz']);
        assert.deepEqual(walk(staging), [], 'nothing left in the staging directory');
      });

      test('other pcap header, damaged, empty or not pcap: untouched, the flow goes to .1, then .2', async () => {
        const valid = join(dir, 'valid.pcap.gz');
        await writeFlow(valid, stream, 1000, 4, staged);
        const damaged = Buffer.from(readFileSync(valid));
        damaged[Math.floor(damaged.length / 2)] ^= 0xff;
        for (const [name, bytes] of [
          ['damaged', damaged],
          ['empty', Buffer.alloc(0)],
          ['gzip-not-pcap', gzipSync(Buffer.from('hello world, this is no pcap file at all'))],
        ] as Array<[string, Buffer]>) {
          const path = join(dir, `${name}.pcap.gz`);
          writeFileSync(path, bytes);
          assert.deepEqual((await writeFlow(path, stream, 2000, 3, staged)).numbered, [[path, join(dir, `${name}.1.pcap.gz`)]], name);
          assert.deepEqual((await writeFlow(path, stream, 3000, 2, staged, 114)).numbered, [[path, join(dir, `${name}.2.pcap.gz`)]], name);
          assert.deepEqual(readFileSync(path), bytes, `${name}: untouched`);
          assert.deepEqual(tsharkTimes(join(dir, `${name}.1.pcap.gz`)), range(2000, 3), name);
          assert.deepEqual(tsharkTimes(join(dir, `${name}.2.pcap.gz`)), range(3000, 2), name);
        }
      });

      if (stream) {
        test(staged ? 'the stream file grows in the staging directory and appears in the tree whole at its end' : 'the stream file grows under its name', async () => {
          const path = join(dir, '2026', '12', '02', 'S.pcap.gz');
          const run = await writeFlow(path, stream, 1000, 6, staged);
          assert.deepEqual(run.beforeFinish, staged ? [] : ['2026/12/02/S.pcap.gz']);
          assert.deepEqual(tsharkTimes(path), range(1000, 6));
          assert.deepEqual(walk(staging), []);
        });
      }
    });
  }
}

describe('stream files an earlier run left in the staging directory', () => {
  test('published at start into the tree under their day, a partial last member cut off; temporary and memberless files removed', async () => {
    const name = join('2026', '12', '03', 'K.pcap.gz');
    const day = join(staging, '2026', '12', '03');
    // A whole stream file of the store, then as a crash leaves it: the start of a further member.
    await writeFlow(join(dir, name), true, 1000, 6, false);
    const whole = readFileSync(join(dir, name));
    rmSync(join(dir, '2026'), { recursive: true });
    mkdirSync(day, { recursive: true });
    const partial = gzipSync(Buffer.alloc(5000, 7)).subarray(0, 20);
    writeFileSync(join(day, 'K.pcap.gz'), Buffer.concat([whole, partial]));
    writeFileSync(join(day, 'nothing.pcap.gz'), partial);
    writeFileSync(join(day, '.T.pcap.gz.123.tmp'), whole);
    const lines: string[] = [];
    const result = publishStagedLeftovers(staging, dir, loadAddon(), (l) => lines.push(l));
    assert.deepEqual(result, { published: 1, numbered: 0, removed: 2, failed: 0 });
    assert.deepEqual(walk(dir), [name]);
    assert.deepEqual(readFileSync(join(dir, name)), whole, 'cut back to its whole members');
    assert.deepEqual(tsharkTimes(join(dir, name)), range(1000, 6));
    assert.deepEqual(walk(staging), []);
    assert.match(lines.join('\n'), /partial gzip member of 20 bytes cut off/);
  });

  test('a name taken in the tree: published as <UUID>.1.pcap.gz, the taken file untouched', async () => {
    const day = join(staging, '2026', '12', '04');
    await writeFlow(join(dir, '2026', '12', '04', 'K.pcap.gz'), true, 1000, 4, false);
    const taken = readFileSync(join(dir, '2026', '12', '04', 'K.pcap.gz'));
    mkdirSync(day, { recursive: true });
    writeFileSync(join(day, 'K.pcap.gz'), taken);
    const result = publishStagedLeftovers(staging, dir, loadAddon(), () => {});
    assert.deepEqual(result, { published: 1, numbered: 1, removed: 0, failed: 0 });
    assert.deepEqual(walk(dir), ['2026/12/04/K.1.pcap.gz', '2026/12/04/K.pcap.gz']);
    assert.deepEqual(readFileSync(join(dir, '2026', '12', '04', 'K.pcap.gz')), taken);
  });
});

describe('a staging directory this run made', () => {
  test('goes at the end with its empty day directories; one holding a file stays, and the file in it', () => {
    mkdirSync(join(staging, '2026', '12', '05'), { recursive: true });
    removeStagingDir(staging);
    assert.equal(existsSync(staging), false);
    mkdirSync(join(staging, '2026', '12', '05'), { recursive: true });
    mkdirSync(join(staging, '2026', '12', '06'), { recursive: true });
    writeFileSync(join(staging, '2026', '12', '05', 'left.pcap.gz'), 'x');
    removeStagingDir(staging);
    assert.deepEqual(walk(staging), ['2026/12/05/left.pcap.gz']);
    assert.equal(existsSync(join(staging, '2026', '12', '06')), false);
  });
});

describe('the connections a run leaves named for the next', () => {
  test('read once at the next start; none when the run before saved none', () => {
    assert.deepEqual(takeNamedConnections(staging), []);
    saveNamedConnections(staging, ['p_00000000000000AB', 'p_00000000000000CD']);
    assert.deepEqual(takeNamedConnections(staging), ['p_00000000000000AB', 'p_00000000000000CD']);
    assert.deepEqual(takeNamedConnections(staging), [], 'taken once');
    saveNamedConnections(staging, []);
    assert.deepEqual(walk(staging), [], 'no file for an empty list');
  });
});
