// The TCP analysis on hand-built packet sequences. Where a rule is tshark's,
// the sequence is one that tshark 4.0 was seen to flag the same way (the
// integration test compares whole captures).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Segment, TH_ACK, TH_FIN, TH_SYN } from '../../src/analysis/segment.js';
import {
  A_ACK_LOST_SEGMENT,
  A_DUPLICATE_ACK,
  A_FAST_RETRANSMISSION,
  A_LOST_SEGMENT,
  A_OUT_OF_ORDER,
  A_RETRANSMISSION,
  A_RTT_SAMPLE,
  A_SACK,
  A_SPURIOUS_RETRANSMISSION,
  A_TTL_CHANGE,
  A_WINDOW_FULL,
  A_WINDOW_UPDATE,
  A_ZERO_WINDOW,
  A_ZERO_WINDOW_PROBE,
  A_ZERO_WINDOW_PROBE_ACK,
  TcpAnalysis,
} from '../../src/analysis/tcpanalysis.js';

interface Spec {
  /** Microseconds since the first packet. */
  t: number;
  /** 'c' from the client, 's' from the server. */
  from: 'c' | 's';
  seq: number;
  ack?: number;
  len?: number;
  flags?: number;
  win?: number;
  ttl?: number;
  mss?: number;
  wscale?: number;
  sackPermitted?: boolean;
  ts?: [number, number];
  sack?: Array<[number, number]>;
}

function segmentOf(p: Spec): Segment {
  const s = new Segment();
  s.timeNs = p.t * 1000;
  s.direction = p.from === 'c' ? 0 : 1;
  s.seq = p.seq >>> 0;
  s.ack = (p.ack ?? 0) >>> 0;
  s.seglen = p.len ?? 0;
  s.flags = p.flags ?? TH_ACK;
  s.window = p.win ?? 1000;
  s.ipLength = 40 + s.seglen;
  s.ttl = p.ttl ?? 64;
  s.mss = p.mss ?? -1;
  s.windowScale = p.wscale ?? -1;
  s.sackPermitted = p.sackPermitted ?? false;
  s.hasTimestamps = p.ts !== undefined;
  if (p.ts) [s.tsval, s.tsecr] = p.ts;
  s.sackBlocks = p.sack?.length ?? 0;
  p.sack?.forEach(([l, r], i) => {
    s.sackEdges[2 * i] = l;
    s.sackEdges[2 * i + 1] = r;
  });
  return s;
}

function run(packets: Spec[]): { analysis: TcpAnalysis; flags: number[] } {
  const analysis = new TcpAnalysis();
  return { analysis, flags: packets.map((p) => analysis.add(segmentOf(p))) };
}

/** Indexes of the packets that carry `bit`. */
function flagged(flags: number[], bit: number): number[] {
  return flags.flatMap((f, i) => ((f & bit) !== 0 ? [i] : []));
}

const C = 1000; // client ISN
const S = 5000; // server ISN
/** SYN, SYN-ACK, ACK with a 1 ms handshake RTT. */
function handshake(extra: Partial<Spec> = {}, serverExtra: Partial<Spec> = {}): Spec[] {
  return [
    { t: 0, from: 'c', seq: C, flags: TH_SYN, ...extra },
    { t: 500, from: 's', seq: S, ack: C + 1, flags: TH_SYN | TH_ACK, ...serverExtra },
    { t: 1000, from: 'c', seq: C + 1, ack: S + 1 },
  ];
}

/** `count` server segments of `len` bytes from offset `from` (relative to S+1), `gap` µs apart, each ACKed by the client. */
function download(start: number, from: number, count: number, len = 100, gap = 100): Spec[] {
  const out: Spec[] = [];
  for (let i = 0; i < count; i++) {
    const t = start + i * gap;
    out.push({ t, from: 's', seq: S + 1 + from + i * len, ack: C + 1, len });
    out.push({ t: t + gap / 2, from: 'c', seq: C + 1, ack: S + 1 + from + (i + 1) * len });
  }
  return out;
}

test('the handshake gives the options of each side and the RTT from the last SYN to the ACK', () => {
  const { analysis } = run([
    { t: 0, from: 'c', seq: C, flags: TH_SYN, mss: 1460, wscale: 7, sackPermitted: true, ts: [1, 0] },
    { t: 1_000_000, from: 'c', seq: C, flags: TH_SYN, mss: 1460, wscale: 7, sackPermitted: true, ts: [2, 0] },
    { t: 1_000_400, from: 's', seq: S, ack: C + 1, flags: TH_SYN | TH_ACK, mss: 1400, wscale: 9, sackPermitted: true, ts: [50, 2] },
    { t: 1_000_900, from: 'c', seq: C + 1, ack: S + 1, ts: [3, 50] },
  ]);
  const [c, s] = analysis.directions;
  assert.deepEqual([c.mss, c.windowScaleOption, c.sackPermittedOption, c.timestampsOption], [1460, 7, true, true]);
  assert.deepEqual([s.mss, s.windowScaleOption, s.sackPermittedOption, s.timestampsOption], [1400, 9, true, true]);
  assert.equal(analysis.synRetransmissions, 1);
  assert.equal(analysis.initialRttNs, 900_000, 'from the retransmitted SYN, as tshark');
  assert.equal(analysis.synToSynAckNs, 400_000);
  assert.equal(analysis.handshakeAckTimeNs - analysis.synAckTimeNs, 500_000);
});

