// The TCP analysis of one flow: a state machine per direction that flags each
// packet as tshark's tcp.analysis does (retransmission, fast and spurious
// retransmission, out-of-order, lost and ACKed-unseen segments, duplicate ACKs,
// zero window and its probes, window full, window updates, keep-alives), takes
// RTT samples and counts what the summary reports. tshark (packet-tcp.c) is the
// reference for the rules, so that the counts can be checked against it; where
// this code differs on purpose, the comment says so. It never looks at payload:
// segment lengths come from the IP header.
import { PendingQueue, SampleList } from './rttsamples.js';
import { Segment, TH_ACK, TH_CWR, TH_ECE, TH_FIN, TH_RST, TH_SYN } from './segment.js';

// Per-packet annotation bits (PacketEvent.flags).
export const A_RETRANSMISSION = 1 << 0;
export const A_FAST_RETRANSMISSION = 1 << 1;
export const A_SPURIOUS_RETRANSMISSION = 1 << 2;
export const A_OUT_OF_ORDER = 1 << 3;
export const A_LOST_SEGMENT = 1 << 4;
export const A_ACK_LOST_SEGMENT = 1 << 5;
export const A_DUPLICATE_ACK = 1 << 6;
export const A_ZERO_WINDOW = 1 << 7;
export const A_ZERO_WINDOW_PROBE = 1 << 8;
export const A_ZERO_WINDOW_PROBE_ACK = 1 << 9;
export const A_WINDOW_FULL = 1 << 10;
export const A_WINDOW_UPDATE = 1 << 11;
export const A_KEEP_ALIVE = 1 << 12;
export const A_KEEP_ALIVE_ACK = 1 << 13;
/** The packet carries SACK blocks (Segment.sackEdges). */
export const A_SACK = 1 << 14;
/** The packet gave an RTT sample (PacketEvent.rttNs) for data of the other direction. */
export const A_RTT_SAMPLE = 1 << 15;
/** The packet's TTL or hop limit differs from the previous packet of its direction. */
export const A_TTL_CHANGE = 1 << 16;

/** Any of the three retransmission kinds: each retransmitted segment has exactly one. */
export const A_ANY_RETRANSMISSION = A_RETRANSMISSION | A_FAST_RETRANSMISSION | A_SPURIOUS_RETRANSMISSION;

/** Fast retransmission: within this long after the duplicate ACK that asked for it (tshark's rule). */
const FAST_RETRANSMISSION_WINDOW_NS = 20e6;
/** Out-of-order threshold without a handshake RTT (tshark's rule). */
const DEFAULT_OUT_OF_ORDER_NS = 3e6;

/** Serial-number comparisons of 32-bit sequence numbers (RFC 1982). */
function gtSeq(a: number, b: number): boolean {
  return ((b - a) | 0) < 0;
}
function ltSeq(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}
function leSeq(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}
function add32(a: number, b: number): number {
  return (a + b) >>> 0;
}

/** State and counters of one direction; counters describe the packets sent this way. */
export class DirectionState {
  // Sequence tracking, as tshark keeps it (0 means not yet known, as there).
  nextseq = 0;
  nextseqTimeNs = 0;
  maxseqtobeacked = 0;
  lastack = 0;
  lastackTimeNs = 0;
  /** Last window field sent (unscaled). */
  window = 0;
  /** Whether that window was sent in a SYN (never scaled). */
  windowFromSyn = true;
  /** Window scale shift: -1 not known yet, -2 not in use, else the shift. */
  winScale = -1;
  dupacknum = 0;
  lastSegmentFlags = 0;
  sawSyn = false;
  /** First sequence number: of the SYN (plus one), else of the first segment. */
  isn = 0;
  isnKnown = false;
  highestEnd = 0;

  // Counters.
  packets = 0;
  ipBytes = 0;
  payloadBytes = 0;
  dataSegments = 0;
  finPackets = 0;
  rstPackets = 0;
  retransmittedSegments = 0;
  retransmittedBytes = 0;
  fastRetransmissions = 0;
  spuriousRetransmissions = 0;
  outOfOrder = 0;
  lostSegments = 0;
  ackLostSegments = 0;
  duplicateAcks = 0;
  zeroWindow = 0;
  zeroWindowProbes = 0;
  windowFull = 0;
  sackPackets = 0;
  sackBlocks = 0;
  ecnCePackets = 0;
  ttlMin = -1;
  ttlMax = -1;
  ttlChanges = 0;
  lastTtl = -1;

  // Handshake options (from this direction's SYN or SYN-ACK).
  mss = -1;
  windowScaleOption = -1;
  sackPermittedOption = false;
  timestampsOption = false;

