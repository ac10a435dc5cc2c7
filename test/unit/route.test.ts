// The flow store's routing on its own (FlowStore.route, native/router.cc
// and native/routes.h): which records go where without asking, which are
// asked about, and that every flow's records keep capture order.
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
  SaverState,
  TALLY_BAD,
  TALLY_MISSED,
  TALLY_SAVED,
} from '../../src/native/layout.js';
import { describeRecords } from '../../src/decode/describe.js';
import { KEY_WORDS } from '../../src/decode/flowkey.js';
import { PacketClock } from '../../src/demux/packetclock.js';
import type { FlowFile } from '../../src/saver/flowfile.js';
import { FlowStore } from '../../src/saver/flowstore.js';
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

/** A named file and a route to it for the flow of the record at description word `at`. */
function bound(r: Routed, at: number, name: string): { file: FlowFile; route: number } {
  const file = store.openFile((reason, path, error) => assert.fail(`${reason} ${path} ${error.message}`));
  file.setTarget(join(dir, `${name}.pcap.gz`));
  return { file, route: store.bindFlow(file, keyAt(r.d, at), r.d[at + D_HASH], 0) };
}

/** The records' times (ms after the start) in a finished file. */
async function timesIn(file: FlowFile): Promise<number[]> {
  assert.equal(await file.finish(), 'written');
  const records = parsePcapGz(readFileSync(file.path as string)).records;
  return records.map((rec) => (rec.seconds - 1_700_000_000) * 1000 + rec.nanoseconds / 1e6);
}

test('a known flow is routed without asking; an unknown one is asked about at its first record only, and its later records follow', async () => {
  const r = described([segment(1, 0), segment(2, 1), segment(1, 2), segment(2, 3), segment(1, 4)]);
  const a = bound(r, 0, 'a');
  let b: { file: FlowFile; route: number } | null = null;
  const asked: Array<[number, number]> = [];
  store.setRouter({
    flowFor: (at, replaced) => {
      asked.push([at / DESCRIPTION_WORDS, replaced]);
      b = bound(r, at, 'b');
      return b.route;
    },
    tick: () => assert.fail('no packet time here'),
  });
  store.route(r.batch, r.d, LINKTYPE_ETHERNET, null);
  assert.deepEqual(asked, [[1, -1]]);
  assert.equal(store.tallies[TALLY_SAVED], 5);
  assert.equal(store.flowCounts(a.route).seen, 3);
  assert.equal(store.flowCounts(a.route).saved, 3);
  const other = b as unknown as { file: FlowFile; route: number };
  assert.equal(store.flowCounts(other.route).seen, 2);
  assert.deepEqual(await timesIn(a.file), [0, 2, 4]);
  assert.deepEqual(await timesIn(other.file), [1, 3]);
});

test('a record the router drops is neither saved nor missed, and the flow is asked about again at its next record', () => {
  const r = described([segment(1, 0), segment(1, 1)]);
  const asked: number[] = [];
  store.setRouter({ flowFor: (at) => (asked.push(at / DESCRIPTION_WORDS), -1), tick: () => {} });
  store.route(r.batch, r.d, LINKTYPE_ETHERNET, null);
  assert.deepEqual(asked, [0, 1]);
  assert.deepEqual([...store.tallies.subarray(0, TALLY_BAD)], [0, 0, 0, 0, 0, 0]);
});

