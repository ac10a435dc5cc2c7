// The flow store's routing on its own (FlowStore.route, native/router.cc
// and native/routes.h): which records go to which flow, which start flows
// (and which the limits refuse), and that every flow's records keep capture order.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import {
  DECODE_OK,
  DESCRIPTION_WORDS,
  D_HASH,
  D_KEY,
  D_STATUS,
  LINKTYPE_ETHERNET,
  NEWFLOW_WORDS,
  NF_RECORD,
  NF_REPLACED,
  NF_ROUTE,
  NF_SERIAL,
  NF_SLOT,
  REFUSED_MAXFLOWS,
  REFUSED_MAXHEAP,
  SaverState,
  TALLY_BAD,
  TALLY_MISSED,
  TALLY_REFUSED,
  TALLY_SAVED,
} from '../../src/native/layout.js';
import { describeRecords } from '../../src/decode/describe.js';
import { KEY_WORDS } from '../../src/decode/flowkey.js';
import { PacketClock } from '../../src/demux/packetclock.js';
import type { FlowFile } from '../../src/saver/flowfile.js';
import { FlowStore, type OpenedFlow } from '../../src/saver/flowstore.js';
import { batchOf, ethernetFrame, type BatchRecord } from '../helpers/frames.js';
import { parsePcapGz } from '../helpers/pcapread.js';

const SYN = 0x02;
const ACK = 0x10;

let dir = '';
let store: FlowStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ph-route-'));
  store = new FlowStore({ threads: 1 });
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A segment of flow `port` (client port, to 192.0.2.1:80), stamped `ms` after a fixed start, with `flags` and `seq`. */
function segment(port: number, ms: number, flags = ACK, seq = 1000): BatchRecord {
  return {
    frame: ethernetFrame({ src: '198.51.100.7', dst: '192.0.2.1', sport: port, dport: 80, flags, seq, payload: Buffer.alloc(20) }),
    timestampNs: 1_700_000_000_000_000_000n + BigInt(ms) * 1_000_000n,
  };
}

interface Routed {
  batch: Buffer;
  d: Int32Array;
}

function described(records: BatchRecord[]): Routed {
  const batch = batchOf(records);
  return { batch, d: describeRecords(batch, LINKTYPE_ETHERNET) };
}

function keyAt(d: Int32Array, at: number): Int32Array {
  return d.slice(at + D_KEY, at + D_KEY + KEY_WORDS);
}

/** A flow, with a named file, for the flow of the record at description word `at`. */
function bound(r: Routed, at: number, name: string): OpenedFlow {
  const opened = store.openFlow(keyAt(r.d, at), r.d[at + D_HASH], (reason, path, error) => assert.fail(`${reason} ${path} ${error.message}`));
  assert.ok(typeof opened !== 'string', 'the flow is started');
  opened.file.setTarget(join(dir, `${name}.pcap.gz`));
  return opened;
}

/** The flows the store started since the last call: their routes (as flows with named files), the routes they replaced, the records they started at. */
function started(name: string): Array<{ flow: OpenedFlow | null; replaced: number; record: number }> {
  const w = store.takeNewFlows();
  const out: Array<{ flow: OpenedFlow | null; replaced: number; record: number }> = [];
  for (let at = 0; at + NEWFLOW_WORDS <= w.length; at += NEWFLOW_WORDS) {
    let flow: OpenedFlow | null = null;
    if (w[at + NF_ROUTE] >= 0) {
      const file = store.fileOf(w[at + NF_SLOT], w[at + NF_SERIAL], (reason, path, error) => assert.fail(`${reason} ${path} ${error.message}`));
      file.setTarget(join(dir, `${name}${out.length}.pcap.gz`));
      flow = { route: w[at + NF_ROUTE], file };
    }
    out.push({ flow, replaced: w[at + NF_REPLACED], record: w[at + NF_RECORD] });
  }
  return out;
}

/** The tallies of what was routed since the last call. */
function tallies(): Float64Array {
  store.takeTallies();
  const t = store.tallies.slice();
  store.tallies.fill(0);
  return t;
}

/** The records' times (ms after the start) in a finished file. */
async function timesIn(file: FlowFile): Promise<number[]> {
  assert.equal(await file.finish(), 'written');
  const records = parsePcapGz(readFileSync(file.path as string)).records;
  return records.map((rec) => (rec.seconds - 1_700_000_000) * 1000 + rec.nanoseconds / 1e6);
}