  // RTT of the data sent this way: segments awaiting an ACK (key: end sequence) …
  readonly awaitingAck = new PendingQueue();
  readonly ackRtt = new SampleList();
  // … and timestamps awaiting their echo (key: TSval).
  readonly awaitingEcho = new PendingQueue();
  readonly timestampRtt = new SampleList();
  lastTsvalQueued = -1;

  /**
   * Back to the state of a new DirectionState, keeping the stores' memory (a
   * new one costs a dozen typed arrays). Every field above, written out (a
   * unit test checks that none is missing: tcpanalysis.test.ts).
   */
  reset(): void {
    this.nextseq = 0;
    this.nextseqTimeNs = 0;
    this.maxseqtobeacked = 0;
    this.lastack = 0;
    this.lastackTimeNs = 0;
    this.window = 0;
    this.windowFromSyn = true;
    this.winScale = -1;
    this.dupacknum = 0;
    this.lastSegmentFlags = 0;
    this.sawSyn = false;
    this.isn = 0;
    this.isnKnown = false;
    this.highestEnd = 0;
    this.packets = 0;
    this.ipBytes = 0;
    this.payloadBytes = 0;
    this.dataSegments = 0;
    this.finPackets = 0;
    this.rstPackets = 0;
    this.retransmittedSegments = 0;
    this.retransmittedBytes = 0;
    this.fastRetransmissions = 0;
    this.spuriousRetransmissions = 0;
    this.outOfOrder = 0;
    this.lostSegments = 0;
    this.ackLostSegments = 0;
    this.duplicateAcks = 0;
    this.zeroWindow = 0;
    this.zeroWindowProbes = 0;
    this.windowFull = 0;
    this.sackPackets = 0;
    this.sackBlocks = 0;
    this.ecnCePackets = 0;
    this.ttlMin = -1;
    this.ttlMax = -1;
    this.ttlChanges = 0;
    this.lastTtl = -1;
    this.mss = -1;
    this.windowScaleOption = -1;
    this.sackPermittedOption = false;
    this.timestampsOption = false;
    this.lastTsvalQueued = -1;
    this.awaitingAck.clear();
    this.ackRtt.clear();
    this.awaitingEcho.clear();
    this.timestampRtt.clear();
  }
}

/** What the analysis says about one packet; reused, so copy what must outlive the callback. */
export interface PacketEvent {
  /** Index of the packet in the flow, from 0. */
  index: number;
  /** A_* bits. */
  flags: number;
  /** RTT sample in nanoseconds when flags has A_RTT_SAMPLE (for data of the other direction). */
  rttNs: number;
}

export interface AnalysisOptions {
  /** Called for every packet after it is analysed. */
  onPacket?: (segment: Segment, event: PacketEvent) => void;
}

export class TcpAnalysis {
  readonly directions: readonly [DirectionState, DirectionState] = [new DirectionState(), new DirectionState()];
  packets = 0;
  /** Handshake times (ns since the first packet), -1 when not seen. */
  synTimeNs = -1;
  synAckTimeNs = -1;
  handshakeAckTimeNs = -1;
  /** tshark's initial RTT: the most recent SYN to the first ACK after it; -1 unknown. */
  initialRttNs = -1;
  /** Most recent SYN (without ACK), for the initial RTT. */
  private lastSynTimeNs = -1;
  synToSynAckNs = -1;
  synRetransmissions = 0;
  synEcnSetup = false;
  synAckEcnSetup = false;
  firstFinFrom = -1;
  firstRstFrom = -1;
  private readonly event: PacketEvent = { index: 0, flags: 0, rttNs: 0 };
  private readonly onPacket: AnalysisOptions['onPacket'];

  constructor(options: AnalysisOptions = {}) {
    this.onPacket = options.onPacket;
  }

  /** Ready for another flow, as a new TcpAnalysis with the same options (reusing its memory); every field written out, as in DirectionState.reset. */
  reset(): void {
    this.packets = 0;
    this.synTimeNs = -1;
    this.synAckTimeNs = -1;
    this.handshakeAckTimeNs = -1;
    this.initialRttNs = -1;
    this.lastSynTimeNs = -1;
    this.synToSynAckNs = -1;
    this.synRetransmissions = 0;
    this.synEcnSetup = false;
    this.synAckEcnSetup = false;
    this.firstFinFrom = -1;
    this.firstRstFrom = -1;
    this.directions[0].reset();
    this.directions[1].reset();
  }