test('a SYN opening a new connection on a known 4-tuple goes to the router, and the rest of the batch of that 4-tuple follows the new flow', async () => {
  const r = described([
    segment(1, 0, SYN, 500), // the flow's own opening SYN: not asked about
    segment(1, 1),
    segment(1, 2, SYN, 500), // a retransmission of it: not asked about
    segment(2, 3),
    segment(1, 4, SYN, 9000), // a new connection from the same port
    segment(1, 5),
    segment(2, 6),
    segment(1, 7, SYN, 9000), // the new connection's SYN again: its own now
    segment(1, 8),
  ]);
  const old = bound(r, 0, 'old');
  const other = bound(r, 3 * DESCRIPTION_WORDS, 'other');
  let next: { file: FlowFile; route: number } | null = null;
  const asked: Array<[number, number]> = [];
  store.setRouter({
    flowFor: (at, replaced) => {
      asked.push([at / DESCRIPTION_WORDS, replaced]);
      store.unbindFlow(replaced);
      next = bound(r, at, 'next');
      return next.route;
    },
    tick: () => {},
  });
  store.route(r.batch, r.d, LINKTYPE_ETHERNET, null);
  assert.deepEqual(asked, [[4, old.route]]);
  const reused = next as unknown as { file: FlowFile; route: number };
  assert.equal(store.flowCounts(reused.route).seen, 4);
  assert.deepEqual(await timesIn(old.file), [0, 1, 2]);
  assert.deepEqual(await timesIn(reused.file), [4, 5, 7, 8]);
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
  store.setRouter({ flowFor: () => assert.fail('every flow is known'), tick: () => {} });
  store.route(r.batch, r.d, LINKTYPE_ETHERNET, null);
  const t = store.tallies;
  assert.equal(t[TALLY_SAVED], 1);
  assert.deepEqual([...t.subarray(TALLY_MISSED, TALLY_MISSED + 5)], [0, 0, 2, 1, 0]);
  assert.equal(t[TALLY_BAD + r.d[3 * DESCRIPTION_WORDS + D_STATUS]], 1);
  assert.equal(store.flowCounts(discarding.route).seen, 2);
  assert.equal(store.flowCounts(discarding.route).saved, 0);
  // Back to taking packets (only UuidWait and Saving do).
  store.setFlowState(discarding.route, SaverState.UuidWait);
  store.tallies.fill(0);
  store.route(r.batch, r.d, LINKTYPE_ETHERNET, null);
  assert.equal(store.flowCounts(discarding.route).saved, 2);
});

test('a record of another link type than the flow\'s first is missed', () => {
  const r = described([segment(1, 0)]);
  const flow = bound(r, 0, 'link');
  store.setRouter({ flowFor: () => -1, tick: () => {} });
  store.route(r.batch, r.d, LINKTYPE_ETHERNET, null);
  store.route(r.batch, r.d, 113, null);
  assert.deepEqual([store.tallies[TALLY_SAVED], store.tallies[TALLY_MISSED + SaverState.UuidWait]], [1, 1]);
  assert.equal(store.flowCounts(flow.route).seen, 2);
});

test('packet time: the router ticks before the first record at or past each check, with the records before it routed', () => {
  const times = [0, 50, 99, 100, 30, 180, 250, 260, 351];
  const r = described(times.map((ms) => segment(1, ms)));
  const flow = bound(r, 0, 'ticks');
  const clock = new PacketClock();
  const ticks: Array<[number, number]> = [];
  store.setRouter({
    flowFor: () => assert.fail('the flow is known'),
    tick: () => ticks.push([clock.now() - 1_700_000_000_000, store.flowCounts(flow.route).seen]),
  });
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
  store.setRouter({ flowFor: () => -1, tick: () => {} });
  store.route(r.batch.subarray(0, r.d[DESCRIPTION_WORDS]), r.d.subarray(0, DESCRIPTION_WORDS), LINKTYPE_ETHERNET, null);
  const after = store.takeSeen();
  assert.deepEqual([after[one.route], after[two.route]], [1, 0]);
});

test('a route ends with its flow: the key is unknown again, and its file can be finished meanwhile', async () => {
  const r = described([segment(1, 0), segment(1, 1)]);
  const flow = bound(r, 0, 'ended');
  const asked: number[] = [];
  store.setRouter({
    flowFor: (at) => {
      asked.push(at / DESCRIPTION_WORDS);
      return -1;
    },
    tick: () => {},
  });
  store.route(r.batch, r.d, LINKTYPE_ETHERNET, null);
  const done = flow.file.finish();
  // Finished but still routed (-captureduration): packets are missed, not written.
  store.tallies.fill(0);
  store.route(r.batch, r.d, LINKTYPE_ETHERNET, null);
  assert.deepEqual([store.tallies[TALLY_SAVED], store.tallies[TALLY_MISSED + SaverState.UuidWait]], [0, 2]);
  store.unbindFlow(flow.route);
  store.route(r.batch, r.d, LINKTYPE_ETHERNET, null);
  assert.deepEqual(asked, [0, 1]);
  assert.equal(await done, 'written');
});
