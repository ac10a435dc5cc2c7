// Finds, in one captured frame, the IP addresses, the TCP ports and where the
// TCP header starts and ends. It reads only what it needs, allocates nothing,
// and never throws on malformed input: each frame gets a status, 0 for a TCP
// segment, otherwise the reason it was not one.
import { canonicalize, newFlowKey, type FlowKey } from './flowkey.js';
import {
  BAD_FRAGMENT,
  BAD_IP_HEADER,
  BAD_LINKTYPE,
  BAD_NOT_IP,
  BAD_NOT_TCP,
  BAD_TCP_HEADER,
  BAD_TRUNCATED,
  DECODE_OK,
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_LOOP,
  LINKTYPE_NULL,
  LINKTYPE_RAW,
} from '../native/layout.js';

// The statuses (DECODE_OK, BAD_*) are numbered in src/native/layout.ts, as
// the addon's decoder (native/decode.cc) numbers them.

/** Label values for the bad-packet metric, indexed by status (DECODE_STATUS_COUNT of them). */
export const DECODE_STATUS_NAMES = [
  'ok',
  'truncated',
  'linktype',
  'not_ip',
  'ip_header',
  'not_tcp',
  'fragment',
  'tcp_header',
] as const;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
const ETHERTYPE_QINQ_OLD = 0x9100;
const MAX_VLAN_TAGS = 8;
const MAX_IPV6_EXTENSIONS = 16;
const IPPROTO_TCP = 6;

// Big-endian fields read byte by byte: Buffer's readUInt16BE/readInt32BE check
// their argument on every call, which shows when V8 does not inline them into
// this long function. Every read below is inside frame[start, end), checked
// first; callers pass an `end` within the buffer.
function u16(frame: Buffer, at: number): number {
  return (frame[at] << 8) | frame[at + 1];
}
function i32(frame: Buffer, at: number): number {
  return (frame[at] << 24) | (frame[at + 1] << 16) | (frame[at + 2] << 8) | frame[at + 3];
}

/** Where a frame's headers are; reused for every frame, so copy what must outlive the call. */
export class DecodedPacket {
  /** Direction-independent flow key of the frame. */
  readonly key: FlowKey = newFlowKey();
  /** True when the frame travels from the key's endpoint B to endpoint A. */
  swapped = false;
  ipVersion: 4 | 6 = 4;
  /** Offsets relative to the start of the frame. */
  srcAddressOffset = 0;
  dstAddressOffset = 0;
  tcpOffset = 0;
  tcpHeaderLength = 0;
  readonly scratch = new Int32Array(8);
}

/**
 * Decodes the frame at frame[start, start+caplen) captured on a link of the given
 * LINKTYPE. Returns DECODE_OK and fills `out`, or a BAD_* status.
 */
