// `npm run bench:inspect`: how fast `packet-headers inspect --json DIR` reads
// flow files that are in the page cache. It writes FILES gzipped flow files
// like the daemon's (Ethernet, headers only, several gzip members, TCP
// timestamps, a download with an ACK every second segment and a
// retransmission every 100 segments), reads them once to warm the cache,
// then times one run of inspect on them in this process (one core) and
// prints what it measured.
//
// Options: --files N (default 100), --packets N per file (default 20000).
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { inspectMain } from '../src/tools/inspect.js';
import { ethernetFrame } from '../test/helpers/frames.js';

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

const TH_SYN = 0x02;
const TH_ACK = 0x10;
const TCP = 14 + 20;
const timestamps = Buffer.from([1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0]);

/** One flow's frames, headers only (the IP length still counts the payload), as a pcap with nanosecond stamps. */
function flowCapture(packets: number, client: string, port: number): { pcap: Buffer; count: number } {
  const data = ethernetFrame({ src: '10.200.0.1', dst: client, sport: 443, dport: port, tcpOptions: timestamps, payload: Buffer.alloc(1448) });
  const ack = ethernetFrame({ src: client, dst: '10.200.0.1', sport: port, dport: 443, tcpOptions: timestamps });
  const synAck = ethernetFrame({ src: '10.200.0.1', dst: client, sport: 443, dport: port, tcpOptions: timestamps });
  const headers = TCP + 32;
  const records: Buffer[] = [];
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b23c4d, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(256, 16);
  header.writeUInt32LE(1, 20);
  records.push(header);
  let t = 0;
  let serverSeq = 7000;
  let sent = 0;
  const push = (template: Buffer, flags: number, seq: number, ackNo: number, caplen: number) => {
    const r = Buffer.alloc(16 + caplen);
    r.writeUInt32LE(1_790_000_000 + Math.floor(t / 1e9), 0);
    r.writeUInt32LE(t % 1e9, 4);
    r.writeUInt32LE(caplen, 8);
    r.writeUInt32LE(template.length, 12);
    template.copy(r, 16, 0, caplen);
    r.writeUInt32BE(seq >>> 0, 16 + TCP + 4);
    r.writeUInt32BE(ackNo >>> 0, 16 + TCP + 8);
    r[16 + TCP + 13] = flags;
    r.writeUInt32BE(1000 + records.length, 16 + TCP + 24); // TSval
    records.push(r);
    t += 10_000;
  };
  push(ack, TH_SYN, 100, 0, TCP + 32);
  push(synAck, TH_SYN | TH_ACK, serverSeq++, 101, TCP + 32);
  push(ack, TH_ACK, 101, serverSeq, TCP + 32);
  while (records.length - 1 < packets) {
    const again = sent > 0 && sent % 100 === 0;
    push(data, TH_ACK, again ? serverSeq - 1448 : serverSeq, 101, headers);
    if (!again) serverSeq += 1448;
    sent++;
    if (sent % 2 === 0) push(ack, TH_ACK, 101, serverSeq, TCP + 32);
  }
  return { pcap: Buffer.concat(records), count: records.length - 1 };
}

const files = option('files', 100);
const packetsPerFile = option('packets', 20000);
const dir = mkdtempSync(join(tmpdir(), 'ph-bench-inspect-'));
try {
  const day = join(dir, '2026/12/02');
  mkdirSync(day, { recursive: true });
  let packets = 0;
  for (let i = 0; i < files; i++) {
    const { pcap, count } = flowCapture(packetsPerFile, `10.201.${(i >> 8) & 255}.${i & 255}`, 10000 + (i % 50000));
    packets += count;
    // Several members, as the daemon writes a long flow in pieces.
    const cut = 24 + Math.floor((pcap.length - 24) / 2);
    writeFileSync(join(day, `flow${i}.pcap.gz`), Buffer.concat([gzipSync(pcap.subarray(0, cut)), gzipSync(pcap.subarray(cut))]));
  }
  const sink = () => new Writable({ write: (_chunk, _encoding, done) => done() });
  await inspectMain(['--json', dir], sink()); // warms the page cache and the JIT
  const started = process.hrtime.bigint();
  const code = await inspectMain(['--json', dir], sink());
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`inspect exited ${code}`);
  process.stdout.write(`inspect --json: ${packets} packets in ${files} files, ${seconds.toFixed(3)} s, ${Math.round(packets / seconds)} packets/s\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
