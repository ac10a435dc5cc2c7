// One flow file → its summary: reads the records, finds the TCP headers, tells
// client from server, runs the analysis and fills every schema field.
import { basename } from 'node:path';
import { addressText, flowKeysEqual, newFlowKey, portOf } from '../decode/flowkey.js';
import { DecodedPacket } from '../decode/packet.js';
import { type PcapHeader, type PcapReadResult, readPcapFileQuick } from '../readers/pcapreader.js';
import { DIRECTION_FIELDS, DIRECTION_KEYS, type Direction, type DirectionRecord, type FlowPart, type FlowSummary, timestampText } from './summary.js';
import { readSegment, Segment, TH_ACK, TH_SYN } from './segment.js';
import { type AnalysisOptions, type DirectionState, TcpAnalysis } from './tcpanalysis.js';

export type SummarizeOptions = AnalysisOptions;

/**
 * The flow's UUID from its file name: the name without .pcap.gz, .pcap or
 * .gz, and without the time a later file of a connection adds
 * (`<UUID>.<YYYYMMDDTHHMMSS.sss>Z.pcap.gz`, docs/output.md), so that every
 * file of a connection joins on one UUID.
 */
export function uuidOfPath(path: string): string {
  return basename(path).replace(/(\.pcap)?(\.gz)?$/, '').replace(/\.\d{8}T\d{6}\.\d{3}Z$/, '');
}

export interface FileAnalysis {
  summary: FlowSummary;
  analysis: TcpAnalysis;
}

/**
 * Reads and analyses one file at a time, keeping its decoding and analysis
 * state from one file to the next (`reuse`), as `inspect` does for millions
 * of small files. A file read synchronously (nearly all: see
 * readPcapFileQuick) gives its summary as is, without a promise; then the
 * summarizer is free again at once. Otherwise it is busy until the promise
 * settles.
 */
export class FlowSummarizer {
  readonly analysis: TcpAnalysis;
  private readonly decoded = new DecodedPacket();
  private readonly segment = new Segment();
  private readonly key = newFlowKey();
  private fresh = true;
  private linkType = -1;
  private seen = false;
  private clientSwapped = false;
  private rolesFromSyn = false;
  private ipVersion: 4 | 6 = 4;
  private baseSeconds = 0;
  private baseNanoseconds = 0;
  private lastSeconds = 0;
  private lastNanoseconds = 0;
  private otherRecords = 0;

  /** `reuse`: one TcpAnalysis for every file (reset between them), so FileAnalysis.analysis is only valid until the next file. */
  constructor(options: SummarizeOptions = {}, private readonly reuse = true) {
    this.analysis = new TcpAnalysis(options);
  }

  private readonly onHeader = (header: PcapHeader): void => {
    this.linkType = header.linkType;
  };

  private readonly visit = (data: Buffer, offset: number, caplen: number, _origlen: number, seconds: number, nanoseconds: number): void => {
    const decoded = this.decoded;
    const segment = this.segment;
    if (!readSegment(data, offset, caplen, this.linkType, decoded, segment)) {
      this.otherRecords++;
      return;
    }
    if (!this.seen) {
      this.seen = true;
      this.key.set(decoded.key);
      this.ipVersion = decoded.ipVersion;
      this.baseSeconds = seconds;
      this.baseNanoseconds = nanoseconds;
      // A SYN comes from the client and a SYN-ACK from the server; without
      // either, the first packet's sender is taken for the client.
      const syn = (segment.flags & TH_SYN) !== 0;
      this.rolesFromSyn = syn;
      this.clientSwapped = syn && (segment.flags & TH_ACK) !== 0 ? !decoded.swapped : decoded.swapped;
    } else if (!flowKeysEqual(this.key, decoded.key)) {
      this.otherRecords++;
      return;
    }
    this.lastSeconds = seconds;
    this.lastNanoseconds = nanoseconds;
    segment.timeNs = (seconds - this.baseSeconds) * 1e9 + (nanoseconds - this.baseNanoseconds);
    segment.direction = decoded.swapped === this.clientSwapped ? 0 : 1;
    this.analysis.add(segment);
  };

