// Phase 2, live capture: the generated capture sent over a veth pair into a
// namespace where the daemon captures, pinned to core 1, the sender on core
// 0. A sweep of sending rates (paced, and top speed), each into a fresh
// daemon and then into tcpdump (-s 256 -w /dev/null) as the capture-only
// baseline: CPU per packet by thread, kernel drops, packets in the files.
// Then a sustained run of many more packets at top speed (frames cut at 256
// bytes, what the daemon keeps of them, so that the sender can keep the pace;
// a capture of its own, since replaying one twice would reopen its flows under
// names already used). What counts as saved is what is in the files, read
// back. The sender is tcpreplay (--preload-pcap) or the benchmark's own
// pcapsend (bench/pcapsend.c: a packet TX_RING, about 1.5 times tcpreplay's
// top speed on a veth): --sweep-sender and --sender choose, tcpreplay for the
// sweep and pcapsend for the sustained run by default. Either sends every
// record of the file once, in order; the packets that reached the capture's
// interface are counted too (its rx_packets). The sweep stays on tcpreplay:
// paced, both release 16 frames at a time, but pcapsend hands the 16 over in
// one system call and they arrive together, which makes tcpdump's baseline
// cheaper (0.089 against 0.273 µs a packet at 100,000 pps, the daemon 0.941
// against 0.885), so the "≤ 4× tcpdump" figures would not compare with
// earlier runs'.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import type { TestNetwork } from '../test/helpers/netns.js';
import { LineCollector } from '../test/helpers/processes.js';
import { waitFor } from '../test/helpers/wait.js';
import {
  bin,
  ceilingRoot,
  diskRoot,
  children,
  fmt,
  launcher,
  log,
  metric,
  pcapsend,
  processCpuUs,
  sleep,
  threadCpu,
  threadCpuDelta,
  totalCpuUs,
  work,
  type Usage,
} from './common.js';
import { config, type Rate, type Sender } from './options.js';
import { countOutput } from './pcapcount.js';

export interface Replay {
  /** What sent the packets (absent in results from before the choice: tcpreplay). */
  tool?: Sender;
  /** What was asked for: packets per second, or top speed. */
  rate: Rate;
  packets: number;
  seconds: number;
  pps: number;
  failed: number;
  /** The sender did not reach the rate asked for (within 3 %), or top speed: the sender set the pace. */
  senderLimited: boolean;
  /** Packets the capture's interface received while the sender ran (its rx_packets; absent in older results). */
  delivered?: number;
}

export interface DaemonRun {
  sender: Replay;
  packetsInFiles: number;
  files: number;
  /** The daemon's own counters once it had drained (libpcap's ps_recv, ps_drop, ps_ifdrop). */
  kernelReceived: number;
  kernelDropped: number;
  interfaceDropped: number;
  missedPackets: number;
  badPackets: number;
  cpuUsPerPacket: number;
  /**
   * CPU µs per packet sent, by thread kind while the packets came and were
   * routed (main, ph-capture, ph-store, v8, libuv, other), and "finishing":
   * every thread from the drain to the daemon's exit, when SIGTERM finishes
   * every flow (the last chunks compressed, every file written).
   */
  threadUsPerPacket: Record<string, number>;
  /** Minor page faults per 1,000 packets sent, by thread kind, while the packets came and were routed (absent in older results). */
  threadFaultsPer1000Packets?: Record<string, number>;
  /** Wake-ups (voluntary context switches) per 1,000 packets sent, by thread kind, while the packets came (absent in older results). */
  threadWakeupsPer1000Packets?: Record<string, number>;
  cpuPercentOfCore: number;
  /** CPU ms a second before the replay, with every flow announced and no packet: the fixed cost a packet rate divides. */
  idleCpuMsPerSecond: number;
  peakRssBytes: number;
  allPacketsSaved: boolean;
  /** The whole process's system CPU over the files written: what each file cost the kernel (creating, writing, syncing, naming). */
  cpuSystemUsPerFile: number;
}

export interface TcpdumpRun {
  sender: Replay;
  captured: number;
  kernelDropped: number;
  cpuUsPerPacket: number;
  cpuPercentOfCore: number;
}

