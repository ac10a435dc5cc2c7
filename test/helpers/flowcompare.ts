// Compares the daemon's per-flow files with an independent tcpdump capture of
// the same interface, packet for packet. tshark decodes the reference (which
// packet belongs to which connection, where its TCP header ends); the files
// are read as raw records. Each record must be the reference frame cut to the
// file's snaplen with every byte after the TCP header zero.
import { readFileSync } from 'node:fs';
import { parsePcap, parsePcapGz } from './pcapread.js';
import { readPcapWithTshark } from './captures.js';
import type { TestNetwork } from './netns.js';
import { LineCollector } from './processes.js';
import { waitFor } from './wait.js';

export interface ReferenceCapture {
  readonly file: string;
  /** SIGINT, then tcpdump's closing lines; throws unless it dropped nothing. */
  stop(): Promise<string>;
}

/**
 * tcpdump of `iface`'s TCP packets, with headers enough for any frame of the
 * tests (256 bytes) and a 32 MiB buffer: with whole frames (-s 0) its ring
 * holds few packets in immediate mode and a burst of short connections
 * overflows it, and a reference that lost packets proves nothing.
 */
export async function startReferenceCapture(net: TestNetwork, ns: string, iface: string, file: string): Promise<ReferenceCapture> {
  const child = net.spawn(ns, ['tcpdump', '-i', iface, '-w', file, '-s', '256', '-B', '32768', '-U', '--immediate-mode', '-nn', '-Z', 'root', 'tcp']);
  child.stdout?.resume();
  const err = new LineCollector(child.stderr);
  await waitFor(() => err.text().includes('listening on') || child.exitCode !== null, 10_000, `tcpdump on ${iface}`);
  if (child.exitCode !== null) throw new Error(`tcpdump exited: ${err.text()}`);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    file,
    stop: async () => {
      child.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      const text = err.text();
      if (!/\b0 packets dropped by kernel/.test(text)) throw new Error(`tcpdump lost packets: ${text}`);
      return text;
    },
  };
}

export interface FlowComparison {
  /** Connections in the reference (by family and the two ports). */
  connections: number;
  files: number;
  packets: number;
  /** Connections whose packets are in more than one file. */
  split: string[];
  /** Connections of the reference in no file. */
  missing: string[];
  /** Files holding more than one connection. */
  mixed: string[];
  /** Connections whose packets differ from the reference (first difference). */
  differing: string[];
  /** The file of each connection, by connection key. */
  fileOf: Map<string, string>;
}

/**
 * Files ordered by their first packet's time: the files of one connection (its
 * first, then its continuations, src/demux/connections.ts) in the order their
 * packets were captured, as compareWithTcpdump wants them.
 */
export function inCaptureOrder(files: readonly string[]): string[] {
  const first = (file: string) => {
    const r = parsePcapGz(readFileSync(file)).records[0];
    return r === undefined ? Infinity : r.seconds * 1e6 + r.nanoseconds / 1e3;
  };
  const times = new Map(files.map((f) => [f, first(f)]));
  return [...files].sort((a, b) => times.get(a)! - times.get(b)!);
}

/** "4|8090|40000": family and the two ports, lower first (the test's addresses are fixed). */
function keyOf(family: 4 | 6, portA: number, portB: number): string {
  return `${family}|${Math.min(portA, portB)}|${Math.max(portA, portB)}`;
}

interface Decoded {
  key: string;
  /** Source port: tells the direction. */
  sport: number;
}

/** Ethernet + IPv4/IPv6 (no extension headers) + TCP, as the test sends it. */
function decodeRecord(data: Buffer): Decoded | null {
  if (data.length < 14) return null;
  const type = data.readUInt16BE(12);
  let tcp: number;
  let family: 4 | 6;
  if (type === 0x0800) {
    if (data[23] !== 6) return null;
    tcp = 14 + (data[14] & 15) * 4;
    family = 4;
  } else if (type === 0x86dd) {
    if (data[20] !== 6) return null;
    tcp = 54;
    family = 6;
  } else {
    return null;
  }
  if (data.length < tcp + 4) return null;
  const sport = data.readUInt16BE(tcp);
  return { key: keyOf(family, sport, data.readUInt16BE(tcp + 2)), sport };
}

