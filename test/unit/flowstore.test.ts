// The flow store on its own: how records are cut, zeroed and masked, how
// chunks become ordered gzip members, file naming, streaming, failures, and
// that an idle store lets the process end.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { ANONYMIZE_A, ANONYMIZE_B, D_HASH, D_KEY, D_TCP_HEADER_LENGTH, D_TCP_OFFSET, LINKTYPE_ETHERNET, TALLY_MISSED, TALLY_SAVED } from '../../src/native/layout.js';
import { describeRecords } from '../../src/decode/describe.js';
import { KEY_WORDS } from '../../src/decode/flowkey.js';
import type { FinishResult, WriteErrorReason } from '../../src/saver/flowfile.js';
import { defaultStoreThreads, FlowStore, type OpenedFlow } from '../../src/saver/flowstore.js';
import { batchOf, ethernetFrame, type BatchRecord } from '../helpers/frames.js';
import { parsePcapGz } from '../helpers/pcapread.js';
import { openTestFlow, routeToFlow } from '../helpers/routefile.js';

let dir = '';
const stores: FlowStore[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ph-flowstore-'));
});
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  rmSync(dir, { recursive: true, force: true });
});

function newStore(options: ConstructorParameters<typeof FlowStore>[0] = {}): FlowStore {
  const store = new FlowStore(options);
  stores.push(store);
  return store;
}

const errors: Array<{ reason: WriteErrorReason; path: string; error: Error }> = [];
const onError = (reason: WriteErrorReason, path: string, error: Error) => errors.push({ reason, path, error });
beforeEach(() => {
  errors.length = 0;
});

/** Routes every record of `records` (of the flow's 4-tuple) to the flow; returns the route tallies. */
function store(s: FlowStore, flow: OpenedFlow, records: BatchRecord[]): Float64Array {
  return routeToFlow(s, flow, batchOf(records), LINKTYPE_ETHERNET).tallies;
}

/** A flow of `frame`'s 4-tuple keeping `keep` bytes a record, masking per `anonymize`. */
function open(s: FlowStore, keep: number, frame = v4, anonymize = 0): OpenedFlow {
  return openTestFlow(s, frame, LINKTYPE_ETHERNET, onError, keep, anonymize);
}

const payload = Buffer.alloc(1000, 0x41);
// In both, the source is the lesser endpoint: endpoint A of the flow key.
const v4 = ethernetFrame({ src: '192.0.2.77', dst: '198.51.100.9', sport: 40000, dport: 80, payload });
const v6 = ethernetFrame({ src: '2001:db8:aabb:ccdd:eeff:11:2233:4455', dst: 'fd00::1', sport: 40000, dport: 80, payload });
const v4fin = ethernetFrame({ src: '192.0.2.77', dst: '198.51.100.9', sport: 40000, dport: 80, payload, flags: 0x11 });
/** v4's segment from another client port: another flow. */
const v4from = (sport: number, flags = 0x10) => ethernetFrame({ src: '192.0.2.77', dst: '198.51.100.9', sport, dport: 80, payload, flags });

test('records are cut to the bytes kept, the payload is zero, and the file header carries snaplen and link type', async () => {
  const s = newStore();
  const flow = open(s, 94);
  const { file } = flow;
  const path = join(dir, 'a', 'b', 'cut.pcap.gz');
  file.setTarget(path);
  store(s, flow, [{ frame: v4, timestampNs: 1_700_000_000_123_456_789n }, { frame: v4.subarray(0, 60) }]);
  assert.equal(await file.finish(), 'written');
  const pcap = parsePcapGz(readFileSync(path));
  assert.equal(pcap.magic, 0xa1b23c4d);
  assert.equal(pcap.snaplen, 94);
  assert.equal(pcap.linkType, LINKTYPE_ETHERNET);
  assert.equal(pcap.records.length, 2);
  const [full, short] = pcap.records;
  assert.deepEqual([full.seconds, full.nanoseconds, full.caplen, full.origlen], [1_700_000_000, 123_456_789, 94, v4.length]);
  // Ethernet 14 + IPv4 20 + TCP 20: headers as captured, then zeros up to 94.
  assert.deepEqual(full.data.subarray(0, 54), v4.subarray(0, 54));
  assert.ok(full.data.subarray(54).every((b) => b === 0));
  assert.equal(short.caplen, 60, 'a record shorter than the bytes kept stays as long as it was');
  assert.deepEqual(short.data.subarray(0, 54), v4.subarray(0, 54));
  assert.deepEqual(errors, []);
  assert.deepEqual(readdirSync(join(dir, 'a', 'b')), ['cut.pcap.gz'], 'no temporary file is left');
});