  /** Analyses the next packet of the flow (in capture order); returns its A_* bits. */
  add(s: Segment): number {
    const fwd = this.directions[s.direction];
    const rev = this.directions[s.direction ^ 1];
    const flags = s.flags;
    const seq = s.seq;
    const ack = s.ack;
    const seglen = s.seglen;
    const window = s.window;
    const t = s.timeNs;
    let a = 0;
    let rttNs = 0;

    this.countPacket(s, fwd);
    if (fwd.lastTtl >= 0 && s.ttl !== fwd.lastTtl) {
      fwd.ttlChanges++;
      a |= A_TTL_CHANGE;
    }
    fwd.lastTtl = s.ttl;
    if (s.sackBlocks > 0) a |= A_SACK;
    if ((flags & TH_SYN) !== 0) this.handshake(s, fwd, rev);
    else if ((flags & TH_ACK) !== 0 && this.lastSynTimeNs >= 0 && this.initialRttNs < 0) {
      this.initialRttNs = t - this.lastSynTimeNs;
      if (s.direction === 0 && this.synAckTimeNs >= 0) this.handshakeAckTimeNs = t;
    }
    if (!fwd.isnKnown) {
      fwd.isn = (flags & TH_SYN) !== 0 ? add32(seq, 1) : seq;
      fwd.highestEnd = fwd.isn;
      fwd.isnKnown = true;
    }

    analysis: {
      // A one-byte segment at the next sequence number into a zero window.
      if (seglen === 1 && seq === fwd.nextseq && rev.window === 0) {
        a |= A_ZERO_WINDOW_PROBE;
        break analysis;
      }
      if (window === 0 && (flags & (TH_RST | TH_FIN | TH_SYN)) === 0) a |= A_ZERO_WINDOW;
      // A segment beyond the next expected one: something before it was not captured.
      if (fwd.nextseq !== 0 && gtSeq(seq, fwd.nextseq) && (flags & TH_RST) === 0) a |= A_LOST_SEGMENT;
      if ((seglen === 0 || seglen === 1) && seq === add32(fwd.nextseq, -1) && (flags & (TH_SYN | TH_FIN | TH_RST)) === 0) a |= A_KEEP_ALIVE;
      if (seglen === 0 && window !== 0 && window !== fwd.window && seq === fwd.nextseq && ack === fwd.lastack && (flags & (TH_SYN | TH_FIN | TH_RST)) === 0) a |= A_WINDOW_UPDATE;
      // Data up to the right edge of the window the other side offered.
      if (seglen > 0 && rev.winScale !== -1 && (flags & (TH_SYN | TH_FIN | TH_RST)) === 0) {
        const shift = rev.windowFromSyn || rev.winScale === -2 ? 0 : rev.winScale;
        if (add32(seq, seglen) === add32(rev.lastack, rev.window * 2 ** shift)) a |= A_WINDOW_FULL;
      }
      const repeatsAck = seglen === 0 && window === fwd.window && seq === fwd.nextseq && ack === fwd.lastack && (flags & (TH_SYN | TH_FIN | TH_RST)) === 0;
      if (repeatsAck && window !== 0 && (rev.lastSegmentFlags & A_KEEP_ALIVE) !== 0) {
        a |= A_KEEP_ALIVE_ACK;
        break analysis;
      }
      if (repeatsAck && window === 0 && (rev.lastSegmentFlags & A_ZERO_WINDOW_PROBE) !== 0) {
        a |= A_ZERO_WINDOW_PROBE_ACK;
        break analysis;
      }
      if (repeatsAck && window !== 0) {
        // -1 (see the ACKed-unseen test below) counts as 0.
        fwd.dupacknum = fwd.dupacknum === -1 ? 1 : fwd.dupacknum + 1;
        a |= A_DUPLICATE_ACK;
      }
    }
    if (ack !== fwd.lastack) fwd.dupacknum = 0;

    // An ACK beyond what was captured of the other direction: data it sent
    // was not seen. tshark 4.0 tells two cases apart (found by feeding it
    // hand-made captures): a hole inside the data seen is reported and the
    // mark moves past it; an ACK beyond all data seen is reported only while
    // the other direction's duplicate-ACK count is 0, which it then sets to
    // -1 until that direction's own ACK number changes.
    if (rev.maxseqtobeacked !== 0 && gtSeq(ack, rev.maxseqtobeacked) && (flags & TH_ACK) !== 0) {
      if (ltSeq(rev.maxseqtobeacked, rev.nextseq)) {
        rev.maxseqtobeacked = rev.nextseq;
        a |= A_ACK_LOST_SEGMENT;
      } else {
        if (rev.dupacknum === 0) a |= A_ACK_LOST_SEGMENT;
        rev.dupacknum = -1;
      }
    }

    if (seglen > 0 || (flags & (TH_SYN | TH_FIN)) !== 0) a |= this.retransmissionKind(s, fwd, rev, a);

    let nextseq = add32(seq, seglen);
    if ((flags & (TH_SYN | TH_FIN)) !== 0) nextseq = add32(nextseq, 1);
    if ((gtSeq(nextseq, fwd.nextseq) || fwd.nextseq === 0) && (a & A_ZERO_WINDOW_PROBE) === 0) {
      fwd.nextseq = nextseq;
      fwd.nextseqTimeNs = t;
    }
    if ((seq === fwd.maxseqtobeacked || fwd.maxseqtobeacked === 0) && (a & A_ZERO_WINDOW_PROBE) === 0) fwd.maxseqtobeacked = fwd.nextseq;
    fwd.window = window;
    fwd.windowFromSyn = (flags & TH_SYN) !== 0;
    fwd.lastack = ack;
    fwd.lastackTimeNs = t;
    fwd.lastSegmentFlags = a;

    this.countAnalysis(s, fwd, a);
    rttNs = this.takeRttSamples(s, fwd, rev, a);
    if (rttNs >= 0) a |= A_RTT_SAMPLE;

    if (this.onPacket !== undefined) {
      const e = this.event;
      e.index = this.packets - 1;
      e.flags = a;
      e.rttNs = rttNs;
      this.onPacket(s, e);
    }
    return a;
  }