interface Reference {
  frame: Buffer;
  origlen: number;
  headerEnd: number;
  sport: number;
}

/**
 * `tcpdumpFile`: tcpdump -w of the interface; `files`: the daemon's .pcap.gz
 * files. `only` selects the reference's connections that count (others, e.g.
 * the metrics scrape on another interface, are ignored).
 */
export async function compareWithTcpdump(tcpdumpFile: string, files: readonly string[], only: (key: string) => boolean): Promise<FlowComparison> {
  const rows = await readPcapWithTshark(tcpdumpFile, ['frame.number', 'ip.len', 'ipv6.plen', 'tcp.len', 'tcp.srcport', 'tcp.dstport']);
  const frames = parsePcap(readFileSync(tcpdumpFile)).records;
  const reference = new Map<string, Reference[]>();
  for (const [number, ipLen, ipv6Plen, tcpLen, sport, dport] of rows) {
    if (sport === '' || tcpLen === '') continue;
    const family = ipLen !== '' ? 4 : 6;
    const key = keyOf(family, Number(sport), Number(dport));
    if (!only(key)) continue;
    const headerEnd = family === 4 ? 14 + Number(ipLen) - Number(tcpLen) : 14 + 40 + Number(ipv6Plen) - Number(tcpLen);
    const record = frames[Number(number) - 1];
    const list = reference.get(key) ?? [];
    list.push({ frame: record.data, origlen: record.origlen, headerEnd, sport: Number(sport) });
    reference.set(key, list);
  }

  const result: FlowComparison = {
    connections: reference.size,
    files: files.length,
    packets: 0,
    split: [],
    missing: [],
    mixed: [],
    differing: [],
    fileOf: new Map(),
  };
  const got = new Map<string, Array<{ data: Buffer; caplen: number; origlen: number; sport: number; snaplen: number }>>();
  for (const file of files) {
    const pcap = parsePcapGz(readFileSync(file));
    const keys = new Set<string>();
    for (const r of pcap.records) {
      const d = decodeRecord(r.data);
      if (d === null) continue;
      keys.add(d.key);
      const list = got.get(d.key) ?? [];
      list.push({ data: r.data, caplen: r.caplen, origlen: r.origlen, sport: d.sport, snaplen: pcap.snaplen });
      got.set(d.key, list);
      result.packets++;
    }
    if (keys.size !== 1) result.mixed.push(`${file}: ${[...keys].join(', ')}`);
    for (const key of keys) {
      const earlier = result.fileOf.get(key);
      if (earlier !== undefined) result.split.push(`${key}: ${earlier} and ${file}`);
      else result.fileOf.set(key, file);
    }
  }
  for (const [key, expected] of reference) {
    const mine = got.get(key);
    if (mine === undefined) {
      result.missing.push(key);
      continue;
    }
    const problem = differs(expected, mine);
    if (problem !== null) result.differing.push(`${key}: ${problem}`);
  }
  return result;
}

/** Compares one connection direction by direction, in order (two packet sockets may interleave the directions differently). */
function differs(expected: Reference[], got: Array<{ data: Buffer; caplen: number; origlen: number; sport: number; snaplen: number }>): string | null {
  if (expected.length !== got.length) return `${got.length} packets in the file, ${expected.length} in tcpdump's capture`;
  for (const sport of new Set(expected.map((e) => e.sport))) {
    const want = expected.filter((e) => e.sport === sport);
    const have = got.filter((g) => g.sport === sport);
    if (want.length !== have.length) return `from port ${sport}: ${have.length} packets in the file, ${want.length} in tcpdump's`;
    for (let i = 0; i < want.length; i++) {
      const w = want[i];
      const h = have[i];
      const caplen = Math.min(w.origlen, h.snaplen);
      if (h.origlen !== w.origlen || h.caplen !== caplen) return `packet ${i} from port ${sport}: length ${h.caplen}/${h.origlen}, expected ${caplen}/${w.origlen}`;
      const expectedBytes = Buffer.alloc(caplen);
      w.frame.copy(expectedBytes, 0, 0, Math.min(w.headerEnd, caplen));
      if (!expectedBytes.equals(h.data)) return `packet ${i} from port ${sport}: header bytes differ`;
    }
  }
  return null;
}
