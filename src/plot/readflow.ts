// One flow file → what the plot draws: the inspect analysis (src/analysis/)
// reads the file and flags each packet; this turns its packets into relative
// sequence numbers per direction and keeps what each series needs.
import { basename } from 'node:path';
import { analyzeFile } from '../analysis/summarize.js';
import type { FlowSummary } from '../analysis/summary.js';
import { TH_ACK, TH_FIN, TH_SYN, type Segment } from '../analysis/segment.js';
import { A_ANY_RETRANSMISSION, A_OUT_OF_ORDER, A_RTT_SAMPLE, A_ZERO_WINDOW, type PacketEvent } from '../analysis/tcpanalysis.js';
import { DirectionSeries, SegmentKind, type FlowSeries } from './series.js';

/**
 * Sequence numbers of one direction relative to its initial sequence number
 * (the SYN's plus one, else the first seen), unwrapped past 2^32: each number
 * is placed by its signed distance from the previous one.
 */
class RelativeSequence {
  private raw = 0;
  private relative = 0;
  private anchored = false;

  /** The direction's SYN: the byte after it is 0. */
  syn(seq: number): void {
    if (this.anchored) return;
    this.raw = (seq + 1) >>> 0;
    this.relative = 0;
    this.anchored = true;
  }

  of(seq: number): number {
    if (!this.anchored) {
      this.raw = seq;
      this.anchored = true;
      return 0;
    }
    this.relative += (seq - this.raw) | 0;
    this.raw = seq;
    return this.relative;
  }
}

export interface ReadFlow {
  series: FlowSeries;
  summary: FlowSummary;
}

export async function readFlow(path: string): Promise<ReadFlow> {
  const directions: [DirectionSeries, DirectionSeries] = [new DirectionSeries('client → server'), new DirectionSeries('server → client')];
  const sequences = [new RelativeSequence(), new RelativeSequence()];
  /** Window scale option of each direction's SYN; -1 = none seen. Windows are scaled only when both sent one. */
  const scaleOption = [-1, -1];
  const onPacket = (s: Segment, e: PacketEvent) => {
    const t = s.timeNs / 1e9;
    const d = s.direction;
    const other = d ^ 1;
    const syn = (s.flags & TH_SYN) !== 0;
    if (syn) {
      scaleOption[d] = s.windowScale;
      sequences[d].syn(s.seq);
    }
    const occupies = s.seglen + (syn ? 1 : 0) + ((s.flags & TH_FIN) !== 0 ? 1 : 0);
    if (occupies > 0) {
      const start = sequences[d].of(s.seq);
      const kind = (e.flags & A_ANY_RETRANSMISSION) !== 0 ? SegmentKind.Retransmission : (e.flags & A_OUT_OF_ORDER) !== 0 ? SegmentKind.OutOfOrder : SegmentKind.New;
      directions[d].addSegment(t, start, start + occupies, kind);
    }
    // This packet's ACK, window and SACK blocks are about the other direction's data.
    if ((s.flags & TH_ACK) !== 0) {
      const ack = sequences[other].of(s.ack);
      const shift = !syn && scaleOption[0] >= 0 && scaleOption[1] >= 0 ? Math.min(scaleOption[d], 14) : 0;
      directions[other].addAck(t, ack, ack + s.window * 2 ** shift);
      if ((e.flags & A_ZERO_WINDOW) !== 0) directions[other].addZeroWindow(t, ack);
      for (let b = 0; b < s.sackBlocks; b++) {
        directions[other].addSack(t, sequences[other].of(s.sackEdges[2 * b]), sequences[other].of(s.sackEdges[2 * b + 1]));
      }
    }
    if ((e.flags & A_RTT_SAMPLE) !== 0) directions[other].addRtt(t, e.rttNs / 1e6);
  };
  const { summary } = await analyzeFile(path, { onPacket });
  const client = endpoint(summary.client_ip, summary.client_port);
  const server = endpoint(summary.server_ip, summary.server_port);
  directions[0].label = `client ${client} → server ${server}`;
  directions[1].label = `server ${server} → client ${client}`;
  const parts = [
    `client ${client} ↔ server ${server}`,
    summary.first_packet_time === null ? 'no TCP packet' : `from ${summary.first_packet_time}`,
    `${summary.duration_s.toFixed(3)} s`,
    `${summary.packets.toLocaleString('en-US')} packets`,
    `retransmitted segments ${summary.c2s_retransmitted_segments} client → server, ${summary.s2c_retransmitted_segments} server → client`,
  ];
  if (summary.handshake_rtt_ms !== null) parts.push(`handshake RTT ${summary.handshake_rtt_ms.toFixed(1)} ms`);
  if (!(scaleOption[0] >= 0 && scaleOption[1] >= 0) && summary.syn_time === null) parts.push('no handshake: windows drawn unscaled');
  if (!summary.complete) parts.push(`file cut short (${summary.read_problem})`);
  return {
    summary,
    series: { title: basename(path), subtitle: parts.join(' · '), duration: summary.duration_s, packets: summary.packets, directions },
  };
}

function endpoint(ip: string | null, port: number | null): string {
  if (ip === null) return '?';
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