  /** Reads and analyses `path`; never throws for a bad file (the summary says what went wrong). */
  analyze(path: string): FileAnalysis | Promise<FileAnalysis> {
    if (!this.fresh) {
      if (!this.reuse) throw new Error('FlowSummarizer: one file only without reuse');
      this.analysis.reset();
    }
    this.fresh = false;
    this.linkType = -1;
    this.seen = false;
    this.clientSwapped = false;
    this.rolesFromSyn = false;
    this.ipVersion = 4;
    this.baseSeconds = 0;
    this.baseNanoseconds = 0;
    this.lastSeconds = 0;
    this.lastNanoseconds = 0;
    this.otherRecords = 0;
    const result = readPcapFileQuick(path, this.visit, this.onHeader);
    if (result instanceof Promise) return result.then((r) => this.finish(path, r));
    return this.finish(path, result);
  }

  private finish(path: string, result: PcapReadResult): FileAnalysis {
    const analysis = this.analysis;
    const seen = this.seen;
    const key = this.key;
    const baseSeconds = this.baseSeconds;
    const baseNanoseconds = this.baseNanoseconds;
    const at = (relativeNs: number): string | null => {
      if (relativeNs < 0 || !seen) return null;
      const total = baseNanoseconds + relativeNs;
      const carry = Math.floor(total / 1e9);
      return timestampText(baseSeconds + carry, total - carry * 1e9);
    };
    const ms = (ns: number): number | null => (ns < 0 ? null : ns / 1e6);
    const role = (direction: number): string | null => (direction < 0 ? null : direction === 0 ? 'client' : 'server');
    const clientEnd = this.clientSwapped ? 1 : 0;
    const serverEnd = clientEnd === 0 ? 1 : 0;
    const [c2s, s2c] = analysis.directions;
    const durationNs = seen ? (this.lastSeconds - baseSeconds) * 1e9 + (this.lastNanoseconds - baseNanoseconds) : 0;

    // The flow's fields in one literal, then each direction's under its prefix, in schema order.
    const flow: FlowPart = {
      uuid: uuidOfPath(path),
      file: path,
      complete: result.problem === null,
      read_problem: result.problem === null ? null : `${result.problem.code}: ${result.problem.message}`,
      link_type: result.header === null ? null : result.header.linkType,
      ip_version: seen ? this.ipVersion : null,
      client_ip: seen ? addressText(key, clientEnd) : null,
      client_port: seen ? portOf(key, clientEnd) : null,
      server_ip: seen ? addressText(key, serverEnd) : null,
      server_port: seen ? portOf(key, serverEnd) : null,
      roles_from_syn: this.rolesFromSyn,
      first_packet_time: seen ? timestampText(baseSeconds, baseNanoseconds) : null,
      last_packet_time: seen ? timestampText(this.lastSeconds, this.lastNanoseconds) : null,
      duration_s: durationNs / 1e9,
      packets: analysis.packets,
      other_records: this.otherRecords,
      syn_time: at(analysis.synTimeNs),
      synack_time: at(analysis.synAckTimeNs),
      handshake_ack_time: at(analysis.handshakeAckTimeNs),
      handshake_rtt_ms: ms(analysis.initialRttNs),
      syn_to_synack_ms: ms(analysis.synToSynAckNs),
      synack_to_ack_ms: analysis.handshakeAckTimeNs >= 0 && analysis.synAckTimeNs >= 0 ? (analysis.handshakeAckTimeNs - analysis.synAckTimeNs) / 1e6 : null,
      syn_retransmissions: analysis.synRetransmissions,
      window_scaling: c2s.windowScaleOption >= 0 && s2c.windowScaleOption >= 0,
      sack_permitted: c2s.sackPermittedOption && s2c.sackPermittedOption,
      timestamps: c2s.timestampsOption && s2c.timestampsOption,
      ecn: analysis.synEcnSetup && analysis.synAckEcnSetup,
      first_fin_from: role(analysis.firstFinFrom),
      first_rst_from: role(analysis.firstRstFrom),
    };
    const summary = flow as FlowSummary;
    addDirection(summary, 'c2s', directionRecord(c2s));
    addDirection(summary, 's2c', directionRecord(s2c));
    return { summary, analysis };
  }
}