test('a known flow is routed to; a record of no flow starts one, told once at its first record, and its later records follow', async () => {
  const r = described([segment(1, 0), segment(2, 1), segment(1, 2), segment(2, 3), segment(1, 4)]);
  const a = bound(r, 0, 'a');
  store.route(r.batch, r.d, LINKTYPE_ETHERNET, null);
  const news = started('b');
  assert.deepEqual(news.map((n) => [n.record, n.replaced]), [[1, -1]]);
  const b = news[0].flow as OpenedFlow;
  assert.equal(store.findFlow(keyAt(r.d, DESCRIPTION_WORDS), r.d[DESCRIPTION_WORDS + D_HASH]), b.route);
  assert.equal(tallies()[TALLY_SAVED], 5);
  assert.equal(store.flowCounts(a.route).seen, 3);
  assert.equal(store.flowCounts(a.route).saved, 3);
  assert.equal(store.flowCounts(b.route).seen, 2);
  assert.deepEqual(await timesIn(a.file), [0, 2, 4]);
  assert.deepEqual(await timesIn(b.file), [1, 3]);
});

test('a flow the limits refuse starts nothing: its records are counted by refusal, neither saved nor missed, and each is tried again', () => {
  const r = described([segment(1, 0), segment(1, 1)]);
  const other = described([segment(2, 0)]);
  bound(other, 0, 'open');
  store.setLimits(1, Infinity);
  store.route(r.batch, r.d, LINKTYPE_ETHERNET, null);
  assert.deepEqual(started('x'), []);
  let t = tallies();
  assert.deepEqual([...t.subarray(0, TALLY_BAD)], [0, 0, 0, 0, 0, 0]);
  assert.deepEqual([t[TALLY_REFUSED + REFUSED_MAXFLOWS], t[TALLY_REFUSED + REFUSED_MAXHEAP]], [2, 0]);
  assert.deepEqual(store.openFlow(keyAt(r.d, 0), r.d[D_HASH], () => {}), 'maxflows');
  store.setLimits(0, 1000);
  store.setMemoryInUse(2000);
  store.route(r.batch, r.d, LINKTYPE_ETHERNET, null);
  t = tallies();
  assert.deepEqual([t[TALLY_REFUSED + REFUSED_MAXFLOWS], t[TALLY_REFUSED + REFUSED_MAXHEAP]], [0, 2]);
  store.setMemoryInUse(500);
  store.route(r.batch, r.d, LINKTYPE_ETHERNET, null);
  assert.equal(started('y').length, 1, 'below the limit again: the flow starts');
});

test('a SYN opening a new connection on a known 4-tuple starts a flow that replaces the old, and the rest of the batch of that 4-tuple follows the new flow', async () => {
  const r = described([
    segment(1, 0, SYN, 500), // the flow's own opening SYN
    segment(1, 1),
    segment(1, 2, SYN, 500), // a retransmission of it: still the same flow
    segment(2, 3),
    segment(1, 4, SYN, 9000), // a new connection from the same port
    segment(1, 5),
    segment(2, 6),
    segment(1, 7, SYN, 9000), // the new connection's SYN again: its own now
    segment(1, 8),
  ]);
  const old = bound(r, 0, 'old');
  const other = bound(r, 3 * DESCRIPTION_WORDS, 'other');
  store.route(r.batch, r.d, LINKTYPE_ETHERNET, null);
  const news = started('next');
  assert.deepEqual(news.map((n) => [n.record, n.replaced]), [[4, old.route]]);
  const next = news[0].flow as OpenedFlow;
  assert.equal(store.findFlow(keyAt(r.d, 0), r.d[D_HASH]), next.route, 'the 4-tuple is the new flow\'s');
  assert.equal(store.flowCounts(old.route).seen, 3, 'the old flow answers until it is ended');
  assert.equal(store.flowCounts(next.route).seen, 4);
  store.endFlow(old.route);
  assert.deepEqual(await timesIn(old.file), [0, 1, 2]);
  assert.deepEqual(await timesIn(next.file), [4, 5, 7, 8]);
  assert.deepEqual(await timesIn(other.file), [3, 6]);
});

