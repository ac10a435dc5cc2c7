// Seeded generator of synthetic TCP captures for the benchmark: an Ethernet
// pcap file (microsecond timestamps, whole frames, payload bytes zero) and a
// tcp-info events JSONL file naming every flow.
//
// Every flow has the server (one IPv4 or one IPv6 address) as one endpoint
// and a distinct client as the other. A flow is a handshake (SYN with MSS,
// SACK-permitted, timestamps and window scale; SYN-ACK; ACK), then data and
// ACKs, then a FIN; every segment after the SYNs carries the timestamp option.
// Packet kinds are drawn so that about 45 % of the packets are pure ACKs from
// the client, 40 % full-size segments from the server and the rest mid-size
// segments either way. Flows interleave as a set of concurrently active flows
// from which each next packet is drawn at random; a finished flow's place
// goes to the next flow. Packet times advance evenly over the capture span.
import { closeSync, openSync, writeSync } from 'node:fs';
import { isIP } from 'node:net';

export interface GenOptions {
  /** Whole frames (for replay on a wire); optional. */
  pcapPath?: string;
  /** The same packets cut to `snaplen` bytes, as a capture with that snaplen records them; optional. */
  snapPcapPath?: string;
  /** Default 256, the daemon's default -maxheadersize. */
  snaplen?: number;
  eventsPath: string;
  /** Total packets (exact). */
  packets: number;
  flows: number;
  /** Fraction of flows over IPv6. */
  v6Fraction: number;
  seed: number;
  serverV4: string;
  serverV6: string;
  /** Destination MAC of every frame (a unicast address no interface has: the receiving kernel drops the frames unprocessed). */
  dstMac?: string;
  srcMac?: string;
  /** Capture start, Unix seconds, and how long the capture lasts. */
  startSeconds?: number;
  spanSeconds?: number;
  /** Flows active at once (default min(flows, 512)); flows = all concurrent. */
  concurrency?: number;
  /** Flow sizes: 'heavy' (heavy-tailed around the mean) or 'equal'. */
  sizes?: 'heavy' | 'equal';
  /** UUID prefix of the flows. */
  uuidPrefix?: string;
}

export interface GenResult {
  packets: number;
  flows: number;
  v6Flows: number;
  /** Size of the whole-frame file, and of the cut file. */
  bytes: number;
  snapBytes: number;
  wireBytes: number;
  pureAcks: number;
  fullSize: number;
  midSize: number;
  control: number;
  firstSeconds: number;
  lastSeconds: number;
}

/** mulberry32: small, fast, good enough for traffic shapes. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ETH = 14;
const IP4 = 20;
const IP6 = 40;
const TCP_TS = 32; // 20 + NOP NOP TS(10)
const TCP_SYN = 40; // 20 + MSS(4) SACKOK(2) TS(10) NOP(1) WS(3)
const MTU = 1500;
const FIN = 0x01;
const SYN = 0x02;
const ACK = 0x10;
const PSH = 0x08;

const WRITE_CHUNK = 16 * 1024 * 1024;
const MAX_FRAME = 16 + ETH + MTU;

/** A pcap file written in big blocks. */
class PcapWriter {
  private readonly fd: number;
  private readonly out = Buffer.alloc(WRITE_CHUNK);
  private used = 0;
  bytes = 0;
  constructor(
    path: string,
    private readonly snaplen: number,
  ) {
    this.fd = openSync(path, 'w');
    // Global header: microsecond timestamps, Ethernet.
    this.out.writeUInt32LE(0xa1b2c3d4, 0);
    this.out.writeUInt16LE(2, 4);
    this.out.writeUInt16LE(4, 6);
    this.out.writeUInt32LE(snaplen, 16);
    this.out.writeUInt32LE(1, 20);
    this.used = 24;
  }
  /** Appends the record in frame[0, 16 + len): record header, then the frame. */
  add(record: Buffer, len: number): void {
    const caplen = len < this.snaplen ? len : this.snaplen;
    if (this.used + 16 + caplen > this.out.length) this.flush();
    record.copy(this.out, this.used, 0, 16 + caplen);
    this.out.writeUInt32LE(caplen, this.used + 8);
    this.used += 16 + caplen;
  }
  flush(): void {
    writeSync(this.fd, this.out, 0, this.used);
    this.bytes += this.used;
    this.used = 0;
  }
  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

function macBytes(text: string): Buffer {
  const b = Buffer.from(text.split(':').map((h) => parseInt(h, 16)));
  if (b.length !== 6) throw new Error(`bad MAC ${text}`);
  return b;
}

function v4Bytes(text: string): Buffer {
  if (isIP(text) !== 4) throw new Error(`bad IPv4 ${text}`);
  return Buffer.from(text.split('.').map(Number));
}

function v6Bytes(text: string): Buffer {
  if (isIP(text) !== 6) throw new Error(`bad IPv6 ${text}`);
  const halves = text.split('::');
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const head = parse(halves[0]);
  const tail = halves.length > 1 ? parse(halves[1]) : [];
  const groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(g, 2 * i));
  return b;
}