test('sequence numbers that wrap past 2^32 are neither lost nor retransmitted; a repeat before the wrap is', () => {
  const isn = 2 ** 32 - 250;
  const packets: Spec[] = [
    { t: 0, from: 'c', seq: C, flags: TH_SYN },
    { t: 500, from: 's', seq: isn, ack: C + 1, flags: TH_SYN | TH_ACK },
    { t: 1000, from: 'c', seq: C + 1, ack: isn + 1 },
  ];
  for (let i = 0; i < 5; i++) packets.push({ t: 2000 + i * 100, from: 's', seq: isn + 1 + i * 100, ack: C + 1, len: 100 });
  packets.push({ t: 50_000, from: 's', seq: isn + 101, ack: C + 1, len: 100 }); // second segment again, long after
  const { analysis, flags } = run(packets);
  assert.deepEqual(flagged(flags, A_LOST_SEGMENT), []);
  assert.deepEqual(flagged(flags, A_RETRANSMISSION), [8]);
  assert.equal(analysis.directions[1].retransmittedBytes, 100);
  assert.equal(analysis.directions[1].highestEnd, (isn + 1 + 500) >>> 0);
});

test('a segment below the highest one is out of order within the handshake RTT, a retransmission after it', () => {
  const packets: Spec[] = [
    ...handshake(),
    { t: 2000, from: 's', seq: S + 101, ack: C + 1, len: 100 }, // 3: the first segment is missing
    { t: 2100, from: 's', seq: S + 1, ack: C + 1, len: 100 }, // 4: it comes 0.1 ms later: reordered
    { t: 3000, from: 's', seq: S + 201, ack: C + 1, len: 100 }, // 5
    { t: 3100, from: 's', seq: S + 401, ack: C + 1, len: 100 }, // 6: a gap again
    { t: 9000, from: 's', seq: S + 301, ack: C + 1, len: 100 }, // 7: filled 5.9 ms later: retransmitted
  ];
  const { analysis, flags } = run(packets);
  assert.deepEqual(flagged(flags, A_LOST_SEGMENT), [3, 6]);
  assert.deepEqual(flagged(flags, A_OUT_OF_ORDER), [4]);
  assert.deepEqual(flagged(flags, A_RETRANSMISSION), [7]);
  assert.equal(analysis.directions[1].outOfOrder, 1);
  assert.equal(analysis.directions[1].retransmittedSegments, 1);
});

test('duplicate ACKs, then the fast retransmission they ask for; data already ACKed again is spurious', () => {
  const packets: Spec[] = [
    ...handshake(),
    ...download(10_000, 0, 2), // 3..6: 200 bytes delivered
    { t: 20_000, from: 's', seq: S + 301, ack: C + 1, len: 100 }, // 7: 201..301 lost
    { t: 20_050, from: 'c', seq: C + 1, ack: S + 201, win: 900, sack: [[S + 301, S + 401]] }, // 8: window changed: an update, not a duplicate
    { t: 20_100, from: 's', seq: S + 401, ack: C + 1, len: 100 }, // 9
    { t: 20_150, from: 'c', seq: C + 1, ack: S + 201, win: 900, sack: [[S + 301, S + 501]] }, // 10: duplicate 1
    { t: 20_200, from: 's', seq: S + 501, ack: C + 1, len: 100 }, // 11
    { t: 20_250, from: 'c', seq: C + 1, ack: S + 201, win: 900, sack: [[S + 301, S + 601]] }, // 12: duplicate 2
    { t: 20_300, from: 's', seq: S + 201, ack: C + 1, len: 100 }, // 13: fast retransmission
    { t: 20_350, from: 'c', seq: C + 1, ack: S + 601, win: 900 }, // 14
    { t: 40_000, from: 's', seq: S + 401, ack: C + 1, len: 100 }, // 15: already ACKed: spurious
  ];
  const { analysis, flags } = run(packets);
  assert.deepEqual(flagged(flags, A_WINDOW_UPDATE), [8]);
  assert.deepEqual(flagged(flags, A_DUPLICATE_ACK), [10, 12]);
  assert.deepEqual(flagged(flags, A_FAST_RETRANSMISSION), [13]);
  assert.deepEqual(flagged(flags, A_SPURIOUS_RETRANSMISSION), [15]);
  assert.deepEqual(flagged(flags, A_RETRANSMISSION), [], 'each retransmission has one kind');
  const [c, s] = analysis.directions;
  assert.equal(c.duplicateAcks, 2);
  assert.deepEqual([s.retransmittedSegments, s.fastRetransmissions, s.spuriousRetransmissions], [2, 1, 1]);
  assert.deepEqual([c.sackPackets, c.sackBlocks], [3, 3]);
  assert.deepEqual(flagged(flags, A_SACK), [8, 10, 12]);
});