export function decodeFrame(frame: Buffer, start: number, caplen: number, linkType: number, out: DecodedPacket): number {
  const end = start + caplen;
  let offset: number;
  let ethertype: number;
  switch (linkType) {
    case LINKTYPE_ETHERNET: {
      if (caplen < 14) return BAD_TRUNCATED;
      ethertype = u16(frame, start + 12);
      offset = start + 14;
      for (let tags = 0; ethertype === ETHERTYPE_VLAN || ethertype === ETHERTYPE_QINQ || ethertype === ETHERTYPE_QINQ_OLD; tags++) {
        if (tags === MAX_VLAN_TAGS) return BAD_NOT_IP;
        if (offset + 4 > end) return BAD_TRUNCATED;
        ethertype = u16(frame, offset + 2);
        offset += 4;
      }
      break;
    }
    case LINKTYPE_RAW:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6: {
      if (caplen < 1) return BAD_TRUNCATED;
      const version = frame[start] >> 4;
      ethertype = version === 4 ? ETHERTYPE_IPV4 : version === 6 ? ETHERTYPE_IPV6 : 0;
      offset = start;
      break;
    }
    case LINKTYPE_LINUX_SLL:
      if (caplen < 16) return BAD_TRUNCATED;
      ethertype = u16(frame, start + 14);
      offset = start + 16;
      break;
    case LINKTYPE_LINUX_SLL2:
      if (caplen < 20) return BAD_TRUNCATED;
      ethertype = u16(frame, start);
      offset = start + 20;
      break;
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP: {
      if (caplen < 4) return BAD_TRUNCATED;
      // NULL is in the capturing host's byte order, LOOP in network order; the
      // family values are small, so whichever end holds a nonzero value is it.
      const be = frame.readUInt32BE(start);
      const family = be > 0xffff ? frame.readUInt32LE(start) : be;
      ethertype = family === 2 ? ETHERTYPE_IPV4 : family === 10 || family === 24 || family === 28 || family === 30 ? ETHERTYPE_IPV6 : 0;
      offset = start + 4;
      break;
    }
    default:
      return BAD_LINKTYPE;
  }

  let tcpOffset: number;
  const w = out.scratch;
  if (ethertype === ETHERTYPE_IPV4) {
    if (offset + 20 > end) return BAD_TRUNCATED;
    const vihl = frame[offset];
    if (vihl >> 4 !== 4) return BAD_IP_HEADER;
    const ihl = (vihl & 15) * 4;
    if (ihl < 20) return BAD_IP_HEADER;
    if (frame[offset + 9] !== IPPROTO_TCP) return BAD_NOT_TCP;
    // A non-first fragment carries no TCP header.
    if ((u16(frame, offset + 6) & 0x1fff) !== 0) return BAD_FRAGMENT;
    out.ipVersion = 4;
    out.srcAddressOffset = offset + 12 - start;
    out.dstAddressOffset = offset + 16 - start;
    w[0] = 0;
    w[1] = 0;
    w[2] = 0xffff;
    w[3] = i32(frame, offset + 12);
    w[4] = 0;
    w[5] = 0;
    w[6] = 0xffff;
    w[7] = i32(frame, offset + 16);
    tcpOffset = offset + ihl;
  } else if (ethertype === ETHERTYPE_IPV6) {
    if (offset + 40 > end) return BAD_TRUNCATED;
    if (frame[offset] >> 4 !== 6) return BAD_IP_HEADER;
    out.ipVersion = 6;
    out.srcAddressOffset = offset + 8 - start;
    out.dstAddressOffset = offset + 24 - start;
    for (let i = 0; i < 8; i++) w[i] = i32(frame, offset + 8 + 4 * i);
    let next = frame[offset + 6];
    tcpOffset = offset + 40;
    for (let n = 0; next !== IPPROTO_TCP; n++) {
      if (n === MAX_IPV6_EXTENSIONS) return BAD_IP_HEADER;
      switch (next) {
        case 0: // hop-by-hop options
        case 43: // routing
        case 60: // destination options
        case 135: // mobility
        case 139: // host identity protocol
        case 140: // shim6
          if (tcpOffset + 2 > end) return BAD_TRUNCATED;
          next = frame[tcpOffset];
          tcpOffset += (frame[tcpOffset + 1] + 1) * 8;
          break;
        case 44: // fragment
          if (tcpOffset + 8 > end) return BAD_TRUNCATED;
          if ((u16(frame, tcpOffset + 2) & 0xfff8) !== 0) return BAD_FRAGMENT;
          next = frame[tcpOffset];
          tcpOffset += 8;
          break;
        case 51: // authentication header: length in 4-byte units, minus 2
          if (tcpOffset + 2 > end) return BAD_TRUNCATED;
          next = frame[tcpOffset];
          tcpOffset += (frame[tcpOffset + 1] + 2) * 4;
          break;
        default: // 59 (no next header), ESP, ICMPv6, UDP, ...
          return BAD_NOT_TCP;
      }
    }
  } else {
    return BAD_NOT_IP;
  }

  if (tcpOffset + 20 > end) return BAD_TRUNCATED;
  const tcpHeaderLength = (frame[tcpOffset + 12] >> 4) * 4;
  if (tcpHeaderLength < 20) return BAD_TCP_HEADER;
  out.tcpOffset = tcpOffset - start;
  out.tcpHeaderLength = tcpHeaderLength;
  out.swapped = canonicalize(w, u16(frame, tcpOffset), u16(frame, tcpOffset + 2), out.key);
  return DECODE_OK;
}
