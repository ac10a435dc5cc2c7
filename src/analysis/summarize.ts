// One flow file → its summary: reads the records, finds the TCP headers, tells
// client from server, runs the analysis and fills every schema field.
import { basename } from 'node:path';
import { addressText, flowKeysEqual, newFlowKey, portOf } from '../decode/flowkey.js';
import { DecodedPacket } from '../decode/packet.js';
import { readPcapFile } from '../readers/pcapreader.js';
import { type Direction, type DirectionRecord, type FlowSummary, timestampText } from './summary.js';
import { readSegment, Segment, TH_ACK, TH_SYN } from './segment.js';
import { type AnalysisOptions, type DirectionState, TcpAnalysis } from './tcpanalysis.js';

export type SummarizeOptions = AnalysisOptions;

/** The flow's UUID from its file name: the name without .pcap.gz, .pcap or .gz. */
export function uuidOfPath(path: string): string {
  return basename(path).replace(/(\.pcap)?(\.gz)?$/, '');
}

export interface FileAnalysis {
  summary: FlowSummary;
  analysis: TcpAnalysis;
}

/** Reads and analyses one file; never throws for a bad file (the summary says what went wrong). */
export async function analyzeFile(path: string, options: SummarizeOptions = {}): Promise<FileAnalysis> {
  const analysis = new TcpAnalysis(options);
  const decoded = new DecodedPacket();
  const segment = new Segment();
  const key = newFlowKey();
  let linkType = -1;
  let seen = false;
  let clientSwapped = false;
  let rolesFromSyn = false;
  let ipVersion: 4 | 6 = 4;
  let baseSeconds = 0;
  let baseNanoseconds = 0;
  let lastSeconds = 0;
  let lastNanoseconds = 0;
  let otherRecords = 0;

  const result = await readPcapFile(
    path,
    (data, offset, caplen, _origlen, seconds, nanoseconds) => {
      if (!readSegment(data, offset, caplen, linkType, decoded, segment)) {
        otherRecords++;
        return;
      }
      if (!seen) {
        seen = true;
        key.set(decoded.key);
        ipVersion = decoded.ipVersion;
        baseSeconds = seconds;
        baseNanoseconds = nanoseconds;
        // A SYN comes from the client and a SYN-ACK from the server; without
        // either, the first packet's sender is taken for the client.
        const syn = (segment.flags & TH_SYN) !== 0;
        rolesFromSyn = syn;
        clientSwapped = syn && (segment.flags & TH_ACK) !== 0 ? !decoded.swapped : decoded.swapped;
      } else if (!flowKeysEqual(key, decoded.key)) {
        otherRecords++;
        return;
      }
      lastSeconds = seconds;
      lastNanoseconds = nanoseconds;
      segment.timeNs = (seconds - baseSeconds) * 1e9 + (nanoseconds - baseNanoseconds);
      segment.direction = decoded.swapped === clientSwapped ? 0 : 1;
      analysis.add(segment);
    },
    (header) => {
      linkType = header.linkType;
    },
  );

  const at = (relativeNs: number): string | null => {
    if (relativeNs < 0 || !seen) return null;
    const total = baseNanoseconds + relativeNs;
    const carry = Math.floor(total / 1e9);
    return timestampText(baseSeconds + carry, total - carry * 1e9);
  };
  const ms = (ns: number): number | null => (ns < 0 ? null : ns / 1e6);
  const role = (direction: number): string | null => (direction < 0 ? null : direction === 0 ? 'client' : 'server');
  const clientEnd = clientSwapped ? 1 : 0;
  const [c2s, s2c] = analysis.directions;
  const durationNs = seen ? (lastSeconds - baseSeconds) * 1e9 + (lastNanoseconds - baseNanoseconds) : 0;

  const summary: FlowSummary = {
    uuid: uuidOfPath(path),
    file: path,
    complete: result.problem === null,
    read_problem: result.problem === null ? null : `${result.problem.code}: ${result.problem.message}`,
    link_type: result.header === null ? null : result.header.linkType,
    ip_version: seen ? ipVersion : null,
    client_ip: seen ? addressText(key, clientEnd) : null,
    client_port: seen ? portOf(key, clientEnd) : null,
    server_ip: seen ? addressText(key, clientEnd === 0 ? 1 : 0) : null,
    server_port: seen ? portOf(key, clientEnd === 0 ? 1 : 0) : null,
    roles_from_syn: rolesFromSyn,
    first_packet_time: seen ? timestampText(baseSeconds, baseNanoseconds) : null,
    last_packet_time: seen ? timestampText(lastSeconds, lastNanoseconds) : null,
    duration_s: durationNs / 1e9,
    packets: analysis.packets,
    other_records: otherRecords,
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
    ...directionFields('c2s', c2s),
    ...directionFields('s2c', s2c),
  };
  return { summary, analysis };
}

export async function summarizeFile(path: string, options: SummarizeOptions = {}): Promise<FlowSummary> {
  return (await analyzeFile(path, options)).summary;
}

type DirectionValues<D extends Direction> = { [K in keyof FlowSummary as K extends `${D}_${string}` ? K : never]: FlowSummary[K] };

function directionFields<D extends Direction>(d: D, s: DirectionState): DirectionValues<D> {
  const timestamps = s.timestampRtt.stats();
  const acks = s.ackRtt.stats();
  const rtt = timestamps ?? acks;
  const values: DirectionRecord = {
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
    rtt_source: timestamps !== null ? 'timestamps' : acks !== null ? 'ack' : null,
    rtt_samples: timestamps !== null ? s.timestampRtt.length : s.ackRtt.length,
    rtt_min_ms: rtt === null ? null : rtt.min / 1e6,
    rtt_median_ms: rtt === null ? null : rtt.median / 1e6,
    rtt_max_ms: rtt === null ? null : rtt.max / 1e6,
  };
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(values)) out[`${d}_${name}`] = value;
  return out as DirectionValues<D>;
}
