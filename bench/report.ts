// The benchmark's report: the table it prints, its targets, and
// docs/performance.md made from them. Every figure here is one this run
// measured; nothing is carried over from earlier runs.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fmt, mib, repo } from './common.js';
import type { GenResult } from './gen.js';
import type { DaemonRun, LiveResult, Replay, TcpdumpRun } from './live.js';
import type { MemoryResult } from './memory.js';
import type { OfflineResult } from './offline.js';
import type { BenchConfig, Sender } from './options.js';

export interface Results {
  date: string;
  command: string;
  machine: { cpus: number; model: string; memoryGiB: number; kernel: string; node: string; datadirFs: string };
  config: BenchConfig;
  generated: GenResult & { seconds: number };
  /** Skipped when --phases left it out. */
  offline: OfflineResult | { skipped: string };
  live: LiveResult | { skipped: string };
  memory: MemoryResult[];
  targets: Array<{ target: string; value: string; met: boolean | null }>;
}

function table(rows: Array<[string, string]>): string {
  const w = Math.max(...rows.filter((r) => r[1] !== '').map((r) => r[0].length));
  return rows.map(([k, v]) => (v === '' ? `\n${k}` : `  ${k.padEnd(w)}  ${v}`)).join('\n');
}

const rateName = (s: Replay) => (s.rate === 'top' ? 'top speed' : `${fmt(s.rate)} pps`);
const percent = (part: number, whole: number) => fmt((100 * part) / Math.max(1, whole), 2);

/** "main 0.21, ph-capture 0.05, …": each thread kind's CPU µs per packet. */
function threadSplit(d: DaemonRun): string {
  const order = ['main', 'ph-capture', 'ph-store', 'v8', 'libuv', 'other', 'finishing'];
  return order.filter((k) => (d.threadUsPerPacket[k] ?? 0) > 0).map((k) => `${k} ${fmt(d.threadUsPerPacket[k], 3)}`).join(', ');
}