function v6Text(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return groups.join(':');
}

interface Flow {
  v6: boolean;
  client: Buffer;
  clientText: string;
  clientPort: number;
  serverPort: number;
  total: number;
  sent: number;
  clientSeq: number;
  serverSeq: number;
  clientTs: number;
  serverTs: number;
  uuid: string;
}

/** Splits `total` packets over `flows` flows, each at least `min`. */
function flowSizes(total: number, flows: number, min: number, kind: 'heavy' | 'equal', random: () => number): Int32Array {
  const sizes = new Int32Array(flows);
  if (kind === 'equal' || total <= flows * min) {
    const base = Math.floor(total / flows);
    for (let i = 0; i < flows; i++) sizes[i] = base + (i < total - base * flows ? 1 : 0);
    return sizes;
  }
  // Pareto weights (alpha 1.5), capped so no flow dwarfs the rest.
  const weights = new Float64Array(flows);
  let sum = 0;
  for (let i = 0; i < flows; i++) {
    const w = Math.min(50, Math.pow(1 - random(), -1 / 1.5));
    weights[i] = w;
    sum += w;
  }
  const spare = total - flows * min;
  let assigned = 0;
  for (let i = 0; i < flows; i++) {
    sizes[i] = min + Math.floor((spare * weights[i]) / sum);
    assigned += sizes[i];
  }
  for (let i = 0; assigned < total; i = (i + 1) % flows) {
    sizes[i]++;
    assigned++;
  }
  return sizes;
}

