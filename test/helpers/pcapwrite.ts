// Writes synthetic captures for offline tests: TCP flows (SYN, data both
// ways, FIN) of Ethernet/IPv4 frames, their packets in timestamp order, as a
// classic pcap file. Large flows are cheap to make: each frame is a copy of
// its direction's template with the sequence number patched.
import { writeFileSync } from 'node:fs';
import { ethernetFrame } from './frames.js';

export interface SyntheticFlow {
  client: string;
  server: string;
  clientPort: number;
  serverPort: number;
  /** Time of the first packet: whole seconds since the epoch, and nanoseconds. */
  startSeconds: number;
  startNanoseconds?: number;
  /** Packets in all, SYN and FIN included (at least 2). */
  packets: number;
  /** Nanoseconds between two packets of the flow. */
  spacingNs: number;
  /** Payload bytes of the data packets (default 200). */
  payloadBytes?: number;
}

const TCP_SYN = 0x02;
const TCP_ACK = 0x10;
const TCP_FIN_ACK = 0x11;
const SEQ_OFFSET = 14 + 20 + 4;
const FLAGS_OFFSET = 14 + 20 + 13;

interface Packet {
  flow: number;
  index: number;
  /** Nanoseconds after the earliest flow's start second. */
  at: number;
}

/**
 * Writes the flows as one microsecond or nanosecond pcap (link type 1), the
 * packets of all flows sorted by time (ties: lower flow index first).
 * Returns the number of packets written.
 */
export function writeCapture(path: string, flows: readonly SyntheticFlow[], format: { nanoseconds?: boolean } = {}): number {
  const base = Math.min(...flows.map((f) => f.startSeconds));
  const templates = flows.map((f) => {
    const payload = Buffer.alloc(f.payloadBytes ?? 200, 0x61);
    return {
      out: ethernetFrame({ src: f.client, dst: f.server, sport: f.clientPort, dport: f.serverPort, payload }),
      back: ethernetFrame({ src: f.server, dst: f.client, sport: f.serverPort, dport: f.clientPort, payload }),
    };
  });
  const packets: Packet[] = [];
  flows.forEach((f, flow) => {
    const start = (f.startSeconds - base) * 1e9 + (f.startNanoseconds ?? 0);
    for (let index = 0; index < f.packets; index++) packets.push({ flow, index, at: start + index * f.spacingNs });
  });
  packets.sort((a, b) => a.at - b.at || a.flow - b.flow || a.index - b.index);

  let bytes = 24;
  for (const p of packets) bytes += 16 + templates[p.flow].out.length;
  const out = Buffer.alloc(bytes);
  const nanos = format.nanoseconds === true;
  out.writeUInt32LE(nanos ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  out.writeUInt16LE(2, 4);
  out.writeUInt16LE(4, 6);
  out.writeUInt32LE(65535, 16);
  out.writeUInt32LE(1, 20);
  let at = 24;
  for (const p of packets) {
    const f = flows[p.flow];
    const toServer = p.index % 2 === 0;
    const frame = toServer ? templates[p.flow].out : templates[p.flow].back;
    const seconds = base + Math.floor(p.at / 1e9);
    const ns = p.at % 1e9;
    out.writeUInt32LE(seconds, at);
    out.writeUInt32LE(nanos ? ns : Math.floor(ns / 1000), at + 4);
    out.writeUInt32LE(frame.length, at + 8);
    out.writeUInt32LE(frame.length, at + 12);
    frame.copy(out, at + 16);
    const flags = p.index === 0 ? TCP_SYN : p.index === f.packets - 1 ? TCP_FIN_ACK : TCP_ACK;
    out[at + 16 + FLAGS_OFFSET] = flags;
    out.writeUInt32BE((1000 + p.index * 200) >>> 0, at + 16 + SEQ_OFFSET);
    at += 16 + frame.length;
  }
  writeFileSync(path, out);
  return packets.length;
}

export interface PcapRecord {
  seconds: number;
  nanoseconds: number;
  frame: Buffer;
}

/** Writes records as they are (in the given order) as a nanosecond pcap of the given link type. */
export function writePcapRecords(path: string, records: readonly PcapRecord[], linkType = 1): void {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b23c4d, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(linkType, 20);
  const parts: Buffer[] = [header];
  for (const r of records) {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(r.seconds, 0);
    h.writeUInt32LE(r.nanoseconds, 4);
    h.writeUInt32LE(r.frame.length, 8);
    h.writeUInt32LE(r.frame.length, 12);
    parts.push(h, r.frame);
  }
  writeFileSync(path, Buffer.concat(parts));
}
