// A -read input cut short (a .pcap.gz or a .pcap whose copy or transfer
// stopped early) among several: it is read up to the cut, every other input
// to its end, every flow is written, one log line names the cut input, and
// the exit code is 1 so that scripts notice. Complete inputs exit 0; an input
// that is no capture at all is still a start-up error that writes nothing.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { constants, gunzipSync, gzipSync } from 'node:zlib';
import { writeCapture, writePcapRecords, type SyntheticFlow } from '../helpers/pcapwrite.js';

const bin = join(import.meta.dirname, '../../../bin/packet-headers.js');
const work = mkdtempSync(join(tmpdir(), 'ph-offline-cut-'));
after(() => rmSync(work, { recursive: true, force: true }));

const T0 = Date.UTC(2022, 2, 1) / 1000;
const flow = (port: number, startSeconds: number, packets: number, spacingNs: number): SyntheticFlow => ({
  client: '10.7.0.1',
  server: '10.8.0.1',
  clientPort: port,
  serverPort: 443,
  startSeconds,
  packets,
  spacingNs,
});

// Three captures of the same minute, as from three interfaces: a and b whole,
// c with a flow that is complete before the cut (port 45000) and one the cut
// goes through (45001).
const a = join(work, 'a.pcap');
const b = join(work, 'b.pcap');
const c = join(work, 'c.pcap');
writeCapture(a, [flow(44000, T0, 20_000, 1_000_000), flow(44001, T0 + 3, 500, 10_000_000)]);
writeCapture(b, [flow(46000, T0 + 1, 20_000, 1_000_000)]);
writeCapture(c, [flow(45000, T0, 10_000, 500_000), flow(45001, T0 + 6, 10_000, 500_000)]);
const whole = readFileSync(c);
const gz = gzipSync(whole);
const cutGz = join(work, 'cut.pcap.gz');
writeFileSync(cutGz, gz.subarray(0, Math.floor(gz.length * 0.75)));
// What zlib can make of the cut stream, independently of the daemon's reader.
const cutGzPrefix = join(work, 'cut-gz-prefix.pcap');
writeFileSync(cutGzPrefix, gunzipSync(gz.subarray(0, Math.floor(gz.length * 0.75)), { finishFlush: constants.Z_SYNC_FLUSH }));
// A plain capture cut in the middle of a record.
const cutPlain = join(work, 'cut.pcap');
writeFileSync(cutPlain, whole.subarray(0, Math.floor(whole.length * 0.75) + 7));

/** Packets of `input` that match a BPF filter, selected by tcpdump (which stops at a cut) and counted by capinfos. */
function countMatching(input: string, filter: string): number {
  const selected = join(work, 'selected.pcap');
  spawnSync('tcpdump', ['-r', input, '-w', selected, filter], { stdio: 'ignore' });
  try {
    return capinfosCount(selected);
  } finally {
    rmSync(selected, { force: true });
  }
}