function liveRows(rows: Array<[string, string]>, title: string, daemon: DaemonRun, tcpdump: TcpdumpRun | null): void {
  const s = daemon.sender;
  rows.push([title, '']);
  rows.push(['sent', `${fmt(s.packets)} in ${fmt(s.seconds, 2)} s = ${fmt(s.pps)} pps by ${senderName(s)}${s.senderLimited ? ' (the sender\'s pace)' : ''}${s.failed ? `, ${fmt(s.failed)} failed` : ''}${s.delivered === undefined ? '' : `; ${fmt(s.delivered)} reached the capture's interface`}`]);
  rows.push(['daemon: packets in files', `${fmt(daemon.packetsInFiles)} (${percent(daemon.packetsInFiles, s.packets)} %) in ${fmt(daemon.files)} files`]);
  rows.push(['daemon: kernel drops / missed / bad', `${fmt(daemon.kernelDropped)} / ${fmt(daemon.missedPackets)} / ${fmt(daemon.badPackets)} (kernel counted ${fmt(daemon.kernelReceived)} received)`]);
  rows.push(['daemon: CPU µs/packet', `${fmt(daemon.cpuUsPerPacket, 3)} (${threadSplit(daemon)}), ${fmt(daemon.cpuPercentOfCore, 1)} % of a core`]);
  const perThread = (counts: Record<string, number>) => {
    const split = Object.entries(counts).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${fmt(n, 2)}`).join(', ');
    return split === '' ? 'none' : `${split} (while the packets came)`;
  };
  if (daemon.threadFaultsPer1000Packets !== undefined) rows.push(['daemon: page faults per 1,000 packets', perThread(daemon.threadFaultsPer1000Packets)]);
  if (daemon.threadWakeupsPer1000Packets !== undefined) rows.push(['daemon: wake-ups per 1,000 packets', perThread(daemon.threadWakeupsPer1000Packets)]);
  rows.push(['daemon: idle CPU before it', `${fmt(daemon.idleCpuMsPerSecond, 2)} ms a second, every flow announced (${fmt(daemon.idleCpuMsPerSecond * 1000 / Math.max(1, s.pps), 3)} µs per packet at this rate)`]);
  rows.push(['daemon: peak RSS', `${fmt(mib(daemon.peakRssBytes), 1)} MiB`]);
  // Results from before the field was recorded have no per-file figure.
  if (daemon.cpuSystemUsPerFile !== undefined) rows.push(['daemon: system CPU per file', `${fmt(daemon.cpuSystemUsPerFile)} µs (the whole run's system time over ${fmt(daemon.files)} files)`]);
  if (tcpdump !== null) {
    const t = tcpdump;
    rows.push(['tcpdump: sent', `${fmt(t.sender.packets)} at ${fmt(t.sender.pps)} pps by ${senderName(t.sender)}`]);
    rows.push(['tcpdump: captured / kernel drops', `${fmt(t.captured)} / ${fmt(t.kernelDropped)}`]);
    rows.push(['tcpdump: CPU µs/packet', `${fmt(t.cpuUsPerPacket, 3)}, ${fmt(t.cpuPercentOfCore, 1)} % of a core`]);
    rows.push(['daemon / tcpdump CPU per packet', `${fmt(daemon.cpuUsPerPacket / t.cpuUsPerPacket, 1)} ×`]);
  }
}

/** What sent a run's packets: results from before the choice were sent by tcpreplay. */
const senderName = (s: Replay) => s.tool ?? 'tcpreplay';

/** How the sender went about it, for the titles. */
function senderHow(s: Replay): string {
  return senderName(s) === 'pcapsend' ? "pcapsend (the bench's TX_RING sender, bench/pcapsend.c)" : 'tcpreplay';
}

/** Where the capture ran, and the kernel's receive path with it when RPS moved that there. */
function captureCore(l: LiveResult): string {
  return l.receiveCore === 'capture' ? "capture and the kernel's receive path (RPS) on core 1" : 'capture on core 1';
}

export function report(r: Results): string {
  const rows: Array<[string, string]> = [];
  offlineRows(rows, r.offline);
  liveSection(rows, r.live);
  rows.push(['Memory (concurrent short flows, 5 packets each, offline)', '']);
  if (r.memory.length === 0) rows.push(['skipped', 'not run (--phases)']);
  for (const m of r.memory) {
    rows.push([`${fmt(m.flows)} flows`, `peak RSS ${fmt(mib(m.peakRssBytes), 1)} MiB, ${fmt(m.bytesPerFlow)} B/flow over the ${fmt(mib(m.baselineRssBytes), 1)} MiB baseline, ${fmt(m.files)} files`]);
  }
  rows.push(['Targets', '']);
  for (const t of r.targets) rows.push([t.target, `${t.value}  ${t.met === null ? 'n/a' : t.met ? 'MET' : 'MISSED'}`]);
  return table(rows).replace(/^\n/, '');
}

function offlineRows(rows: Array<[string, string]>, o: Results['offline']): void {
  if ('skipped' in o) {
    rows.push(['Pipeline ceiling (offline -read)', '']);
    rows.push(['skipped', o.skipped]);
    return;
  }
  rows.push([`Pipeline ceiling (offline -read, ${fmt(o.packets)} packets, ${fmt(o.flows)} flows, median of ${o.runs}; CPU of all threads on both cores)`, '']);
  rows.push(['wall packets/s', fmt(o.packetsPerSecond)]);
  rows.push(['CPU µs/packet (user+sys, all threads)', `${fmt(o.cpuUsPerPacket, 2)} (user ${fmt(o.cpuUserUsPerPacket, 2)}, sys ${fmt(o.cpuSystemUsPerPacket, 2)})`]);
  rows.push(['wall time', `${fmt(o.wallMs)} ms (runs: ${o.allRuns.map((x) => fmt(x.wallMs)).join(', ')} ms)`]);
  if (o.readMs !== null && o.finalWriteMs !== null && o.readPacketsPerSecond !== null) {
    rows.push(['of which: reading every packet', `${fmt(o.readMs)} ms = ${fmt(o.readPacketsPerSecond)} packets/s (median)`]);
    rows.push(['of which: writing the open flows', `${fmt(o.finalWriteMs)} ms for ${fmt(o.flows)} flows still open at the end of the file`]);
  }
  rows.push(['output on', o.outputFs]);
  if (o.disk !== null) {
    rows.push(['same, output on disk', `${fmt(o.disk.packetsPerSecond)} packets/s, ${fmt(o.disk.cpuUsPerPacket, 2)} µs/packet (sys ${fmt(o.disk.cpuSystemUsPerPacket, 2)}; ${fmt(o.disk.cpuSystemUsPerFile)} µs sys per file), ${o.disk.fs}`]);
  }
  if (o.diskWithUploader != null) {
    const u = o.diskWithUploader;
    rows.push([
      'same, an uploader deleting each file',
      `${fmt(u.packetsPerSecond)} packets/s, ${fmt(u.cpuUsPerPacket, 2)} µs/packet (sys ${fmt(u.cpuSystemUsPerPacket, 2)}; ${fmt(u.cpuSystemUsPerFile)} µs sys per file), ${fmt(u.filesUploaded)} files shipped, ${u.allPacketsSaved ? 'every packet in them' : 'PACKETS MISSING'}`,
    ]);
  }
  rows.push(['peak RSS', `${fmt(mib(o.peakRssBytes), 1)} MiB`]);
  rows.push(['input (snaplen 256)', `${fmt(mib(o.inputBytes), 1)} MiB`]);
  rows.push(['files / bytes written', `${fmt(o.filesWritten)} / ${fmt(mib(o.bytesWritten), 1)} MiB`]);
  rows.push(['packets in files / input', `${fmt(o.packetsInFiles)} / ${fmt(o.packets)} ${o.allPacketsSaved ? '(all)' : '(MISMATCH)'}`]);
  if (o.tsharkSample !== null) rows.push(['tshark sample', `${o.tsharkSample.files} files, ${fmt(o.tsharkSample.packets)} packets, ${o.tsharkSample.agrees ? 'agrees' : 'DISAGREES'}`]);
  if (o.stages !== null) {
    const s = o.stages;
    rows.push(['stages (µs/packet)', `describe (JS) ${fmt(s.decodeUs, 3)}, demux+store ${fmt(s.demuxUs, 3)} (main thread), gzip+write ${fmt(s.gzipUs, 3)} (store threads)`]);
    rows.push(['gzip ratio', `${fmt(mib(s.rawBytes), 1)} → ${fmt(mib(s.gzipBytes), 1)} MiB`]);
  }
}

function liveSection(rows: Array<[string, string]>, live: Results['live']): void {
  if ('skipped' in live) {
    rows.push(['Live capture', '']);
    rows.push(['skipped', live.skipped]);
  } else {
    const l = live;
    // Results from before the field was recorded wrote to the work directory's disk.
    const filesOn = l.outputFs === undefined ? '' : `, files on ${l.outputFs}`;
    for (const { daemon, tcpdump } of l.rates) {
      liveRows(rows, `Live capture at ${rateName(daemon.sender)} (veth, ${senderHow(daemon.sender)} on core 0, ${captureCore(l)}, offloads: ${l.offloads}${filesOn})`, daemon, tcpdump);
    }
    if (l.onDisk != null) {
      liveRows(rows, `Live capture at ${rateName(l.onDisk.daemon.sender)} again, files on ${l.onDisk.fs}`, l.onDisk.daemon, l.rates.find((x) => x.daemon.sender.rate === 100_000)?.tcpdump ?? null);
    }
    if (l.sustained !== null) {
      const s = l.sustained.daemon.sender;
      liveRows(rows, `Sustained live capture (${fmt(s.packets)} packets at top speed from ${senderHow(s)} on core 0, ${captureCore(l)}, frames cut at 256 bytes${filesOn})`, l.sustained.daemon, l.sustained.tcpdump);
    }
  }
}

const lossFree = (d: DaemonRun) => d.allPacketsSaved && d.kernelDropped === 0;

export function targets(r: Omit<Results, 'targets'>): Results['targets'] {
  const t: Results['targets'] = [];
  const o = r.offline;
  if ('skipped' in o) {
    t.push({ target: 'offline targets', value: `skipped (${o.skipped})`, met: null });
  } else {
    t.push({ target: 'pipeline ≥ 813,000 packets/s', value: `${fmt(o.packetsPerSecond)} pps`, met: o.packetsPerSecond >= 813_000 });
    if (o.disk !== null) {
      const d = o.disk;
      t.push({ target: '-read to a journaled ext4 ≥ 813,000 packets/s, every file written', value: `${fmt(d.packetsPerSecond)} pps (${d.fs})`, met: d.packetsPerSecond >= 813_000 && d.allPacketsSaved });
    }
    t.push({ target: 'offline: every packet in the files', value: `${fmt(o.packetsInFiles)}/${fmt(o.packets)}`, met: o.allPacketsSaved });
  }
  if ('skipped' in r.live) {
    t.push({ target: 'live targets', value: `skipped (${r.live.skipped})`, met: null });
  } else {
    const l = r.live;
    for (const { daemon } of l.rates) {
      t.push({
        target: `live at ${rateName(daemon.sender)}: 100 % in files, 0 kernel drops`,
        value: `${percent(daemon.packetsInFiles, daemon.sender.packets)} %, ${fmt(daemon.kernelDropped)} drops at ${fmt(daemon.sender.pps)} pps`,
        met: lossFree(daemon),
      });
    }
    const at100k = l.rates.find((x) => x.daemon.sender.rate === 100_000);
    if (at100k !== undefined) {
      const ratio = at100k.tcpdump === null ? null : at100k.daemon.cpuUsPerPacket / at100k.tcpdump.cpuUsPerPacket;
      t.push({
        target: '≤ 0.5 µs/packet at 100k pps (all threads), ≤ 4× tcpdump',
        value: `${fmt(at100k.daemon.cpuUsPerPacket, 3)} µs${ratio === null ? '' : `, ${fmt(ratio, 1)} × tcpdump`}`,
        met: at100k.daemon.cpuUsPerPacket <= 0.5 && (ratio === null || ratio <= 4),
      });
    }
    if (l.onDisk != null) {
      const d = l.onDisk.daemon;
      const tcpdump = at100k?.tcpdump ?? null;
      const ratio = tcpdump === null ? null : d.cpuUsPerPacket / tcpdump.cpuUsPerPacket;
      t.push({
        target: '100k pps, files on a journaled ext4: ≤ 0.6 µs/packet (all threads, finishing), ≤ 4× tcpdump, every packet in the files',
        value: `${fmt(d.cpuUsPerPacket, 3)} µs${ratio === null ? '' : `, ${fmt(ratio, 1)} × tcpdump`}, ${percent(d.packetsInFiles, d.sender.packets)} % in files`,
        met: d.cpuUsPerPacket <= 0.6 && (ratio === null || ratio <= 4) && lossFree(d),
      });
    }
    const top = l.rates.find((x) => x.daemon.sender.rate === 'top');
    if (top !== undefined) t.push({ target: '≤ 0.6 µs/packet at top speed', value: `${fmt(top.daemon.cpuUsPerPacket, 3)} µs at ${fmt(top.daemon.sender.pps)} pps`, met: top.daemon.cpuUsPerPacket <= 0.6 });
    const clean = l.rates.filter((x) => lossFree(x.daemon)).map((x) => x.daemon.sender);
    if (clean.length > 0) {
      const best = clean.reduce((a, b) => (b.pps > a.pps ? b : a));
      t.push({ target: 'highest loss-free rate (report)', value: `${fmt(best.pps)} pps${best.senderLimited ? `, ${senderName(best)}'s limit` : ''}`, met: null });
    }
    if (l.sustained !== null) {
      const d = l.sustained.daemon;
      t.push({
        target: '10,000,000 packets at ≥ 800k pps, 0 drops, all in files',
        value: `${fmt(d.sender.packets)} at ${fmt(d.sender.pps)} pps from ${senderName(d.sender)}, ${fmt(d.kernelDropped)} drops, ${percent(d.packetsInFiles, d.sender.packets)} % in files`,
        met: d.sender.packets >= 10_000_000 && d.sender.pps >= 800_000 && lossFree(d),
      });
    }
  }
  for (const m of r.memory) {
    if (m.flows === 10_000) t.push({ target: '10,000 flows under 1 GiB RSS', value: `${fmt(mib(m.peakRssBytes), 1)} MiB`, met: m.peakRssBytes < 1024 ** 3 });
  }
  if (r.memory.length > 0) {
    const worst = r.memory.reduce((a, b) => (b.bytesPerFlow > a.bytesPerFlow ? b : a));
    t.push({ target: '≤ 8 KiB per idle flow', value: `at most ${fmt(worst.bytesPerFlow)} B (${fmt(worst.flows)} flows)`, met: worst.bytesPerFlow <= 8 * 1024 });
  }
  return t;
}

export function performanceDoc(r: Results, text: string): string {
  return [
    '# Performance',
    '',
    `Measured with \`npm run bench\` (\`node dist/bench/run.js\`; \`--quick\` for a short run) on ${r.date.slice(0, 10)}:`,
    `${r.machine.cpus} cores (${r.machine.model}), ${r.machine.memoryGiB} GiB, Linux ${r.machine.kernel}, Node ${r.machine.node}; output on ${r.machine.datadirFs}.`,
    'The ceiling writes its output to tmpfs so that it measures the daemon; the same run with the output on',
    'disk is shown beside it, on a journaled ext4 that the benchmark makes on a loop device as a server\'s data',
    'disk is formatted (every file is on disk before its name appears: the store\'s threads pay one syncfs per',
    'batch of files), then again with an uploader deleting each file as it appears. The generated capture (seeded) has 25 % IPv6 flows, about',
    '45 % pure ACKs, 40 % full-size segments and the rest mid-size, with TCP timestamp options; the offline run',
    'reads it cut to 256 bytes per packet (what a capture with the default -maxheadersize holds).',
    ...sendersInWords(r),
    'CPU per packet is over the packets sent, by thread from /proc while the packets come, and',
    '"finishing": the whole process\'s CPU from then to its exit, when SIGTERM ends every flow (their last chunks',
    'compressed, every file written). The live daemons write where the ceiling does, and the 100,000 pps run is made again with its files on the journaled ext4. Packets in files are read',
    'back from the files. This VM\'s speed varies by ±30 % within minutes: compare figures of one run with',
    'each other. Figures are written to `bench/results.json`. `--perf DIR` also records a `perf` profile of',
    'each live daemon while its replay runs (by thread and symbol: `perf report -i FILE --sort pid,dso,sym`).',
    '',
    '```',
    text,
    '```',
    '',
    ...findings(r),
  ].join('\n');
}

const HOW: Record<Sender, string> = {
  tcpreplay: 'tcpreplay (--preload-pcap --no-flow-stats, paced with --pps and --pps-multi 16, or --topspeed)',
  pcapsend:
    "pcapsend, the benchmark's own sender (bench/pcapsend.c: the file read into memory first, every record sent once in order from a packet TX_RING, each frame copied whole into the kernel's buffer; paced in groups of 16)",
};

/** Which sender sent the live runs' packets, as this run's results say. */
function sendersInWords(r: Results): string[] {
  if ('skipped' in r.live) return [];
  const sweep = [...new Set(r.live.rates.map((x) => senderName(x.daemon.sender)))];
  const lines: string[] = [];
  if (sweep.length > 0) lines.push(`The live sweep sends whole frames over a veth pair with ${sweep.map((x) => HOW[x]).join(' and ')}.`);
  if (r.live.sustained !== null) {
    const s = r.live.sustained.daemon.sender;
    lines.push(`The sustained run sends ${fmt(s.packets)} packets cut to 256 bytes with ${HOW[senderName(s)]}, at top speed.`);
  }
  lines.push(
    r.live.receiveCore === 'capture'
      ? "The kernel's receive path for the capture's interface (the softirq that hands each frame to the packet sockets) runs on core 1 with the capture, moved there by RPS (--rps)."
      : "The kernel's receive path for the capture's interface (the softirq that hands each frame to the packet sockets) runs on core 0, in the sender's call, as a veth does without RPS.",
  );
  const runs = [...r.live.rates.map((x) => x.daemon), ...(r.live.sustained === null ? [] : [r.live.sustained.daemon])];
  if (runs.some((d) => d.sender.delivered !== undefined)) lines.push("The packets that reached the capture's interface are its rx_packets over each run.");
  return lines;
}

/** What this run's figures say, in words. */
function findings(r: Results): string[] {
  const lines: string[] = [];
  const o = r.offline;
  if (!('skipped' in o) && o.stages !== null) {
    const s = o.stages;
    lines.push(
      "Where the time goes offline: the addon's capture thread reads each record and describes it in C (header",
      `offsets, flow key and hash; the same in JavaScript costs ${fmt(s.decodeUs, 2)} µs per packet). The main thread's share,`,
      `flow lookup and the copy of each trimmed record into its flow's chunk, is ${fmt(s.demuxUs, 2)} µs per packet; compressing`,
      `(libdeflate level 1) and writing the files costs the flow store's threads ${fmt(s.gzipUs, 2)} µs (files on tmpfs).`,
      '',
    );
  }
  if (!('skipped' in r.live)) {
    const at100k = r.live.rates.find((x) => x.daemon.sender.rate === 100_000);
    if (at100k !== undefined) {
      const split = at100k.daemon.threadUsPerPacket;
      const us = (kind: string) => fmt(split[kind] ?? 0, 2);
      lines.push(
        `Where the time goes live, at 100,000 pps: ${fmt(at100k.daemon.cpuUsPerPacket, 2)} µs per packet in all. The flow store's threads`,
        `take ${us('ph-store')} while the packets come and ${us('finishing')} more (every thread) to finish the files at the end: compressing`,
        `with libdeflate level 1 and writing the files (\`npm run bench:compression -- --levels 0,1\` tells libdeflate's own`,
        `part). The main thread takes ${us('main')} (the flows' JavaScript: names, timeouts, tallies, timers), the capture`,
        `thread ${us('ph-capture')} (libpcap's ring; describing each record, finding its flow and copying its headers into the`,
        `flow's chunk) and V8's helpers ${us('v8')}.`,
        '',
      );
    }
    const limited = r.live.rates.filter((x) => x.daemon.sender.rate !== 'top' && x.daemon.sender.senderLimited);
    if (limited.length > 0) {
      lines.push(`The sender could not keep the pace asked for at ${limited.map((x) => rateName(x.daemon.sender)).join(', ')}: those rows are the sender's rate, not the daemon's limit.`, '');
    }
  }
  lines.push(
    "Memory per flow is each run's peak RSS (VmHWM), which comes while every flow is being written at",
    'the end, less the peak of a 10-flow run, divided by the number of flows: an upper bound for an idle flow.',
    '',
  );
  return lines;
}

/** docs/performance.md, all of it: the section this run made. */
export function writePerformanceDoc(section: string): void {
  writeFileSync(join(repo, 'docs/performance.md'), section);
}