export interface LiveResult {
  offloads: string;
  /**
   * Where the kernel's receive path for the capture's interface ran (the
   * softirq that hands each frame to the packet sockets): 'sender', core 0,
   * where a veth runs it in the sending call; 'capture', core 1, moved there
   * by RPS (--rps). Absent in results from before the choice: 'sender'.
   */
  receiveCore?: 'sender' | 'capture';
  /** Where the daemons' files go: tmpfs when there is one, so the figure is the daemon's and not the disk's (the offline phase measures the disk). */
  outputFs?: string;
  rates: Array<{ daemon: DaemonRun; tcpdump: TcpdumpRun | null }>;
  /** Many more packets at top speed into the daemon (null when not run). */
  sustained: { daemon: DaemonRun; tcpdump: TcpdumpRun | null } | null;
  /** The 100,000 pps run again with the files on the disk (common.ts diskRoot), when that is not where the others write. */
  onDisk?: { daemon: DaemonRun; fs: string } | null;
}

/** pcapsend's one line: "pcapsend: N packets (B bytes) sent in S seconds, P pps, F failed". */
function parsePcapsend(output: string, rate: Rate): Replay {
  const m = /pcapsend: (\d+) packets \((\d+) bytes\) sent in ([\d.]+) seconds, ([\d.]+) pps, (\d+) failed/.exec(output);
  if (m === null) throw new Error(`cannot read pcapsend's summary:\n${output}`);
  const pps = Number(m[4]);
  return { tool: 'pcapsend', rate, packets: Number(m[1]), seconds: Number(m[3]), pps, failed: Number(m[5]), senderLimited: rate === 'top' || pps < rate * 0.97 };
}

function parseTcpreplay(output: string, rate: Rate): Replay {
  const actual = /Actual: (\d+) packets \((\d+) bytes\) sent in ([\d.]+) seconds/.exec(output);
  const rated = /Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps/.exec(output);
  const failed = /Failed packets:\s+(\d+)/.exec(output);
  if (actual === null) throw new Error(`cannot read tcpreplay's summary:\n${output}`);
  const packets = Number(actual[1]);
  const seconds = Number(actual[3]);
  const pps = rated !== null ? Number(rated[1]) : packets / seconds;
  return { tool: 'tcpreplay', rate, packets, seconds, pps, failed: failed !== null ? Number(failed[1]) : 0, senderLimited: rate === 'top' || pps < rate * 0.97 };
}

/** Serves every line of an events file to whoever connects, as tcp-info would announce flows. */
async function startEventServer(path: string, lines: string): Promise<{ close(): void }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.write(lines);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** `perf record` of one process until stop(): software clock samples (this VM has no hardware counters), with call chains. */
function startPerf(pid: number, output: string): { stop(): Promise<void> } {
  mkdirSync(dirname(output), { recursive: true });
  const perf = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', '4999', '-g', '-p', String(pid), '-o', output], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.add(perf);
  const exited = new Promise<void>((resolve) => perf.on('exit', () => resolve()));
  return {
    async stop() {
      perf.kill('SIGINT');
      await Promise.race([exited, sleep(10_000)]);
      children.delete(perf);
      log(`perf profile in ${output} (perf report -i ${output} --sort pid,dso,sym)`);
    },
  };
}

const METRICS_PORT = 9990;
/** How long each daemon's idle CPU is sampled before its replay. */
const IDLE_SAMPLE_MS = 5000;

class LiveBench {
  private runs = 0;
  constructor(
    private readonly net: TestNetwork,
    private readonly eventSocket: string,
  ) {}