export function generate(o: GenOptions): GenResult {
  const random = rng(o.seed);
  const dstMac = macBytes(o.dstMac ?? '02:00:5e:10:00:01');
  const srcMac = macBytes(o.srcMac ?? '02:00:5e:10:00:02');
  const server4 = v4Bytes(o.serverV4);
  const server6 = v6Bytes(o.serverV6);
  const startSeconds = o.startSeconds ?? 1_700_000_000;
  const spanSeconds = o.spanSeconds ?? 10;
  const concurrency = Math.min(o.flows, o.concurrency ?? 512);
  const prefix = o.uuidPrefix ?? 'bench';
  const sizes = flowSizes(o.packets, o.flows, 5, o.sizes ?? 'heavy', random);
  const stepNs = (spanSeconds * 1e9) / Math.max(1, o.packets);

  const makeFlow = (i: number): Flow => {
    const v6 = random() < o.v6Fraction;
    let client: Buffer;
    let clientText: string;
    // Distinct clients: an odd multiplier makes i -> address a bijection.
    const spread = Math.imul(i + 1, 0x9e3779b1) >>> 0;
    if (v6) {
      client = Buffer.alloc(16);
      client.writeUInt32BE(0x20010db8, 0);
      client.writeUInt32BE(spread, 4);
      client.writeUInt32BE(i, 8);
      client.writeUInt32BE((random() * 0xffffffff) >>> 0, 12);
      clientText = v6Text(client);
    } else {
      const word = (0x64400000 | (Math.imul(i, 7919) & 0x3fffff)) >>> 0; // 100.64.0.0/10
      client = Buffer.alloc(4);
      client.writeUInt32BE(word, 0);
      clientText = [...client].join('.');
    }
    return {
      v6,
      client,
      clientText,
      clientPort: 1024 + Math.floor(random() * 64000),
      serverPort: random() < 0.5 ? 443 : 3010,
      total: sizes[i],
      sent: 0,
      clientSeq: (random() * 0xffffffff) >>> 0,
      serverSeq: (random() * 0xffffffff) >>> 0,
      clientTs: (random() * 0xffffffff) >>> 0,
      serverTs: (random() * 0xffffffff) >>> 0,
      uuid: `${prefix}_${String(i).padStart(8, '0')}`,
    };
  };

  const result: GenResult = {
    packets: 0,
    flows: o.flows,
    v6Flows: 0,
    bytes: 0,
    snapBytes: 0,
    wireBytes: 0,
    pureAcks: 0,
    fullSize: 0,
    midSize: 0,
    control: 0,
    firstSeconds: startSeconds,
    lastSeconds: startSeconds,
  };

  const writers: PcapWriter[] = [];
  if (o.pcapPath !== undefined) writers.push(new PcapWriter(o.pcapPath, 65535));
  const snapWriter = o.snapPcapPath !== undefined ? new PcapWriter(o.snapPcapPath, o.snaplen ?? 256) : null;
  if (snapWriter !== null) writers.push(snapWriter);
  const full = o.pcapPath !== undefined ? writers[0] : null;
  const eventsFd = openSync(o.eventsPath, 'w');
  // One record at a time; its payload bytes stay zero.
  const out = Buffer.alloc(MAX_FRAME);
  let events: string[] = [];
  const flushEvents = () => {
    if (events.length === 0) return;
    writeSync(eventsFd, events.join(''));
    events = [];
  };

  const active: Flow[] = [];
  let nextFlow = 0;
  let ipId = 1;
  const admit = (): Flow | null => {
    if (nextFlow >= o.flows) return null;
    const flow = makeFlow(nextFlow++);
    if (flow.v6) result.v6Flows++;
    return flow;
  };
  for (let i = 0; i < concurrency; i++) {
    const f = admit();
    if (f !== null) active.push(f);
  }

  for (let n = 0; n < o.packets && active.length > 0; n++) {
    const slot = Math.floor(random() * active.length);
    const flow = active[slot];
    const k = flow.sent;
    const tNs = n * stepNs + random() * stepNs * 0.5;
    const sec = startSeconds + Math.floor(tNs / 1e9);
    const usec = Math.floor((tNs % 1e9) / 1000);
    if (k === 0) {
      const ts = new Date(sec * 1000 + usec / 1000).toISOString();
      events.push(
        `${JSON.stringify({ Event: 0, Timestamp: ts, UUID: flow.uuid, ID: { SPort: flow.serverPort, DPort: flow.clientPort, SrcIP: flow.v6 ? o.serverV6 : o.serverV4, DstIP: flow.clientText, Interface: 0, Cookie: nextFlow } })}\n`,
      );
      if (events.length >= 4096) flushEvents();
    }

    // What this packet is.
    let fromServer: boolean;
    let flags: number;
    let payload: number;
    let tcpLen = TCP_TS;
    const ipLen = flow.v6 ? IP6 : IP4;
    const mss = MTU - ipLen - TCP_TS;
    if (k === 0) {
      fromServer = false;
      flags = SYN;
      payload = 0;
      tcpLen = TCP_SYN;
      result.control++;
    } else if (k === 1) {
      fromServer = true;
      flags = SYN | ACK;
      payload = 0;
      tcpLen = TCP_SYN;
      result.control++;
    } else if (k === 2) {
      fromServer = false;
      flags = ACK;
      payload = 0;
      result.control++;
    } else if (k === flow.total - 1) {
      fromServer = random() < 0.5;
      flags = FIN | ACK;
      payload = 0;
      result.control++;
    } else {
      const r = random();
      if (r < 0.455) {
        fromServer = false;
        flags = ACK;
        payload = 0;
        result.pureAcks++;
      } else if (r < 0.86) {
        fromServer = true;
        flags = ACK;
        payload = mss;
        result.fullSize++;
      } else {
        fromServer = random() < 0.7;
        flags = ACK | PSH;
        payload = 100 + Math.floor(random() * 900);
        result.midSize++;
      }
    }

    const frameLen = ETH + ipLen + tcpLen + payload;
    out.fill(0, 0, 16 + ETH + IP6 + TCP_SYN);
    let p = 0;
    out.writeUInt32LE(sec, p);
    out.writeUInt32LE(usec, p + 4);
    out.writeUInt32LE(frameLen, p + 8);
    out.writeUInt32LE(frameLen, p + 12);
    p += 16;
    dstMac.copy(out, p);
    srcMac.copy(out, p + 6);
    out.writeUInt16BE(flow.v6 ? 0x86dd : 0x0800, p + 12);
    p += ETH;
    const serverAddr = flow.v6 ? server6 : server4;
    const src = fromServer ? serverAddr : flow.client;
    const dst = fromServer ? flow.client : serverAddr;
    if (flow.v6) {
      out.writeUInt32BE(0x60000000, p);
      out.writeUInt16BE(tcpLen + payload, p + 4);
      out[p + 6] = 6;
      out[p + 7] = 64;
      src.copy(out, p + 8);
      dst.copy(out, p + 24);
    } else {
      out[p] = 0x45;
      out.writeUInt16BE(IP4 + tcpLen + payload, p + 2);
      out.writeUInt16BE(ipId, p + 4);
      ipId = (ipId + 1) & 0xffff;
      out.writeUInt16BE(0x4000, p + 6);
      out[p + 8] = 64;
      out[p + 9] = 6;
      src.copy(out, p + 12);
      dst.copy(out, p + 16);
      let sum = 0;
      for (let i = 0; i < 20; i += 2) sum += out.readUInt16BE(p + i);
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      out.writeUInt16BE(~sum & 0xffff, p + 10);
    }
    p += ipLen;
    out.writeUInt16BE(fromServer ? flow.serverPort : flow.clientPort, p);
    out.writeUInt16BE(fromServer ? flow.clientPort : flow.serverPort, p + 2);
    const seq = fromServer ? flow.serverSeq : flow.clientSeq;
    const ack = fromServer ? flow.clientSeq : flow.serverSeq;
    out.writeUInt32BE(seq >>> 0, p + 4);
    out.writeUInt32BE(k === 0 ? 0 : ack >>> 0, p + 8);
    out[p + 12] = (tcpLen / 4) << 4;
    out[p + 13] = flags;
    out.writeUInt16BE(k < 2 ? 65535 : 2048, p + 14);
    // Options.
    let q = p + 20;
    if (tcpLen === TCP_SYN) {
      out[q] = 2; // MSS
      out[q + 1] = 4;
      out.writeUInt16BE(mss + 12, q + 2);
      out[q + 4] = 4; // SACK permitted
      out[q + 5] = 2;
      q += 6;
    } else {
      out[q] = 1;
      out[q + 1] = 1;
      q += 2;
    }
    out[q] = 8; // timestamps
    out[q + 1] = 10;
    out.writeUInt32BE((fromServer ? flow.serverTs : flow.clientTs) >>> 0, q + 2);
    out.writeUInt32BE(k === 0 ? 0 : (fromServer ? flow.clientTs : flow.serverTs) >>> 0, q + 6);
    if (tcpLen === TCP_SYN) {
      out[q + 10] = 1;
      out[q + 11] = 3; // window scale 7
      out[q + 12] = 3;
      out[q + 13] = 7;
    }
    for (const w of writers) w.add(out, frameLen);

    // Sequence space and clocks move on.
    const advance = payload + (flags & (SYN | FIN) ? 1 : 0);
    if (fromServer) {
      flow.serverSeq = (flow.serverSeq + advance) >>> 0;
      flow.serverTs = (flow.serverTs + 1) >>> 0;
    } else {
      flow.clientSeq = (flow.clientSeq + advance) >>> 0;
      flow.clientTs = (flow.clientTs + 1) >>> 0;
    }
    result.packets++;
    result.wireBytes += frameLen;
    result.lastSeconds = sec;

    flow.sent++;
    if (flow.sent >= flow.total) {
      const next = admit();
      if (next !== null) active[slot] = next;
      else {
        active[slot] = active[active.length - 1];
        active.pop();
      }
    }
  }
  for (const w of writers) w.close();
  result.bytes = full?.bytes ?? 0;
  result.snapBytes = snapWriter?.bytes ?? 0;
  flushEvents();
  closeSync(eventsFd);
  return result;
}