/** One direction's fields, without their prefix. */
function directionRecord(s: DirectionState): DirectionRecord {
  const rtt = rttOf(s);
  return {
    packets: s.packets,
    ip_bytes: s.ipBytes,
    payload_bytes: s.payloadBytes,
    data_segments: s.dataSegments,
    unique_bytes: s.isnKnown ? (s.highestEnd - s.isn) >>> 0 : 0,
    mss: s.mss >= 0 ? s.mss : null,
    window_scale: s.windowScaleOption >= 0 ? s.windowScaleOption : null,
    sack_permitted_option: s.sackPermittedOption,
    timestamps_option: s.timestampsOption,
    fin_packets: s.finPackets,
    rst_packets: s.rstPackets,
    retransmitted_segments: s.retransmittedSegments,
    retransmitted_bytes: s.retransmittedBytes,
    fast_retransmissions: s.fastRetransmissions,
    spurious_retransmissions: s.spuriousRetransmissions,
    out_of_order_segments: s.outOfOrder,
    lost_segment_gaps: s.lostSegments,
    acks_of_unseen_segments: s.ackLostSegments,
    duplicate_acks: s.duplicateAcks,
    zero_window: s.zeroWindow,
    zero_window_probes: s.zeroWindowProbes,
    window_full: s.windowFull,
    sack_packets: s.sackPackets,
    sack_blocks: s.sackBlocks,
    ecn_ce_packets: s.ecnCePackets,
    ttl_min: s.ttlMin >= 0 ? s.ttlMin : null,
    ttl_max: s.ttlMax >= 0 ? s.ttlMax : null,
    ttl_changes: s.ttlChanges,
    rtt_source: rtt.source,
    rtt_samples: rtt.samples,
    rtt_min_ms: rtt.minMs,
    rtt_median_ms: rtt.medianMs,
    rtt_max_ms: rtt.maxMs,
  };
}

/** `record`'s fields into `summary` under the direction's prefix. */
function addDirection(summary: FlowSummary, direction: Direction, record: DirectionRecord): void {
  const into = summary as unknown as Record<string, unknown>;
  const from = record as unknown as Record<string, unknown>;
  const keys = DIRECTION_KEYS[direction];
  for (let i = 0; i < DIRECTION_FIELDS.length; i++) into[keys[i]] = from[DIRECTION_FIELDS[i].name];
}

interface Rtt {
  source: 'timestamps' | 'ack' | null;
  samples: number;
  minMs: number | null;
  medianMs: number | null;
  maxMs: number | null;
}

/** The RTT fields of one direction: from the timestamp samples when there are any, else from the ACK samples. */
function rttOf(s: DirectionState): Rtt {
  const timestamps = s.timestampRtt.stats();
  const acks = timestamps === null ? s.ackRtt.stats() : null;
  const rtt = timestamps ?? acks;
  return {
    source: timestamps !== null ? 'timestamps' : acks !== null ? 'ack' : null,
    samples: timestamps !== null ? s.timestampRtt.length : s.ackRtt.length,
    minMs: rtt === null ? null : rtt.min / 1e6,
    medianMs: rtt === null ? null : rtt.median / 1e6,
    maxMs: rtt === null ? null : rtt.max / 1e6,
  };
}

/** Reads and analyses one file; never throws for a bad file (the summary says what went wrong). */
export async function analyzeFile(path: string, options: SummarizeOptions = {}): Promise<FileAnalysis> {
  return new FlowSummarizer(options, false).analyze(path);
}

export async function summarizeFile(path: string, options: SummarizeOptions = {}): Promise<FlowSummary> {
  return (await analyzeFile(path, options)).summary;
}