test('a pure ACK that repeats ACK and window is a duplicate; a new window is a window update', () => {
  const packets: Spec[] = [
    ...handshake(),
    ...download(10_000, 0, 1), // 3, 4
    { t: 11_000, from: 'c', seq: C + 1, ack: S + 101 }, // 5: same ACK, same window
    { t: 11_100, from: 'c', seq: C + 1, ack: S + 101, win: 2000 }, // 6: same ACK, new window
  ];
  const { flags } = run(packets);
  assert.deepEqual(flagged(flags, A_DUPLICATE_ACK), [5]);
  assert.deepEqual(flagged(flags, A_WINDOW_UPDATE), [6]);
});

test('zero window: the advertisement, the one-byte probe into it and the ACK of the probe', () => {
  const packets: Spec[] = [
    ...handshake({ win: 0 }), // a SYN with window 0 is not a zero window
    ...download(10_000, 0, 1), // 3, 4
    { t: 11_000, from: 'c', seq: C + 1, ack: S + 101, win: 0 }, // 5: zero window
    { t: 12_000, from: 's', seq: S + 101, ack: C + 1, len: 1 }, // 6: probe
    { t: 12_100, from: 'c', seq: C + 1, ack: S + 101, win: 0 }, // 7: the probe's ACK, window still 0
    { t: 13_000, from: 'c', seq: C + 1, ack: S + 101, win: 1000 }, // 8: opens: a window update
  ];
  const { analysis, flags } = run(packets);
  assert.deepEqual(flagged(flags, A_ZERO_WINDOW), [5, 7]);
  assert.deepEqual(flagged(flags, A_ZERO_WINDOW_PROBE), [6]);
  assert.deepEqual(flagged(flags, A_ZERO_WINDOW_PROBE_ACK), [7]);
  assert.deepEqual(flagged(flags, A_RETRANSMISSION | A_LOST_SEGMENT | A_DUPLICATE_ACK), []);
  assert.equal(analysis.directions[0].zeroWindow, 2);
  assert.equal(analysis.directions[1].zeroWindowProbes, 1);
});

test('window full uses the scaled window when both SYNs carry window scaling, the raw one otherwise', () => {
  const scaled = run([
    ...handshake({ wscale: 4 }, { wscale: 2 }),
    { t: 2000, from: 'c', seq: C + 1, ack: S + 1, win: 25 }, // 25 << 4 = 400 bytes
    ...[0, 1, 2, 3].map((i) => ({ t: 3000 + i * 10, from: 's' as const, seq: S + 1 + i * 100, ack: C + 1, len: 100 })),
  ]);
  assert.deepEqual(flagged(scaled.flags, A_WINDOW_FULL), [7], 'the fourth segment reaches 400 bytes');
  const unscaled = run([
    ...handshake({ wscale: 4 }, {}), // the SYN-ACK has no window scale: neither side scales
    { t: 2000, from: 'c', seq: C + 1, ack: S + 1, win: 200 },
    ...[0, 1, 2].map((i) => ({ t: 3000 + i * 10, from: 's' as const, seq: S + 1 + i * 100, ack: C + 1, len: 100 })),
  ]);
  assert.deepEqual(flagged(unscaled.flags, A_WINDOW_FULL), [5]);
});