  private async scrape(): Promise<string> {
    const r = await this.net.exec(this.net.serverNs, [process.execPath, '-e', `fetch('http://127.0.0.1:${METRICS_PORT}/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))`], { timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`scrape failed: ${r.stderr}`);
    return r.stdout;
  }

  /** The capture interface's received packets, from its namespace's sysfs. */
  private async received(): Promise<number> {
    const r = await this.net.exec(this.net.serverNs, ['cat', `/sys/class/net/${this.net.serverIf}/statistics/rx_packets`], { timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`rx_packets of ${this.net.serverIf}: ${r.stderr}`);
    return Number(r.stdout.trim());
  }

  private async replay(pcap: string, rate: Rate, sender: Sender): Promise<Replay> {
    let argv: string[];
    if (sender === 'tcpreplay') {
      // --preload-pcap and --no-flow-stats: the sender's own per-packet work is what limits it at top speed.
      const pace = rate === 'top' ? ['--topspeed'] : [`--pps=${rate}`, '--pps-multi=16'];
      argv = ['taskset', '-c', '0', 'tcpreplay', '--preload-pcap', '--no-flow-stats', ...pace, '-i', this.net.clientIf, pcap];
    } else {
      argv = ['taskset', '-c', '0', pcapsend, ...(rate === 'top' ? [] : ['--pps', String(rate)]), '-i', this.net.clientIf, pcap];
    }
    const before = await this.received();
    const r = await this.net.exec(this.net.clientNs, argv, { timeoutMs: 900_000 });
    if (r.code !== 0) throw new Error(`${sender} failed (${r.code}): ${r.stderr}`);
    const replay = sender === 'tcpreplay' ? parseTcpreplay(r.stdout + r.stderr, rate) : parsePcapsend(r.stdout + r.stderr, rate);
    replay.delivered = (await this.received()) - before;
    log(`${sender}: ${fmt(replay.packets)} packets in ${fmt(replay.seconds, 2)} s = ${fmt(replay.pps)} pps, ${fmt(replay.delivered)} reached ${this.net.serverIf}`);
    return replay;
  }

  /** A fresh daemon, every flow announced, the replay, the drain, then SIGTERM and the files counted. */
  async daemon(pcap: string, flows: number, rate: Rate, tool: Sender, root = ceilingRoot().dir): Promise<DaemonRun> {
    const tag = `live-${this.runs++}`;
    const datadir = join(root, tag);
    const usageFile = join(work, `${tag}.json`);
    const daemon = this.net.spawn(this.net.serverNs, [
      'taskset', '-c', '1', process.execPath, ...(config.perfDir === null ? [] : ['--perf-basic-prof']), launcher, usageFile, bin,
      '-interface', this.net.serverIf, '-datadir', datadir, '-tcpinfo.eventsocket', this.eventSocket,
      '-prometheusx.listen-address', `127.0.0.1:${METRICS_PORT}`,
      '-flowtimeout', '10m', '-captureduration', '10m', '-uuidwaitduration', '10m', '-sigtermwait', '100ms',
      ...(config.captureThreads === 1 ? [] : ['-capturethreads', String(config.captureThreads)]),
    ]);
    children.add(daemon);
    const stderr = new LineCollector(daemon.stderr);
    daemon.stdout?.resume();
    const exited = new Promise<number | null>((resolve) => daemon.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => stderr.lines.some((l) => l.includes('capturing on')) || daemon.exitCode !== null, 20_000, 'daemon capturing');
      if (daemon.exitCode !== null) throw new Error(`daemon exited: ${stderr.text()}`);
      const pid = daemon.pid as number;
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'node') throw new Error("expected the daemon's pid to be node's");
      // Every flow is announced before its first packet.
      await waitFor(async () => metric(await this.scrape(), 'pcap_demuxer_uuids_total') >= flows, 30_000, 'every flow announced', 200);
      const idleBefore = processCpuUs(pid);
      await sleep(IDLE_SAMPLE_MS);
      const idleCpuMsPerSecond = (processCpuUs(pid) - idleBefore) / IDLE_SAMPLE_MS;
      log(`live: ${rate === 'top' ? 'top speed' : `${fmt(rate)} pps`} from ${tool} into the daemon`);
      const profile = config.perfDir === null ? null : startPerf(pid, join(config.perfDir, `${tag}-${rate}.data`));
      const threadsBefore = threadCpu(pid);
      const startedAt = performance.now();
      const sender = await this.replay(pcap, rate, tool).finally(() => profile?.stop());
      // Drained: every packet sent is accounted for (saved, missed, bad, ignored), or nothing moved for 2 s (drops).
      let last = -1;
      let stableSince = performance.now();
      let drainedAt = performance.now();
      await waitFor(
        async () => {
          const t = await this.scrape();
          const seen = metric(t, 'pcap_saver_packets_total') + metric(t, 'pcap_missed_packets_total') + metric(t, 'pcap_demuxer_bad_packets_total') + metric(t, 'pcap_demuxer_ignored_total');
          if (seen !== last) {
            last = seen;
            stableSince = performance.now();
            drainedAt = stableSince;
          }
          return seen >= sender.packets - sender.failed || performance.now() - stableSince > 2000;
        },
        180_000,
        'the daemon to process every captured packet',
        100,
      );
      const threadsDrained = threadCpu(pid);
      const threads = threadCpuDelta(pid, threadsBefore, threadsDrained);
      const replayUs = Object.values(threads).reduce((a, b) => a + b, 0);
      const cpuEndAt = Math.max(drainedAt, startedAt + sender.seconds * 1000);
      // The capture thread reads the kernel's counters every 100 ms: read them after the next reading.
      await sleep(300);
      const text = await this.scrape();
      daemon.kill('SIGTERM');
      const code = await Promise.race([exited, sleep(120_000).then(() => 'timeout' as const)]);
      if (code !== 0) throw new Error(`daemon did not exit cleanly (${code}): ${stderr.text().slice(-2000)}`);
      const usage = JSON.parse(readFileSync(usageFile, 'utf8')) as Usage;
      // The flows end only at SIGTERM (-flowtimeout 10m): what their files
      // cost is the whole process's CPU at exit (getrusage, which counts
      // threads that have ended) less what its threads had used at the drain.
      // A thread that ended before the drain is counted here too, and so is
      // the shutdown itself: both together, for a daemon that saw no packet,
      // came to 7 ms (0.004 µs a packet of a 2,000,000-packet run).
      threads.finishing = Math.max(0, usage.cpuUserUs + usage.cpuSystemUs - totalCpuUs(threadsDrained));
      const cpuUs = replayUs + threads.finishing;
      const counted = countOutput(datadir);
      const threadUsPerPacket: Record<string, number> = {};
      for (const [kind, us] of Object.entries(threads)) threadUsPerPacket[kind] = us / Math.max(1, sender.packets);
      const per1000Packets = (of: 'minorFaults' | 'wakeups') => {
        const out: Record<string, number> = {};
        for (const [kind, n] of Object.entries(threadCpuDelta(pid, threadsBefore, threadsDrained, of))) out[kind] = (1000 * n) / Math.max(1, sender.packets);
        return out;
      };
      const threadFaultsPer1000Packets = per1000Packets('minorFaults');
      const threadWakeupsPer1000Packets = per1000Packets('wakeups');
      return {
        sender,
        packetsInFiles: counted.packets,
        files: counted.files,
        kernelReceived: metric(text, 'pcap_kernel_received_packets_total'),
        kernelDropped: metric(text, 'pcap_kernel_dropped_packets_total'),
        interfaceDropped: metric(text, 'pcap_interface_dropped_packets_total'),
        missedPackets: metric(text, 'pcap_missed_packets_total'),
        badPackets: metric(text, 'pcap_demuxer_bad_packets_total'),
        cpuUsPerPacket: cpuUs / Math.max(1, sender.packets),
        threadUsPerPacket,
        threadFaultsPer1000Packets,
        threadWakeupsPer1000Packets,
        cpuPercentOfCore: (100 * replayUs) / ((cpuEndAt - startedAt) * 1000),
        idleCpuMsPerSecond,
        peakRssBytes: usage.maxRssBytes,
        allPacketsSaved: counted.packets === sender.packets,
        cpuSystemUsPerFile: usage.cpuSystemUs / Math.max(1, counted.files),
      };
    } finally {
      if (daemon.exitCode === null) daemon.kill('SIGKILL');
      rmSync(datadir, { recursive: true, force: true });
    }
  }