test('records of a flow that takes no packets are counted as missed by its state, and seen; bad records by status', () => {
  const r = described([segment(1, 0), segment(2, 1), segment(1, 2), { frame: Buffer.alloc(30) }, segment(3, 3)]);
  assert.notEqual(r.d[3 * DESCRIPTION_WORDS + D_STATUS], DECODE_OK);
  const discarding = bound(r, 0, 'discarding');
  const written = bound(r, DESCRIPTION_WORDS, 'written');
  const saving = bound(r, 4 * DESCRIPTION_WORDS, 'saving');
  store.setFlowState(discarding.route, SaverState.Discarding);
  store.setFlowState(written.route, SaverState.Written);
  store.setFlowState(saving.route, SaverState.Saving);
  store.route(r.batch, r.d, LINKTYPE_ETHERNET, null);
  assert.deepEqual(started('x'), [], 'every flow is known');
  const t = tallies();
  assert.equal(t[TALLY_SAVED], 1);
  assert.deepEqual([...t.subarray(TALLY_MISSED, TALLY_MISSED + 5)], [0, 0, 2, 1, 0]);
  assert.equal(t[TALLY_BAD + r.d[3 * DESCRIPTION_WORDS + D_STATUS]], 1);
  assert.equal(store.flowCounts(discarding.route).seen, 2);
  assert.equal(store.flowCounts(discarding.route).saved, 0);
  // Back to taking packets (only UuidWait and Saving do).
  store.setFlowState(discarding.route, SaverState.UuidWait);
  store.route(r.batch, r.d, LINKTYPE_ETHERNET, null);
  assert.equal(store.flowCounts(discarding.route).saved, 2);
});

test('a record of another link type than the flow\'s first is missed', () => {
  const r = described([segment(1, 0)]);
  const flow = bound(r, 0, 'link');
  store.route(r.batch, r.d, LINKTYPE_ETHERNET, null);
  store.route(r.batch, r.d, 113, null);
  const t = tallies();
  assert.deepEqual([t[TALLY_SAVED], t[TALLY_MISSED + SaverState.UuidWait]], [1, 1]);
  assert.equal(store.flowCounts(flow.route).seen, 2);
});

test('packet time: the store ticks before the first record at or past each check, with the records before it routed', () => {
  const times = [0, 50, 99, 100, 30, 180, 250, 260, 351];
  const r = described(times.map((ms) => segment(1, ms)));
  const flow = bound(r, 0, 'ticks');
  const clock = new PacketClock();
  const ticks: Array<[number, number]> = [];
  store.setTick(() => ticks.push([clock.now() - 1_700_000_000_000, store.flowCounts(flow.route).seen]));
  store.route(r.batch, r.d, LINKTYPE_ETHERNET, clock.state);
  // The same as PacketClock.advance per record, which the demuxer used to call.
  const expected: Array<[number, number]> = [];
  const reference = new PacketClock();
  times.forEach((ms, i) => {
    if (reference.advance(1_700_000_000 + Math.floor(ms / 1000), (ms % 1000) * 1e6)) expected.push([reference.now() - 1_700_000_000_000, i]);
  });
  assert.deepEqual(ticks, expected);
  assert.deepEqual(ticks, [[0, 0], [100, 3], [250, 6], [351, 8]]);
  assert.equal(clock.now(), reference.now());
});

test('takeSeen marks flows that saw a packet since the previous call, or started since', () => {
  const r = described([segment(1, 0), segment(2, 1)]);
  const one = bound(r, 0, 'one');
  assert.equal(store.takeSeen()[one.route], 1, 'a flow just started counts as seen');
  const two = bound(r, DESCRIPTION_WORDS, 'two');
  const seen = store.takeSeen();
  assert.deepEqual([seen[one.route], seen[two.route]], [0, 1]);
  store.route(r.batch.subarray(0, r.d[DESCRIPTION_WORDS]), r.d.subarray(0, DESCRIPTION_WORDS), LINKTYPE_ETHERNET, null);
  const after = store.takeSeen();
  assert.deepEqual([after[one.route], after[two.route]], [1, 0]);
});

test('a route ends with its flow: the key is unknown again, and its file can be finished meanwhile', async () => {
  const r = described([segment(1, 0), segment(1, 1)]);
  const flow = bound(r, 0, 'ended');
  store.route(r.batch, r.d, LINKTYPE_ETHERNET, null);
  const done = flow.file.finish();
  // Finished but still routed (-captureduration): packets are missed, not written.
  tallies();
  store.route(r.batch, r.d, LINKTYPE_ETHERNET, null);
  const t = tallies();
  assert.deepEqual([t[TALLY_SAVED], t[TALLY_MISSED + SaverState.UuidWait]], [0, 2]);
  assert.deepEqual(started('x'), []);
  store.endFlow(flow.route);
  assert.equal(store.findFlow(keyAt(r.d, 0), r.d[D_HASH]), -1);
  store.route(r.batch, r.d, LINKTYPE_ETHERNET, null);
  assert.deepEqual(started('again').map((n) => n.record), [0], 'its next record starts a new flow');
  assert.equal(await done, 'written');
});
