// One TCP packet as the analysis sees it: the header fields that matter, read
// once from the frame. Sequence and acknowledgement numbers are unsigned 32-bit
// values held in numbers; lengths come from the IP header, because payload is
// cut from the stored frames.
import { DECODE_OK } from '../native/layout.js';
import { DecodedPacket, decodeFrame } from '../decode/packet.js';

export const TH_FIN = 0x01;
export const TH_SYN = 0x02;
export const TH_RST = 0x04;
export const TH_PSH = 0x08;
export const TH_ACK = 0x10;
export const TH_URG = 0x20;
export const TH_ECE = 0x40;
export const TH_CWR = 0x80;

/** At most four SACK blocks fit in 40 bytes of options. */
export const MAX_SACK_BLOCKS = 4;
const TCPOPT_EOL = 0;
const TCPOPT_NOP = 1;
const TCPOPT_MSS = 2;
const TCPOPT_WINDOW = 3;
const TCPOPT_SACK_PERM = 4;
const TCPOPT_SACK = 5;
const TCPOPT_TIMESTAMP = 8;

/** Reused for every packet: copy what must outlive the call it is passed to. */
export class Segment {
  /** Nanoseconds since the first packet of the flow. */
  timeNs = 0;
  /** 0: client to server, 1: server to client. */
  direction: 0 | 1 = 0;
  seq = 0;
  ack = 0;
  /** The 8 classic flag bits (FIN … CWR). */
  flags = 0;
  /** Window field as sent (not scaled). */
  window = 0;
  /** TCP payload bytes: IP length - IP headers - TCP header. */
  seglen = 0;
  /** IPv4 total length, or IPv6 payload length + 40. */
  ipLength = 0;
  /** IPv4 TTL or IPv6 hop limit. */
  ttl = 0;
  /** The 2 ECN bits of the IP header (3: Congestion Experienced). */
  ecn = 0;
  /** Options; -1 when absent. */
  mss = -1;
  windowScale = -1;
  sackPermitted = false;
  hasTimestamps = false;
  tsval = 0;
  tsecr = 0;
  sackBlocks = 0;
  /** Left and right edges of the SACK blocks: [left0, right0, left1, right1, …]. */
  readonly sackEdges = new Float64Array(2 * MAX_SACK_BLOCKS);
}

// Big-endian fields read byte by byte: Buffer's readUInt16BE/readUInt32BE
// check their argument on every call, which costs more than the read where V8
// does not inline them. Every offset read here is inside the frame (decodeFrame
// checked the headers' lengths).
function u16(data: Buffer, at: number): number {
  return (data[at] << 8) | data[at + 1];
}
function u32(data: Buffer, at: number): number {
  return data[at] * 0x1000000 + ((data[at + 1] << 16) | (data[at + 2] << 8) | data[at + 3]);
}

/** Where the IP header of a decoded frame starts (decodeFrame reports the address offsets). */
function ipOffsetOf(decoded: DecodedPacket): number {
  return decoded.ipVersion === 4 ? decoded.srcAddressOffset - 12 : decoded.srcAddressOffset - 8;
}

/**
 * Fills `out` (all but timeNs and direction) from the frame at
 * data[offset, offset+caplen). Returns false when it is not a TCP segment
 * the decoder accepts; `decoded` then holds nothing useful.
 */
export function readSegment(data: Buffer, offset: number, caplen: number, linkType: number, decoded: DecodedPacket, out: Segment): boolean {
  if (decodeFrame(data, offset, caplen, linkType, decoded) !== DECODE_OK) return false;
  const ip = offset + ipOffsetOf(decoded);
  const tcp = offset + decoded.tcpOffset;
  const tcpHeaderEnd = tcp + decoded.tcpHeaderLength;
  let ipEnd: number;
  if (decoded.ipVersion === 4) {
    out.ipLength = u16(data, ip + 2);
    out.ttl = data[ip + 8];
    out.ecn = data[ip + 1] & 3;
    ipEnd = ip + out.ipLength;
  } else {
    out.ipLength = u16(data, ip + 4) + 40;
    out.ttl = data[ip + 7];
    out.ecn = (data[ip + 1] >> 4) & 3;
    ipEnd = ip + out.ipLength;
  }
  // A length field smaller than the headers it carries is damage; count no payload.
  out.seglen = ipEnd > tcpHeaderEnd ? ipEnd - tcpHeaderEnd : 0;
  out.seq = u32(data, tcp + 4);
  out.ack = u32(data, tcp + 8);
  out.flags = data[tcp + 13];
  out.window = u16(data, tcp + 14);
  readOptions(data, tcp + 20, Math.min(tcpHeaderEnd, offset + caplen), out);
  return true;
}

function readOptions(data: Buffer, start: number, end: number, out: Segment): void {
  out.mss = -1;
  out.windowScale = -1;
  out.sackPermitted = false;
  out.hasTimestamps = false;
  out.sackBlocks = 0;
  let at = start;
  while (at < end) {
    const kind = data[at];
    if (kind === TCPOPT_EOL) return;
    if (kind === TCPOPT_NOP) {
      at++;
      continue;
    }
    if (at + 1 >= end) return;
    const length = data[at + 1];
    if (length < 2 || at + length > end) return; // malformed: stop, as a receiver would
    switch (kind) {
      case TCPOPT_MSS:
        if (length === 4) out.mss = u16(data, at + 2);
        break;
      case TCPOPT_WINDOW:
        if (length === 3) out.windowScale = data[at + 2];
        break;
      case TCPOPT_SACK_PERM:
        out.sackPermitted = true;
        break;
      case TCPOPT_SACK: {
        const blocks = Math.min((length - 2) >> 3, MAX_SACK_BLOCKS);
        for (let i = 0; i < blocks; i++) {
          out.sackEdges[2 * i] = u32(data, at + 2 + 8 * i);
          out.sackEdges[2 * i + 1] = u32(data, at + 6 + 8 * i);
        }
        out.sackBlocks = blocks;
        break;
      }
      case TCPOPT_TIMESTAMP:
        if (length === 10) {
          out.hasTimestamps = true;
          out.tsval = u32(data, at + 2);
          out.tsecr = u32(data, at + 6);
        }
        break;
    }
    at += length;
  }
}