  /** The same replay into tcpdump on the daemon's core. */
  async tcpdump(pcap: string, rate: Rate, tool: Sender): Promise<TcpdumpRun> {
    const tcpdump = this.net.spawn(this.net.serverNs, ['taskset', '-c', '1', 'tcpdump', '-i', this.net.serverIf, '-s', '256', '-B', '32768', '-w', '/dev/null', 'tcp']);
    children.add(tcpdump);
    const err = new LineCollector(tcpdump.stderr);
    tcpdump.stdout?.resume();
    const exited = new Promise<void>((resolve) => tcpdump.on('exit', () => resolve()));
    await waitFor(() => err.lines.some((l) => l.includes('listening on')) || tcpdump.exitCode !== null, 20_000, 'tcpdump listening');
    const pid = tcpdump.pid as number;
    const cpuBefore = processCpuUs(pid);
    const sender = await this.replay(pcap, rate, tool);
    await sleep(1000);
    const cpuUs = processCpuUs(pid) - cpuBefore;
    tcpdump.kill('SIGINT');
    await Promise.race([exited, sleep(10_000)]);
    const summary = err.text();
    const num = (re: RegExp) => Number(re.exec(summary)?.[1] ?? NaN);
    return {
      sender,
      captured: num(/(\d+) packets? captured/),
      kernelDropped: num(/(\d+) packets? dropped by kernel/),
      cpuUsPerPacket: cpuUs / Math.max(1, sender.packets),
      cpuPercentOfCore: (100 * cpuUs) / (Math.max(sender.seconds * 1000, 1) * 1000),
    };
  }
}