  /** Retransmission, fast or spurious retransmission, out-of-order, or none (tshark's order of tests). */
  private retransmissionKind(s: Segment, fwd: DirectionState, rev: DirectionState, a: number): number {
    const seq = s.seq;
    const seglen = s.seglen;
    if ((a & A_KEEP_ALIVE) !== 0) return 0;
    let notAdvanced = fwd.nextseq !== 0 && ltSeq(seq, fwd.nextseq);
    // After a zero-window probe the next real segment starts one byte back: new data.
    if (seglen > 1 && add32(fwd.nextseq, -1) === seq) notAdvanced = false;
    if (seglen > 0 && rev.lastack !== 0 && leSeq(add32(seq, seglen), rev.lastack)) return A_SPURIOUS_RETRANSMISSION;
    if (notAdvanced && rev.dupacknum >= 2 && rev.lastack === seq && s.timeNs - rev.lastackTimeNs < FAST_RETRANSMISSION_WINDOW_NS) return A_FAST_RETRANSMISSION;
    const threshold = this.initialRttNs > 0 ? this.initialRttNs : DEFAULT_OUT_OF_ORDER_NS;
    const synFin = (s.flags & (TH_SYN | TH_FIN)) !== 0 ? 1 : 0;
    if (notAdvanced && s.timeNs - fwd.nextseqTimeNs < threshold && fwd.nextseq !== add32(seq, seglen + synFin)) return A_OUT_OF_ORDER;
    return notAdvanced ? A_RETRANSMISSION : 0;
  }

  private handshake(s: Segment, fwd: DirectionState, rev: DirectionState): void {
    const isSynAck = (s.flags & TH_ACK) !== 0;
    if (!isSynAck) {
      if (this.synTimeNs < 0) this.synTimeNs = s.timeNs;
      else this.synRetransmissions++;
      this.lastSynTimeNs = s.timeNs;
      this.synEcnSetup = (s.flags & (TH_ECE | TH_CWR)) === (TH_ECE | TH_CWR);
    } else if (this.synAckTimeNs < 0) {
      this.synAckTimeNs = s.timeNs;
      if (this.lastSynTimeNs >= 0) this.synToSynAckNs = s.timeNs - this.lastSynTimeNs;
      this.synAckEcnSetup = (s.flags & (TH_ECE | TH_CWR)) === TH_ECE;
    }
    if (!fwd.sawSyn) {
      fwd.sawSyn = true;
      fwd.mss = s.mss;
      fwd.windowScaleOption = s.windowScale;
      fwd.sackPermittedOption = s.sackPermitted;
      fwd.timestampsOption = s.hasTimestamps;
    }
    // Window scaling is in use only when both SYN and SYN-ACK carry the option.
    if (s.windowScale >= 0) fwd.winScale = Math.min(s.windowScale, 14);
    if (s.windowScale < 0) {
      fwd.winScale = -2;
      rev.winScale = -2;
    } else if (isSynAck && rev.winScale === -2) {
      fwd.winScale = -2;
    }
  }

