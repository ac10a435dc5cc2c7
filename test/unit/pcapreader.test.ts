import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readPcapFileQuick, type PcapReadResult } from '../../src/readers/pcapreader.js';
import { fixture, fixturePackets } from '../helpers/fixtures.js';
import { parsePcap } from '../helpers/pcapread.js';

interface Seen {
  result: PcapReadResult;
  records: Array<{ seconds: number; nanoseconds: number; caplen: number; origlen: number; data: Buffer }>;
}

async function readAll(path: string): Promise<Seen> {
  const records: Seen['records'] = [];
  const result = await readPcapFileQuick(path, (data, offset, caplen, origlen, seconds, nanoseconds) => {
    records.push({ seconds, nanoseconds, caplen, origlen, data: Buffer.from(data.subarray(offset, offset + caplen)) });
  });
  return { result, records };
}

/** The same capture rewritten big-endian, with the nanosecond magic if asked. */
function toBigEndian(little: Buffer, nanoseconds: boolean): Buffer {
  const out = Buffer.from(little);
  out.writeUInt32BE(nanoseconds ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  out.writeUInt16BE(little.readUInt16LE(4), 4);
  out.writeUInt16BE(little.readUInt16LE(6), 6);
  for (const o of [8, 12, 16, 20]) out.writeUInt32BE(little.readUInt32LE(o), o);
  for (let at = 24; at + 16 <= little.length; ) {
    const caplen = little.readUInt32LE(at + 8);
    out.writeUInt32BE(little.readUInt32LE(at), at);
    out.writeUInt32BE(little.readUInt32LE(at + 4) * (nanoseconds ? 1000 : 1), at + 4);
    out.writeUInt32BE(caplen, at + 8);
    out.writeUInt32BE(little.readUInt32LE(at + 12), at + 12);
    at += 16 + caplen;
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'pcapreader-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const v4 = readFileSync(fixture('v4.pcap'));
const expected = parsePcap(v4).records;

test('a plain microsecond pcap yields every record with its time in nanoseconds', async () => {
  const { result, records } = await readAll(fixture('v4.pcap'));
  assert.equal(result.problem, null);
  assert.equal(result.gzipped, false);
  assert.equal(result.header?.linkType, 1);
  assert.equal(result.header?.nanoseconds, false);
  assert.equal(records.length, fixturePackets(fixture('v4.pcap')).length);
  records.forEach((r, i) => {
    assert.equal(r.seconds, expected[i].seconds);
    assert.equal(r.nanoseconds, expected[i].nanoseconds * 1000);
    assert.deepEqual(r.data, expected[i].data);
  });
});

test('a gzip file of several members reads as their concatenation', async () => {
  const cut = 24 + 16 + expected[0].caplen + 16 + expected[1].caplen;
  const path = join(dir, 'members.pcap.gz');
  writeFileSync(path, Buffer.concat([gzipSync(v4.subarray(0, 24)), gzipSync(v4.subarray(24, cut)), gzipSync(v4.subarray(cut))]));
  const { result, records } = await readAll(path);
  assert.equal(result.problem, null);
  assert.equal(result.gzipped, true);
  assert.equal(records.length, expected.length);
  assert.deepEqual(records[records.length - 1].data, expected[expected.length - 1].data);
});

for (const nanoseconds of [false, true]) {
  test(`a big-endian ${nanoseconds ? 'nanosecond' : 'microsecond'} pcap reads the same records`, async () => {
    const path = join(dir, `be-${nanoseconds}.pcap`);
    writeFileSync(path, toBigEndian(v4, nanoseconds));
    const { result, records } = await readAll(path);
    assert.equal(result.problem, null);
    assert.equal(result.header?.bigEndian, true);
    assert.equal(result.header?.nanoseconds, nanoseconds);
    assert.equal(records.length, expected.length);
    records.forEach((r, i) => {
      assert.equal(r.nanoseconds, expected[i].nanoseconds * 1000);
      assert.equal(r.caplen, expected[i].caplen);
      assert.deepEqual(r.data, expected[i].data);
    });
  });
}

test('a gzip file cut short yields the records before the cut and says so', async () => {
  const whole = gzipSync(v4);
  const path = join(dir, 'cut.pcap.gz');
  writeFileSync(path, whole.subarray(0, whole.length - 12));
  const { result, records } = await readAll(path);
  assert.equal(result.problem?.code, 'gzip');
  assert.ok(records.length > 0 && records.length <= expected.length, `${records.length} records`);
  records.forEach((r, i) => assert.deepEqual(r.data, expected[i].data));
});

test('a pcap cut inside a record yields the whole records and names the cut one', async () => {
  const path = join(dir, 'cut.pcap');
  writeFileSync(path, v4.subarray(0, v4.length - 5));
  const { result, records } = await readAll(path);
  assert.equal(result.problem?.code, 'truncated');
  assert.equal(records.length, expected.length - 1);
});

test('a damaged record length stops the reading with the records before it', async () => {
  const damaged = Buffer.from(v4);
  const third = 24 + 16 + expected[0].caplen + 16 + expected[1].caplen;
  damaged.writeUInt32LE(0x7fffffff, third + 8);
  const path = join(dir, 'damaged.pcap');
  writeFileSync(path, damaged);
  const { result, records } = await readAll(path);
  assert.equal(result.problem?.code, 'record');
  assert.equal(records.length, 2);
});

test('files that are not pcap, empty or missing are problems, not exceptions', async () => {
  const text = join(dir, 'text.pcap');
  writeFileSync(text, 'hello, this is not a capture file at all');
  assert.equal((await readAll(text)).result.problem?.code, 'magic');
  const empty = join(dir, 'empty.pcap');
  writeFileSync(empty, '');
  assert.equal((await readAll(empty)).result.problem?.code, 'empty');
  assert.equal((await readAll(join(dir, 'missing.pcap'))).result.problem?.code, 'open');
  const short = join(dir, 'short.pcap.gz');
  writeFileSync(short, gzipSync(v4.subarray(0, 10)));
  assert.equal((await readAll(short)).result.problem?.code, 'header');
});