export interface LiveInputs {
  /** Whole frames, for the rate sweep. */
  pcap: string;
  events: string;
  flows: number;
  /** The sustained run's capture and its events; null skips it. */
  sustained: { pcap: string; events: string; flows: number } | null;
}

export async function livePhase(net: TestNetwork, inputs: LiveInputs, rates: Rate[]): Promise<LiveResult> {
  const result: LiveResult = { offloads: net.offloadMethod, receiveCore: config.rps ? 'capture' : 'sender', outputFs: ceilingRoot().fs, rates: [], sustained: null, onDisk: null };
  if (config.rps) {
    // RPS to CPU 1 (mask 2): the veth queues each frame for core 1's backlog instead of handling it in the sender's call.
    const r = await net.exec(net.serverNs, ['sh', '-c', `echo 2 > /sys/class/net/${net.serverIf}/queues/rx-0/rps_cpus`], { timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`cannot set rps_cpus of ${net.serverIf}: ${r.stderr}`);
  }
  const socket = join(work, 'events.sock');
  let events = await startEventServer(socket, readFileSync(inputs.events, 'utf8'));
  try {
    const bench = new LiveBench(net, socket);
    for (const rate of rates) {
      const daemon = await bench.daemon(inputs.pcap, inputs.flows, rate, config.sweepSender);
      let tcpdump: TcpdumpRun | null = null;
      try {
        tcpdump = await bench.tcpdump(inputs.pcap, rate, config.sweepSender);
      } catch (error) {
        log(`tcpdump at ${rate}: ${(error as Error).message}`);
      }
      result.rates.push({ daemon, tcpdump });
    }
    const disk = diskRoot();
    if (rates.includes(100_000) && disk.dir !== ceilingRoot().dir) {
      result.onDisk = { daemon: await bench.daemon(inputs.pcap, inputs.flows, 100_000, config.sweepSender, disk.dir), fs: disk.fs };
    }
    const s = inputs.sustained;
    if (s !== null) {
      events.close();
      events = await startEventServer(socket, readFileSync(s.events, 'utf8'));
      const daemon = await bench.daemon(s.pcap, s.flows, 'top', config.sender);
      const tcpdump = await bench.tcpdump(s.pcap, 'top', config.sender).catch((error: unknown) => {
        log(`tcpdump sustained: ${(error as Error).message}`);
        return null;
      });
      result.sustained = { daemon, tcpdump };
    }
    return result;
  } finally {
    events.close();
  }
}
