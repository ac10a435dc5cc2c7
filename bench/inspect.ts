// `npm run bench:inspect`: how fast `packet-headers inspect --json DIR` reads
// flow files that are in the page cache, for two archives: a few LARGE files
// (long flows) and many SMALL ones (short flows, most of a real archive,
// where the cost per file decides). It writes gzipped flow files like the
// daemon's (Ethernet, headers only, two gzip members, TCP timestamps, a
// download with an ACK every second segment and a retransmission every 100
// segments), runs inspect once on each set to warm the page cache and the
// JIT, then times RUNS runs of inspect on each set in this process,
// alternating large and small, and prints packets/s and files/s of every run
// and their median, with the CPU time of the process (user + system: the
// file system calls run on libuv's threads; pin the process with
// `taskset -c 0` to keep it to one core).
//
// Options:
//   --large-files N (default 50)  --large-packets N per file (default 20000)
//   --small-files N (default 5000) --small-packets N per file (default 200)
//   --runs N (default 3)  --only large|small
//   --files N --packets N: one set of that size only (the old form).
//   --keep DIR: write the sets into DIR/large and DIR/small and leave them
//   there (to profile the command itself on them:
//   node --cpu-prof bin/packet-headers.js inspect --json DIR/small >/dev/null).
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

interface FileSet {
  name: string;
  dir: string;
  files: number;
  packets: number;
}

function writeSet(root: string, name: string, files: number, packetsPerFile: number): FileSet {
  const dir = join(root, name);
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
  return { name, dir, files, packets };
}

interface Run {
  seconds: number;
  cpuSeconds: number;
}

const sink = () => new Writable({ write: (_chunk, _encoding, done) => done() });

async function timeRun(set: FileSet): Promise<Run> {
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const code = await inspectMain(['--json', set.dir], sink());
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  if (code !== 0) throw new Error(`inspect exited ${code} on the ${set.name} files`);
  return { seconds, cpuSeconds: (used.user + used.system) / 1e6 };
}

const median = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const millions = (n: number) => `${(n / 1e6).toFixed(3)} M`;

function line(set: FileSet, run: Run, label: string): string {
  return (
    `inspect --json ${set.name.padEnd(5)} ${label.padEnd(6)}: ${set.packets} packets in ${set.files} files (${Math.round(set.packets / set.files)} a file), ` +
    `${run.seconds.toFixed(3)} s, ${millions(set.packets / run.seconds)}packets/s, ${Math.round(set.files / run.seconds)} files/s, ` +
    `CPU ${run.cpuSeconds.toFixed(3)} s (${millions(set.packets / run.cpuSeconds)}packets per CPU second)\n`
  );
}

const runs = option('runs', 3);
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : null;
const keep = process.argv.includes('--keep') ? process.argv[process.argv.indexOf('--keep') + 1] : null;
const root = keep ?? mkdtempSync(join(tmpdir(), 'ph-bench-inspect-'));
try {
  const sets: FileSet[] = [];
  if (process.argv.includes('--files') || process.argv.includes('--packets')) {
    sets.push(writeSet(root, 'given', option('files', 100), option('packets', 20000)));
  } else {
    if (only !== 'small') sets.push(writeSet(root, 'large', option('large-files', 50), option('large-packets', 20000)));
    if (only !== 'large') sets.push(writeSet(root, 'small', option('small-files', 5000), option('small-packets', 200)));
  }
  for (const set of sets) await timeRun(set); // warms the page cache and the JIT
  const results = new Map<FileSet, Run[]>(sets.map((set) => [set, []]));
  for (let r = 0; r < runs; r++) {
    for (const set of sets) {
      const run = await timeRun(set);
      results.get(set)!.push(run);
      process.stdout.write(line(set, run, `run ${r + 1}`));
    }
  }
  for (const set of sets) {
    const all = results.get(set)!;
    process.stdout.write(line(set, { seconds: median(all.map((x) => x.seconds)), cpuSeconds: median(all.map((x) => x.cpuSeconds)) }, 'median'));
  }
} finally {
  if (keep === null) rmSync(root, { recursive: true, force: true });
}