test('anonymize bits mask endpoint A and B: /24 of IPv4, /48 of IPv6', async () => {
  const s = newStore();
  const masked = async (frame: Buffer, keep: number, anonymize: number, name: string): Promise<Buffer> => {
    const flow = open(s, keep, frame, anonymize);
    const path = join(dir, `${name}.pcap.gz`);
    flow.file.setTarget(path);
    store(s, flow, [{ frame }]);
    assert.equal(await flow.file.finish(), 'written');
    return parsePcapGz(readFileSync(path)).records[0].data;
  };
  const a = await masked(v4, 94, ANONYMIZE_A, 'a');
  const b = await masked(v6, 114, ANONYMIZE_A | ANONYMIZE_B, 'b');
  const c = await masked(v4from(40001), 94, ANONYMIZE_B, 'c');
  assert.deepEqual([...a.subarray(26, 34)], [192, 0, 2, 0, 198, 51, 100, 9]);
  assert.equal(b.subarray(22, 38).toString('hex'), '20010db8aabb00000000000000000000');
  assert.equal(b.subarray(38, 54).toString('hex'), 'fd000000000000000000000000000000');
  assert.deepEqual([...c.subarray(26, 34)], [192, 0, 2, 77, 198, 51, 100, 0]);
});

test('full chunks become gzip members that concatenate, in order, to every record', async () => {
  const s = newStore({ chunkBytes: 4096, threads: 2 });
  const flow = open(s, 94);
  const { file } = flow;
  const path = join(dir, 'members.pcap.gz');
  file.setTarget(path);
  const n = 500;
  for (let i = 0; i < n; i += 50) {
    store(s, flow, Array.from({ length: 50 }, (_, j) => ({ frame: v4, timestampNs: BigInt(i + j) * 1000n })));
  }
  assert.equal(await file.finish(), 'written');
  const bytes = readFileSync(path);
  const members = countMembers(bytes);
  assert.ok(members >= 10, `${members} members`);
  const records = parsePcapGz(bytes).records;
  assert.equal(records.length, n);
  records.forEach((r, i) => assert.equal(r.nanoseconds, i * 1000));
});

for (const stream of [false, true]) {
  test(`${stream ? 'stream' : 'buffered'} mode: 300 files finished at once are each published whole, under their own name, and reported written`, async () => {
    // More files than one syncfs batch takes (64), on two threads: the names appear batch by batch.
    const s = newStore({ stream, threads: 2 });
    const files = Array.from({ length: 300 }, (_, i) => {
      const frame = v4from(20000 + i);
      const flow = open(s, 94, frame);
      const { file } = flow;
      const path = join(dir, 'many', `f${i}.pcap.gz`);
      if (stream) file.setTarget(path);
      store(s, flow, Array.from({ length: 1 + (i % 5) }, (_, j) => ({ frame, timestampNs: BigInt(i * 10 + j) * 1000n })));
      if (!stream) file.setTarget(path);
      return { file, path, records: 1 + (i % 5) };
    });
    const results = await Promise.all(files.map((f) => f.file.finish()));
    assert.deepEqual(new Set(results), new Set(['written']));
    assert.equal(readdirSync(join(dir, 'many')).length, 300);
    for (const f of files) assert.equal(parsePcapGz(readFileSync(f.path)).records.length, f.records, f.path);
    assert.deepEqual(errors, []);
  });
}