test('ACKs of segments the capture missed: each hole once, an ACK beyond all data seen only until the first', () => {
  // The three sequences tshark 4.0 was fed (server segments of 100 bytes; "ack N" = ACK of S+1+N).
  const seq = (events: string): Spec[] => {
    const out: Spec[] = [...handshake()];
    let t = 10_000;
    for (const e of events.split(' ')) {
      t += 100;
      const n = Number(e.slice(1));
      out.push(e[0] === 's' ? { t, from: 's', seq: S + 1 + n, ack: C + 1, len: 100 } : { t, from: 'c', seq: C + 1, ack: S + 1 + n, win: 1000 + (t % 7) });
    }
    return out;
  };
  // Missing 200..300 and 600..700, each ACKed before the segment after it was seen.
  assert.deepEqual(flagged(run(seq('s0 s100 a200 a300 s300 a400 s400 a500 s500 a600 a700 s700 s800 a900 s900 a1000')).flags, A_ACK_LOST_SEGMENT), [6, 8, 16]);
  // The same after a hole whose next segment came first.
  assert.deepEqual(flagged(run(seq('s0 s100 a200 s300 a400 s400 a500 a600 s600 a700')).flags, A_ACK_LOST_SEGMENT), [7, 10, 12]);
  assert.deepEqual(flagged(run(seq('s0 s100 a200 a300 s300 a400 s400 a500 s600 a700 s700 a800 a900 s900 a1000')).flags, A_ACK_LOST_SEGMENT), [6, 8, 12, 17]);
});

test('RTT: timestamp echoes give a sample per data TSval; ACKs never for data sent twice (Karn)', () => {
  const packets: Spec[] = [
    ...handshake({ ts: [1, 0] }, { ts: [100, 1] }).map((p, i) => (i === 2 ? { ...p, ts: [2, 100] as [number, number] } : p)),
    { t: 10_000, from: 's', seq: S + 1, ack: C + 1, len: 100, ts: [101, 2] },
    { t: 30_000, from: 'c', seq: C + 1, ack: S + 101, ts: [3, 101] }, // 20 ms
    { t: 40_000, from: 's', seq: S + 101, ack: C + 1, len: 100, ts: [102, 3] },
    { t: 80_000, from: 's', seq: S + 101, ack: C + 1, len: 100, ts: [103, 3] }, // sent again (new TSval)
    { t: 90_000, from: 'c', seq: C + 1, ack: S + 201, ts: [4, 103] }, // 10 ms after the retransmission
  ];
  const analysis = new TcpAnalysis();
  const rtts: number[] = [];
  const withEvents = new TcpAnalysis({ onPacket: (_s, e) => ((e.flags & A_RTT_SAMPLE) !== 0 ? rtts.push(e.rttNs / 1e6) : undefined) });
  for (const p of packets) {
    analysis.add(segmentOf(p));
    withEvents.add(segmentOf(p));
  }
  const server = analysis.directions[1];
  // SYN-ACK → ACK 0.5 ms, first segment 20 ms, the retransmission 10 ms.
  assert.deepEqual(server.timestampRtt.stats(), { min: 500_000, median: 10_000_000, max: 20_000_000 });
  // By ACKs: the SYN-ACK and the first segment; the second was sent twice.
  assert.equal(server.ackRtt.length, 2);
  // The SYN's echo (client data), the SYN-ACK's, the two segments'.
  assert.deepEqual(rtts, [0.5, 0.5, 20, 10]);
});

test('TTL changes are counted per direction and each changed packet is marked', () => {
  const { analysis, flags } = run([...handshake(), { t: 2000, from: 'c', seq: C + 1, ack: S + 1, ttl: 63 }, { t: 3000, from: 'c', seq: C + 1, ack: S + 1, ttl: 63, flags: TH_ACK | TH_FIN }]);
  assert.deepEqual(flagged(flags, A_TTL_CHANGE), [3]);
  assert.deepEqual([analysis.directions[0].ttlChanges, analysis.directions[0].ttlMin, analysis.directions[0].ttlMax], [1, 63, 64]);
  assert.equal(analysis.firstFinFrom, 0);
});

/** The fields of an object that are not objects, with their values. */
function primitiveFields(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, value]) => value === null || typeof value !== 'object'));
}

/** Sets every number and boolean field of `o` to a value no new object has. */
function scribble(o: object): void {
  const fields = o as Record<string, unknown>;
  for (const [name, value] of Object.entries(fields)) {
    if (typeof value === 'number') fields[name] = 12345;
    else if (typeof value === 'boolean') fields[name] = !value;
  }
}

test('reset() gives back every field of a new TcpAnalysis and DirectionState (inspect reuses them from file to file)', () => {
  const fresh = new TcpAnalysis();
  const used = new TcpAnalysis();
  scribble(used);
  for (const d of used.directions) {
    scribble(d);
    d.awaitingAck.push(1, 2);
    d.awaitingEcho.push(1, 2);
    d.ackRtt.push(3);
    d.timestampRtt.push(3);
  }
  used.reset();
  assert.deepEqual(primitiveFields(used), primitiveFields(fresh));
  for (const i of [0, 1] as const) {
    const d = used.directions[i];
    assert.deepEqual(primitiveFields(d), primitiveFields(fresh.directions[i]));
    assert.deepEqual([d.awaitingAck.length, d.awaitingEcho.length, d.ackRtt.length, d.timestampRtt.length], [0, 0, 0, 0]);
  }
});