function capinfosCount(file: string): number {
  const out = execFileSync('capinfos', ['-c', '-M', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const match = /Number of packets:\s+(\d+)/.exec(out);
  assert.ok(match !== null, out);
  return Number(match[1]);
}

function run(reads: string[], datadir: string) {
  const r = spawnSync(process.execPath, [bin, ...reads.flatMap((f) => ['-read', f]), '-datadir', datadir, '-prometheusx.listen-address', '127.0.0.1:0'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  const files = existsSync(datadir) ? readdirSync(datadir, { recursive: true, encoding: 'utf8' }).filter((p) => p.endsWith('.pcap.gz')) : [];
  /** Packets written per client port. */
  const written = new Map<number, number>();
  for (const path of files) {
    const port = Number(/_10\.7\.0\.1_(\d+)_/.exec(path)?.[1]);
    assert.ok(!written.has(port), `two files for port ${port}: ${files.join(' ')}`);
    written.set(port, capinfosCount(join(datadir, path)));
  }
  return { status: r.status, stderr: r.stderr, written };
}

test('complete inputs: every flow written, exit 0', () => {
  const r = run([a, c, b], join(work, 'out-complete'));
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(
    [...r.written].sort(([x], [y]) => x - y),
    [
      [44000, 20_000],
      [44001, 500],
      [45000, 10_000],
      [45001, 10_000],
      [46000, 20_000],
    ],
  );
  assert.doesNotMatch(r.stderr, /not read to its end/);
});

for (const [kind, cut, prefix, fault] of [
  ['a cut .pcap.gz', cutGz, cutGzPrefix, /gzip stream cut: the file ends inside a gzip member at compressed byte \d+/],
  ['a cut .pcap', cutPlain, cutPlain, /libpcap: truncated dump file/],
] as const) {
  test(`${kind} among whole inputs: read up to the cut, every other flow complete, one line names it, exit 1`, () => {
    const name = kind.includes('gz') ? 'gz' : 'plain';
    const r = run([a, cut, b], join(work, `out-cut-${name}`));
    assert.equal(r.status, 1, r.stderr);
    // The whole inputs' flows are complete.
    assert.equal(r.written.get(44000), countMatching(a, 'tcp port 44000'));
    assert.equal(r.written.get(44000), 20_000);
    assert.equal(r.written.get(44001), 500);
    assert.equal(r.written.get(46000), countMatching(b, 'tcp port 46000'));
    assert.equal(r.written.get(46000), 20_000);
    // The cut input's: all that is before the cut.
    assert.equal(r.written.get(45000), 10_000);
    const beforeCut = countMatching(prefix, 'tcp port 45001');
    assert.ok(beforeCut > 0 && beforeCut < 10_000, `${beforeCut} packets of port 45001 before the cut`);
    assert.equal(r.written.get(45001), beforeCut);
    const lines = r.stderr.split('\n').filter((l) => l.includes('not read to its end'));
    assert.equal(lines.length, 1, r.stderr);
    assert.ok(lines[0].includes(`input ${cut} `), lines[0]);
    assert.match(lines[0], fault);
    assert.match(lines[0], new RegExp(`\\(${10_000 + beforeCut} packets read\\)`));
    assert.match(r.stderr, /done: 3 file\(s\) read \(1 of 3 not to their end, see above\) in/);
  });
}

test('an input that is no capture, or from which not one packet can be read, is a start-up error: one line naming it, exit 1, nothing written', () => {
  const bad = {
    'text.pcap.gz': gzipSync(Buffer.from('this is not a capture, only text '.repeat(20))),
    'text.pcap': Buffer.from('not a capture either\n'),
    // A gzip stream that goes bad in its first bytes (as offline_gz.test.ts makes it).
    'garbage.pcap.gz': Buffer.concat([gzipSync(whole).subarray(0, 40), Buffer.from('not gzip at all')]),
    // A pcap header, then the first record cut short.
    'first-cut.pcap': whole.subarray(0, 24 + 16 + 30),
  };
  for (const [name, bytes] of Object.entries(bad)) {
    const file = join(work, name);
    writeFileSync(file, bytes);
    const datadir = join(work, `out-bad-${name}`);
    mkdirSync(datadir);
    const r = run([a, file, b], datadir);
    assert.equal(r.status, 1, `${name}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(r.stderr.includes(`"${file}"`), r.stderr);
    assert.equal(r.written.size, 0, name);
  }
});

test('an input that holds no packet at all (a capture header only) is read like any other: exit 0', () => {
  const empty = join(work, 'empty.pcap');
  writeFileSync(empty, whole.subarray(0, 24));
  const r = run([a, empty, b], join(work, 'out-empty'));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.written.size, 3);
});

test('an input whose link type cannot be decoded (802.11) is not read: the others are, one line names it, exit 1', () => {
  const wifi = join(work, 'wifi.pcap');
  writePcapRecords(wifi, [{ seconds: T0, nanoseconds: 0, frame: Buffer.alloc(60) }], 105);
  const r = run([a, wifi, b], join(work, 'out-wifi'));
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.written.get(44000), 20_000);
  assert.equal(r.written.get(46000), 20_000);
  const lines = r.stderr.split('\n').filter((l) => l.includes('not read to its end'));
  assert.equal(lines.length, 1, r.stderr);
  assert.ok(lines[0].includes(`input ${wifi} `) && lines[0].includes('link type cannot be decoded'), lines[0]);
});