/** Finishes `n` files, f0..f{n-1}.pcap.gz in `sub`, at once on two threads (a burst: the store threads keep directory handles); file i holds 1 + (i + shift) % 5 records. */
async function burst(s: FlowStore, sub: string, n: number, shift: number): Promise<FinishResult[]> {
  const files = Array.from({ length: n }, (_, i) => {
    const frame = v4from(20000 + i);
    const flow = open(s, 94, frame);
    store(s, flow, Array.from({ length: 1 + ((i + shift) % 5) }, (_, j) => ({ frame, timestampNs: BigInt(i * 10 + j) * 1000n })));
    flow.file.setTarget(join(dir, sub, `f${i}.pcap.gz`));
    // Ended at once, so that the next burst's flows can have the same 4-tuples.
    s.endFlow(flow.route);
    return flow.file;
  });
  return Promise.all(files.map((f) => f.finish()));
}

/** Descriptors of this process open on directories under `under`. */
function directoriesOpenUnder(under: string): string[] {
  const open: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(under)) open.push(target);
    } catch {
      /* closed meanwhile */
    }
  }
  return open;
}

test('a burst of files whose names are taken goes to <name>.1.pcap.gz, the files there are not written again', async () => {
  const staging = join(dir, 'staging');
  mkdirSync(staging);
  const numbered: Array<[string, string]> = [];
  const s = newStore({ threads: 2, stagingDir: staging, onNumberedFile: (requested, path) => numbered.push([requested, path]) });
  assert.deepEqual(new Set(await burst(s, 'day', 150, 0)), new Set(['written']));
  const first = Array.from({ length: 150 }, (_, i) => readFileSync(join(dir, 'day', `f${i}.pcap.gz`)));
  assert.deepEqual(new Set(await burst(s, 'day', 150, 1)), new Set(['written']));
  assert.equal(readdirSync(join(dir, 'day')).length, 300);
  assert.equal(numbered.length, 150);
  for (let i = 0; i < 150; i++) {
    assert.deepEqual(readFileSync(join(dir, 'day', `f${i}.pcap.gz`)), first[i]);
    assert.equal(parsePcapGz(readFileSync(join(dir, 'day', `f${i}.1.pcap.gz`))).records.length, 1 + ((i + 1) % 5));
  }
  assert.deepEqual(readdirSync(staging), []);
  assert.deepEqual(errors, []);
});

