// Builders of synthetic frames and capture batches for unit tests.
import { isIP } from 'node:net';

export interface TcpSpec {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  flags?: number;
  /** Sequence number (default 1000). */
  seq?: number;
  payload?: Buffer;
  /** TCP options bytes (padded to 4). */
  tcpOptions?: Buffer;
  /** IPv4 options bytes (padded to 4). */
  ipOptions?: Buffer;
  /** IPv6 extension headers to insert, as [nextHeaderType, bytes] pairs (bytes excluding the first two). */
  ipv6Extensions?: Array<{ type: number; length8: number }>;
  vlanTags?: number;
}

function addressBytes(text: string): Buffer {
  if (isIP(text) === 4) return Buffer.from(text.split('.').map(Number));
  const [head, tail = ''] = text.split('::');
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const h = parse(head);
  const t = text.includes('::') ? parse(tail) : [];
  const groups = [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(g, i * 2));
  return b;
}

function pad4(b: Buffer | undefined): Buffer {
  if (b === undefined) return Buffer.alloc(0);
  const n = Math.ceil(b.length / 4) * 4;
  return Buffer.concat([b, Buffer.alloc(n - b.length)]);
}

export function tcpSegment(spec: TcpSpec): Buffer {
  const options = pad4(spec.tcpOptions);
  const tcp = Buffer.alloc(20 + options.length);
  tcp.writeUInt16BE(spec.sport, 0);
  tcp.writeUInt16BE(spec.dport, 2);
  tcp.writeUInt32BE(spec.seq ?? 1000, 4);
  tcp.writeUInt32BE(2000, 8);
  tcp[12] = ((20 + options.length) / 4) << 4;
  tcp[13] = spec.flags ?? 0x10;
  tcp.writeUInt16BE(65535, 14);
  options.copy(tcp, 20);
  return Buffer.concat([tcp, spec.payload ?? Buffer.alloc(0)]);
}

/** The IP packet (no link header). */
export function ipPacket(spec: TcpSpec): Buffer {
  const segment = tcpSegment(spec);
  if (isIP(spec.src) === 4) {
    const options = pad4(spec.ipOptions);
    const ip = Buffer.alloc(20 + options.length);
    ip[0] = 0x40 | ((20 + options.length) / 4);
    ip.writeUInt16BE(ip.length + segment.length, 2);
    ip[8] = 64;
    ip[9] = 6;
    addressBytes(spec.src).copy(ip, 12);
    addressBytes(spec.dst).copy(ip, 16);
    options.copy(ip, 20);
    return Buffer.concat([ip, segment]);
  }
  const extensions = spec.ipv6Extensions ?? [];
  const extBytes: Buffer[] = [];
  for (let i = 0; i < extensions.length; i++) {
    const next = i + 1 < extensions.length ? extensions[i + 1].type : 6;
    const ext = Buffer.alloc(extensions[i].type === 44 ? 8 : (extensions[i].length8 + 1) * 8);
    ext[0] = next;
    if (extensions[i].type !== 44) ext[1] = extensions[i].length8;
    extBytes.push(ext);
  }
  const ext = Buffer.concat(extBytes);
  const ip = Buffer.alloc(40);
  ip[0] = 0x60;
  ip.writeUInt16BE(ext.length + segment.length, 4);
  ip[6] = extensions.length > 0 ? extensions[0].type : 6;
  ip[7] = 64;
  addressBytes(spec.src).copy(ip, 8);
  addressBytes(spec.dst).copy(ip, 24);
  return Buffer.concat([ip, ext, segment]);
}

export function ethernetFrame(spec: TcpSpec): Buffer {
  const packet = ipPacket(spec);
  const tags = spec.vlanTags ?? 0;
  const eth = Buffer.alloc(14 + 4 * tags);
  eth.fill(0xaa, 0, 6);
  eth.fill(0xbb, 6, 12);
  for (let i = 0; i < tags; i++) {
    eth.writeUInt16BE(i === 0 ? 0x88a8 : 0x8100, 12 + 4 * i);
    eth.writeUInt16BE(100 + i, 14 + 4 * i);
  }
  eth.writeUInt16BE(isIP(spec.src) === 4 ? 0x0800 : 0x86dd, 12 + 4 * tags);
  return Buffer.concat([eth, packet]);
}

export interface BatchRecord {
  frame: Buffer;
  /** Nanoseconds since the epoch. */
  timestampNs?: bigint;
  /** Bytes kept; defaults to the whole frame. */
  caplen?: number;
}

/** A batch in the addon's layout: u32 sec, u32 nsec, u32 caplen, u32 origlen, bytes. */
export function batchOf(records: readonly BatchRecord[]): Buffer {
  const parts: Buffer[] = [];
  records.forEach((r, i) => {
    const ts = r.timestampNs ?? 1_700_000_000_000_000_000n + BigInt(i) * 1_000_000n;
    const caplen = Math.min(r.caplen ?? r.frame.length, r.frame.length);
    const header = Buffer.alloc(16);
    header.writeUInt32LE(Number(ts / 1_000_000_000n), 0);
    header.writeUInt32LE(Number(ts % 1_000_000_000n), 4);
    header.writeUInt32LE(caplen, 8);
    header.writeUInt32LE(r.frame.length, 12);
    parts.push(header, r.frame.subarray(0, caplen));
  });
  return Buffer.concat(parts);
}