  private countPacket(s: Segment, fwd: DirectionState): void {
    this.packets++;
    fwd.packets++;
    fwd.ipBytes += s.ipLength;
    fwd.payloadBytes += s.seglen;
    if (s.seglen > 0) fwd.dataSegments++;
    if ((s.flags & TH_FIN) !== 0) {
      fwd.finPackets++;
      if (this.firstFinFrom < 0) this.firstFinFrom = s.direction;
    }
    if ((s.flags & TH_RST) !== 0) {
      fwd.rstPackets++;
      if (this.firstRstFrom < 0) this.firstRstFrom = s.direction;
    }
    if (s.ecn === 3) fwd.ecnCePackets++;
    if (s.sackBlocks > 0) {
      fwd.sackPackets++;
      fwd.sackBlocks += s.sackBlocks;
    }
    if (fwd.ttlMin < 0 || s.ttl < fwd.ttlMin) fwd.ttlMin = s.ttl;
    if (s.ttl > fwd.ttlMax) fwd.ttlMax = s.ttl;
  }

  private countAnalysis(s: Segment, fwd: DirectionState, a: number): void {
    if ((a & A_ANY_RETRANSMISSION) !== 0) {
      fwd.retransmittedSegments++;
      fwd.retransmittedBytes += s.seglen;
      if ((a & A_FAST_RETRANSMISSION) !== 0) fwd.fastRetransmissions++;
      if ((a & A_SPURIOUS_RETRANSMISSION) !== 0) fwd.spuriousRetransmissions++;
    }
    if ((a & A_OUT_OF_ORDER) !== 0) fwd.outOfOrder++;
    if ((a & A_LOST_SEGMENT) !== 0) fwd.lostSegments++;
    if ((a & A_ACK_LOST_SEGMENT) !== 0) fwd.ackLostSegments++;
    if ((a & A_DUPLICATE_ACK) !== 0) fwd.duplicateAcks++;
    if ((a & A_ZERO_WINDOW) !== 0) fwd.zeroWindow++;
    if ((a & A_ZERO_WINDOW_PROBE) !== 0) fwd.zeroWindowProbes++;
    if ((a & A_WINDOW_FULL) !== 0) fwd.windowFull++;
    const end = add32(s.seq, s.seglen);
    if (s.seglen > 0 && gtSeq(end, fwd.highestEnd)) fwd.highestEnd = end;
  }

  /**
   * RTT samples, both ways of taking them: (1) a data segment and the first
   * ACK that covers exactly its end, never when any data up to that end was
   * sent twice (Karn's rule); (2) the first echo of a data segment's TSval.
   * Returns the sample this packet gave (timestamps preferred), or -1.
   */
  private takeRttSamples(s: Segment, fwd: DirectionState, rev: DirectionState, a: number): number {
    const t = s.timeNs;
    let sample = -1;
    // This packet as data awaiting its ACK and echo.
    if (s.seglen > 0 || (s.flags & TH_SYN) !== 0) {
      const end = add32(add32(s.seq, s.seglen), (s.flags & TH_SYN) !== 0 ? 1 : 0);
      if ((a & (A_ANY_RETRANSMISSION | A_OUT_OF_ORDER)) !== 0) fwd.awaitingAck.taintAfter(s.seq);
      else if (fwd.awaitingAck.length === 0 || gtSeq(end, fwd.awaitingAck.lastKey())) fwd.awaitingAck.push(end, t);
      if (s.hasTimestamps && s.tsval !== fwd.lastTsvalQueued) {
        fwd.awaitingEcho.push(s.tsval, t);
        fwd.lastTsvalQueued = s.tsval;
      }
    }
    // This packet as the ACK or echo of the other direction's data.
    if ((s.flags & TH_ACK) !== 0) {
      const q = rev.awaitingAck;
      let acked = -1;
      let tainted = false;
      let sentAt = 0;
      while (q.length > 0 && leSeq(q.firstKey(), s.ack)) {
        acked = q.firstKey();
        tainted = q.firstTainted();
        sentAt = q.firstTime();
        q.shift();
      }
      if (acked === s.ack && !tainted) {
        rev.ackRtt.push(t - sentAt);
        sample = t - sentAt;
      }
    }
    if (s.hasTimestamps && (s.flags & TH_ACK) !== 0) {
      const q = rev.awaitingEcho;
      while (q.length > 0 && leSeq(q.firstKey(), s.tsecr)) {
        const echoed = q.firstKey() === s.tsecr;
        const sentAt = q.firstTime();
        q.shift();
        if (echoed) {
          rev.timestampRtt.push(t - sentAt);
          sample = t - sentAt;
        }
      }
    }
    return sample;
  }
}