test('an idle store holds no directory open; a directory removed between bursts is made again', async () => {
  const staging = join(dir, 'staging');
  mkdirSync(staging);
  const s = newStore({ threads: 2, stagingDir: staging });
  assert.deepEqual(new Set(await burst(s, 'day', 150, 0)), new Set(['written']));
  // The threads close their handles when they run out of work, just after reporting the files.
  const deadline = Date.now() + 2000;
  while (directoriesOpenUnder(dir).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(directoriesOpenUnder(dir), []);
  rmSync(join(dir, 'day'), { recursive: true });
  assert.deepEqual(new Set(await burst(s, 'day', 150, 0)), new Set(['written']));
  assert.equal(readdirSync(join(dir, 'day')).length, 150);
  assert.deepEqual(errors, []);
});

/** gzip members in a file: their headers' magic, method and flags. */
function countMembers(bytes: Buffer): number {
  let members = 0;
  for (let i = 0; i + 3 < bytes.length; i++) if (bytes[i] === 0x1f && bytes[i + 1] === 0x8b && bytes[i + 2] === 8 && bytes[i + 3] === 0) members++;
  return members;
}

test('a FIN or RST compresses what is buffered when it is 16 KiB or more, not a short flow', async () => {
  const s = newStore();
  // 300 records of 110 bytes: about 32 KiB before the FIN, then three more.
  const long = open(s, 94);
  const longPath = join(dir, 'long.pcap.gz');
  long.file.setTarget(longPath);
  store(s, long, Array.from({ length: 300 }, () => ({ frame: v4 })));
  store(s, long, [{ frame: v4fin }]);
  store(s, long, [{ frame: v4 }, { frame: v4 }, { frame: v4 }]);
  assert.equal(await long.file.finish(), 'written');
  const longBytes = readFileSync(longPath);
  assert.equal(countMembers(longBytes), 2, 'one member up to the FIN, one for what came after');
  assert.equal(parsePcapGz(longBytes).records.length, 304);
  // A short flow keeps one member: its FIN comes with less than 16 KiB buffered.
  const shortFrame = v4from(40001);
  const short = open(s, 94, shortFrame);
  const shortPath = join(dir, 'short.pcap.gz');
  short.file.setTarget(shortPath);
  store(s, short, Array.from({ length: 10 }, () => ({ frame: shortFrame })));
  store(s, short, [{ frame: v4from(40001, 0x11) }]);
  store(s, short, [{ frame: shortFrame }]);
  assert.equal(await short.file.finish(), 'written');
  assert.equal(countMembers(readFileSync(shortPath)), 1);
});

test('an unnamed or discarded file is never written', async () => {
  const s = newStore();
  const unnamed = open(s, 94);
  store(s, unnamed, [{ frame: v4 }]);
  assert.equal(await unnamed.file.finish(), 'empty');
  const droppedFrame = v4from(40001);
  const dropped = open(s, 94, droppedFrame);
  dropped.file.setTarget(join(dir, 'dropped.pcap.gz'));
  store(s, dropped, [{ frame: droppedFrame }]);
  dropped.file.discard();
  assert.equal(await dropped.file.finish(), 'empty');
  const tallies = store(s, dropped, [{ frame: droppedFrame }]);
  assert.deepEqual([tallies[TALLY_SAVED], tallies[TALLY_MISSED]], [0, 1], 'a closed file takes no records: missed, in state uuidwait');
  const named = open(s, 94, v4from(40002));
  named.file.setTarget(join(dir, 'nothing.pcap.gz'));
  assert.equal(await named.file.finish(), 'empty');
  assert.deepEqual(readdirSync(dir), []);
});

test('stream mode appends members to the named file as they are made', async () => {
  const s = newStore({ stream: true });
  const flow = open(s, 94);
  const { file } = flow;
  const path = join(dir, 'day', 'stream.pcap.gz');
  file.setTarget(path);
  routeToFlow(s, flow, batchOf([{ frame: v4 }, { frame: v4 }]), LINKTYPE_ETHERNET, true);
  // Written without finish(): wait (bounded) for the store's thread.
  for (let i = 0; i < 200 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(parsePcapGz(readFileSync(path)).records.length, 2);
  store(s, flow, [{ frame: v4 }]);
  assert.equal(await file.finish(), 'written');
  assert.equal(parsePcapGz(readFileSync(path)).records.length, 3);
});

test('a file that cannot be written is reported once, with its errno code, and leaves nothing behind', async () => {
  const s = newStore();
  writeFileSync(join(dir, 'blocker'), 'a regular file where a directory belongs');
  const flow = open(s, 94);
  const { file } = flow;
  const path = join(dir, 'blocker', 'x', 'failed.pcap.gz');
  file.setTarget(path);
  store(s, flow, [{ frame: v4 }]);
  const result: FinishResult = await file.finish();
  assert.equal(result, 'failed');
  assert.equal(errors.length, 1);
  assert.equal(errors[0].reason, 'write');
  assert.equal(errors[0].path, path);
  assert.equal((errors[0].error as NodeJS.ErrnoException).code, 'ENOTDIR');
  assert.deepEqual(readdirSync(dir), ['blocker']);
  // The store goes on: the next file is fine.
  const next = open(s, 94, v4from(40001));
  next.file.setTarget(join(dir, 'next.pcap.gz'));
  store(s, next, [{ frame: v4from(40001) }]);
  assert.equal(await next.file.finish(), 'written');
});

test('a record whose batch holds only its headers (as a live capture copies it) is written as the whole frame is', async () => {
  const written: Buffer[] = [];
  for (const cut of [false, true]) {
    const s = newStore();
    const flow = open(s, 94);
    const path = join(dir, `${cut ? 'cut' : 'whole'}.pcap.gz`);
    flow.file.setTarget(path);
    const batch = batchOf([{ frame: v4, timestampNs: 1_700_000_000_000_000_001n }]);
    const d = describeRecords(batch, LINKTYPE_ETHERNET);
    const end = cut ? 16 + d[D_TCP_OFFSET] + d[D_TCP_HEADER_LENGTH] : batch.length;
    assert.ok(end < batch.length || !cut);
    s.route(batch.subarray(0, end), d, LINKTYPE_ETHERNET, null);
    assert.equal(await flow.file.finish(), 'written');
    written.push(readFileSync(path));
  }
  assert.deepEqual(written[1], written[0]);
  assert.equal(parsePcapGz(written[1]).records[0].caplen, 94);
});

test('a key that has a flow cannot get another; a record outside the batch is refused; a batch cut short ends routing', () => {
  const s = newStore();
  const batch = batchOf([{ frame: v4 }]);
  const d = describeRecords(batch, LINKTYPE_ETHERNET);
  const key = d.slice(D_KEY, D_KEY + KEY_WORDS);
  const flow = s.openFlow(key, d[D_HASH], onError);
  assert.ok(typeof flow !== 'string');
  assert.throws(() => s.openFlow(key, d[D_HASH], onError), /route already/);
  assert.equal(s.findFlow(key, d[D_HASH]), flow.route);
  const saved = () => {
    s.takeTallies();
    const n = s.tallies[TALLY_SAVED];
    s.tallies.fill(0);
    return n;
  };
  // Routing reads a record's headers only (a live capture copies no more):
  // a batch that ends inside them is refused, one that ends after them is not.
  const headersEnd = 16 + d[D_TCP_OFFSET] + d[D_TCP_HEADER_LENGTH];
  s.route(batch.subarray(0, headersEnd - 1), d, LINKTYPE_ETHERNET, null);
  assert.equal(saved(), 0, 'nothing is routed past a record whose headers overrun the batch');
  s.route(batch.subarray(0, headersEnd), d, LINKTYPE_ETHERNET, null);
  assert.equal(saved(), 1, 'a record cut after its headers is routed');
  const outside = Int32Array.from(d);
  outside[0] = batch.length + 100;
  s.route(batch, outside, LINKTYPE_ETHERNET, null);
  assert.equal(saved(), 0);
  s.route(batch, d, LINKTYPE_ETHERNET, null);
  assert.equal(saved(), 1);
  assert.equal(s.takeNewFlows().length, 0, 'the records went to the flow opened for them');
  assert.throws(() => s.setFlowState(flow.route + 1000, 1), RangeError);
  s.endFlow(flow.route);
  assert.equal(s.findFlow(key, d[D_HASH]), -1);
  assert.throws(() => s.endFlow(flow.route), RangeError);
});

test('after close() nothing hangs: unfinished files say failed, new files take nothing and finish empty', async () => {
  const s = newStore();
  const unfinished = open(s, 94);
  unfinished.file.setTarget(join(dir, 'never.pcap.gz'));
  store(s, unfinished, [{ frame: v4 }]);
  s.close();
  assert.equal(await unfinished.file.finish(), 'failed');
  const lateFrame = v4from(40001);
  const late = open(s, 94, lateFrame);
  const tallies = store(s, late, [{ frame: lateFrame }]);
  assert.equal(tallies[TALLY_SAVED], 0, 'a flow started after close() takes no records');
  late.file.setTarget(join(dir, 'late.pcap.gz'));
  assert.equal(await late.file.finish(), 'empty');
  assert.deepEqual(readdirSync(dir), []);
});

test('an idle store does not keep the process alive; one with a file to finish does until it is done', () => {
  const script = `
    import { FlowStore } from ${JSON.stringify(new URL('../../src/saver/flowstore.js', import.meta.url).href)};
    const s = new FlowStore();
    const idle = new FlowStore();
    const f = s.openFlow(new Int32Array(9), 0, () => {}).file;
    f.setTarget(${JSON.stringify(join(dir, 'child.pcap.gz'))});
    f.finish().then((r) => console.log('finished', r));
  `;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(child.signal, null, 'the process ended on its own');
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stdout.trim(), 'finished empty');
});

test('store threads: one per core, at most four per capture thread', () => {
  assert.equal(defaultStoreThreads(1, 2), 2);
  assert.equal(defaultStoreThreads(1, 64), 4, 'one capture thread keeps the four of before');
  assert.equal(defaultStoreThreads(3, 64), 12);
  assert.equal(defaultStoreThreads(32, 64), 64, 'never more than the cores');
  assert.equal(defaultStoreThreads(0, 1), 1);
});
