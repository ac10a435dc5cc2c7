// `npm run bench`: the benchmark of issue 4.
//
//   1. Pipeline ceiling (offline): a generated capture through
//      `packet-headers -read FILE -events FILE`: CPU per packet, packets/s,
//      peak RSS, bytes written, every packet accounted for in the files; plus
//      the cost of each hot-path stage measured in-process.
//   2. Live: the same capture replayed with tcpreplay --topspeed over a veth
//      pair into a namespace where the daemon captures on one core; the same
//      replay through tcpdump as the capture-only baseline.
//   3. Memory: 10,000 and 100,000 concurrent short flows.
//
// Options (or environment): --quick (BENCH_QUICK=1) shrinks every size;
// --no-live (BENCH_NO_LIVE=1) skips phase 2; --packets N, --flows N,
// --memory-flows A,B, --runs N (offline repetitions, median reported),
// --seed N, --no-write (do not touch bench/results.json and README.md).
// Needs root for phase 2 (namespaces); installs tcpreplay with apt-get when
// it is missing. Everything it creates (namespaces, processes, files under
// os.tmpdir()) is removed at the end, also on failure or Ctrl-C.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createTestNetwork, LineCollector, waitFor, type TestNetwork } from '../test/helpers/netns.js';
import { generate, type GenResult } from './gen.js';
import { countOutput } from './pcapcount.js';
import { measureStages, type StageCosts } from './stages.js';

const repo = join(import.meta.dirname, '../..');
const bin = join(repo, 'bin/packet-headers.js');
const launcher = join(import.meta.dirname, 'launcher.js');

// ------------------------------------------------------------------ options

function flag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}
function option(name: string, env: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  if (at >= 0 && at + 1 < process.argv.length) return process.argv[at + 1];
  return process.env[env];
}

const quick = flag('quick') || process.env.BENCH_QUICK === '1';
const config = {
  quick,
  seed: Number(option('seed', 'BENCH_SEED') ?? 20240404),
  packets: Number(option('packets', 'BENCH_PACKETS') ?? (quick ? 200_000 : 2_000_000)),
  flows: Number(option('flows', 'BENCH_FLOWS') ?? (quick ? 400 : 4_000)),
  v6Fraction: 0.25,
  memoryFlows: (option('memory-flows', 'BENCH_MEMORY_FLOWS') ?? (quick ? '2000,10000' : '10000,100000')).split(',').map(Number),
  runs: Number(option('runs', 'BENCH_RUNS') ?? (quick ? 1 : 3)),
  live: !(flag('no-live') || process.env.BENCH_NO_LIVE === '1'),
  write: !flag('no-write'),
};

// ------------------------------------------------------------------ cleanup

const work = mkdtempSync(join(tmpdir(), 'ph-bench-'));
const extraDirs: string[] = [];
const children = new Set<ChildProcess>();
function cleanupSync(): void {
  for (const dir of extraDirs) rmSync(dir, { recursive: true, force: true });
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanupSync);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    process.stderr.write(`bench: ${signal}, cleaning up\n`);
    process.exit(130);
  });
}

const log = (message: string) => process.stderr.write(`bench: ${message}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ helpers

interface Usage {
  cpuUserUs: number;
  cpuSystemUs: number;
  maxRssBytes: number;
  wallMs: number;
  exitCode: number;
}

interface OfflineRun {
  wallMs: number;
  usage: Usage;
  stderr: string;
}

/** Runs the daemon under the launcher (same process, usage written at exit), as a child of this process. */
function runDaemonOffline(args: string[], usageFile: string, timeoutMs = 300_000): Promise<OfflineRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [launcher, usageFile, bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(child);
    const err = new LineCollector(child.stderr);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      const wallMs = performance.now() - started;
      if (code !== 0) {
        reject(new Error(`daemon exited with ${code ?? signal}: ${err.text().slice(-2000)}`));
        return;
      }
      resolve({ wallMs, usage: JSON.parse(readFileSync(usageFile, 'utf8')) as Usage, stderr: err.text() });
    });
  });
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Sum of every sample of a metric in Prometheus text, optionally only those whose labels match. */
function metric(text: string, name: string, labels?: RegExp): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    if (labels !== undefined && !labels.test(rest)) continue;
    sum += Number(line.split(' ').pop());
  }
  return sum;
}

/** utime + stime of a process (all threads), in microseconds. */
function processCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1e6) / CLOCK_TICKS;
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

function commandExists(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** The bench's own set-up step: tcpreplay is not needed by the daemon or its tests. */
function ensureTcpreplay(): string | null {
  if (commandExists('tcpreplay')) return null;
  log('tcpreplay missing: apt-get install -y tcpreplay');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'tcpreplay'], { stdio: 'inherit', env, timeout: 300_000 });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env, timeout: 300_000 });
    r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'tcpreplay'], { stdio: 'inherit', env, timeout: 300_000 });
  }
  return commandExists('tcpreplay') ? null : 'tcpreplay could not be installed';
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mib = (bytes: number) => bytes / (1024 * 1024);

// ------------------------------------------------------------------ phase 1: offline

interface OfflineResult {
  packets: number;
  flows: number;
  runs: number;
  wallMs: number;
  packetsPerSecond: number;
  cpuUsPerPacket: number;
  cpuUserUsPerPacket: number;
  cpuSystemUsPerPacket: number;
  peakRssBytes: number;
  inputBytes: number;
  filesWritten: number;
  bytesWritten: number;
  packetsInFiles: number;
  allPacketsSaved: boolean;
  tsharkSample: { files: number; packets: number; agrees: boolean } | null;
  allRuns: Array<{ wallMs: number; cpuUs: number; peakRssBytes: number }>;
  stages: StageCosts | null;
  /**
   * The daemon's own split of the median run: reading every packet (flows
   * compressed as they fill), then writing every flow still open at the end
   * of the file (here all of them, as the capture is shorter than -flowtimeout).
   */
  readMs: number | null;
  finalWriteMs: number | null;
  readPacketsPerSecond: number | null;
  /** Filesystem of the ceiling runs' output. */
  outputFs: string;
  disk: { fs: string; wallMs: number; packetsPerSecond: number; cpuUsPerPacket: number; cpuSystemUsPerPacket: number; allPacketsSaved: boolean } | null;
}

/** Where the ceiling's output goes: tmpfs when there is one, so the figure is the daemon's and not the disk's. */
let ceiling: { dir: string; fs: string } | null = null;
function ceilingRoot(): { dir: string; fs: string } {
  ceiling ??= pickCeilingRoot();
  return ceiling;
}
function pickCeilingRoot(): { dir: string; fs: string } {
  if (spawnSync('sh', ['-c', "df -T /dev/shm 2>/dev/null | tail -1 | grep -qw tmpfs"]).status === 0) {
    const dir = mkdtempSync('/dev/shm/ph-bench-');
    extraDirs.push(dir);
    return { dir, fs: 'tmpfs (/dev/shm)' };
  }
  return { dir: work, fs: `${filesystemOf(work)} (${tmpdir()})` };
}

function filesystemOf(path: string): string {
  return spawnSync('df', ['--output=fstype', path], { encoding: 'utf8' }).stdout.trim().split('\n').pop() ?? '?';
}

async function offlinePhase(snapPcap: string, events: string, gen: GenResult): Promise<OfflineResult> {
  const runs: OfflineRun[] = [];
  let lastDir = '';
  const root = ceilingRoot();
  for (let i = 0; i < config.runs; i++) {
    const datadir = join(root.dir, `offline-${i}`);
    spawnSync('sync');
    const run = await runDaemonOffline(
      ['-read', snapPcap, '-events', events, '-datadir', datadir, '-prometheusx.listen-address', '127.0.0.1:0'],
      join(work, `offline-${i}.json`),
    );
    log(`offline run ${i + 1}/${config.runs}: ${fmt(run.wallMs)} ms, ${fmt((run.usage.cpuUserUs + run.usage.cpuSystemUs) / 1000)} ms CPU`);
    runs.push(run);
    lastDir = datadir;
  }
  const counted = countOutput(lastDir);
  // The same run with the output on the disk's filesystem, where creating files costs what it costs there.
  let disk: OfflineResult['disk'] = null;
  if (root.dir !== work) {
    const datadir = join(work, 'offline-disk');
    spawnSync('sync');
    const run = await runDaemonOffline(
      ['-read', snapPcap, '-events', events, '-datadir', datadir, '-prometheusx.listen-address', '127.0.0.1:0'],
      join(work, 'offline-disk.json'),
    );
    const cpuUs = run.usage.cpuUserUs + run.usage.cpuSystemUs;
    const files = countOutput(datadir);
    disk = {
      fs: `${filesystemOf(work)} (${tmpdir()})`,
      wallMs: run.wallMs,
      packetsPerSecond: gen.packets / (run.wallMs / 1000),
      cpuUsPerPacket: cpuUs / gen.packets,
      cpuSystemUsPerPacket: run.usage.cpuSystemUs / gen.packets,
      allPacketsSaved: files.packets === gen.packets,
    };
    log(`offline run on disk: ${fmt(run.wallMs)} ms, ${fmt(cpuUs / 1000)} ms CPU`);
    rmSync(datadir, { recursive: true, force: true });
  }
  // An independent reader on a sample: tshark's packet count of a few files.
  let tsharkSample: OfflineResult['tsharkSample'] = null;
  if (commandExists('tshark')) {
    const sample = [...counted.perFile.entries()].sort((a, b) => b[1] - a[1]).filter((_, i) => i % Math.max(1, Math.floor(counted.files / 3)) === 0).slice(0, 3);
    let packets = 0;
    let agrees = true;
    for (const [path, own] of sample) {
      const r = spawnSync('tshark', ['-r', path, '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8', maxBuffer: 1 << 28 });
      const n = r.stdout.trim() === '' ? 0 : r.stdout.trim().split('\n').length;
      packets += n;
      if (n !== own) agrees = false;
    }
    tsharkSample = { files: sample.length, packets, agrees };
  }
  // Removed only now: creating thousands of files right after deleting thousands costs ext4 extra (recently_deleted).
  for (let i = 0; i < config.runs; i++) rmSync(join(root.dir, `offline-${i}`), { recursive: true, force: true });
  const wall = median(runs.map((r) => r.wallMs));
  const split = runs.map((r) => /read in (\d+) ms, then \d+ open flows written in (\d+) ms/.exec(r.stderr)).filter((m) => m !== null);
  const readMs = split.length === runs.length ? median(split.map((m) => Number(m[1]))) : null;
  const finalWriteMs = split.length === runs.length ? median(split.map((m) => Number(m[2]))) : null;
  const cpu = median(runs.map((r) => r.usage.cpuUserUs + r.usage.cpuSystemUs));
  const mid = runs.find((r) => r.usage.cpuUserUs + r.usage.cpuSystemUs === cpu) ?? runs[0];
  log('offline: stage costs (in-process)');
  let stages: StageCosts | null = null;
  try {
    stages = await measureStages(snapPcap, events, quick ? 1 : 2);
  } catch (error) {
    log(`stage costs failed: ${String(error)}`);
  }
  return {
    packets: gen.packets,
    flows: gen.flows,
    runs: runs.length,
    wallMs: wall,
    packetsPerSecond: gen.packets / (wall / 1000),
    cpuUsPerPacket: cpu / gen.packets,
    cpuUserUsPerPacket: mid.usage.cpuUserUs / gen.packets,
    cpuSystemUsPerPacket: mid.usage.cpuSystemUs / gen.packets,
    peakRssBytes: Math.max(...runs.map((r) => r.usage.maxRssBytes)),
    inputBytes: gen.snapBytes,
    filesWritten: counted.files,
    bytesWritten: counted.bytes,
    packetsInFiles: counted.packets,
    allPacketsSaved: counted.packets === gen.packets && counted.files === gen.flows,
    tsharkSample,
    allRuns: runs.map((r) => ({ wallMs: r.wallMs, cpuUs: r.usage.cpuUserUs + r.usage.cpuSystemUs, peakRssBytes: r.usage.maxRssBytes })),
    stages,
    readMs,
    finalWriteMs,
    readPacketsPerSecond: readMs === null ? null : gen.packets / (readMs / 1000),
    outputFs: root.fs,
    disk,
  };
}

// ------------------------------------------------------------------ phase 2: live

interface Replay {
  packets: number;
  seconds: number;
  pps: number;
  failed: number;
}

interface LiveResult {
  sender: Replay;
  daemon: {
    packetsInFiles: number;
    files: number;
    kernelReceived: number;
    kernelDropped: number;
    interfaceDropped: number;
    missedPackets: number;
    badPackets: number;
    cpuUs: number;
    cpuUsPerPacket: number;
    cpuPercentOfCore: number;
    peakRssBytes: number;
    allPacketsSaved: boolean;
  };
  tcpdump: {
    sender: Replay;
    captured: number;
    receivedByFilter: number;
    kernelDropped: number;
    cpuUs: number;
    cpuUsPerPacket: number;
    cpuPercentOfCore: number;
  } | null;
  /** Daemon CPU per packet over tcpdump's. */
  cpuRatio: number | null;
  offloads: string;
}

function parseTcpreplay(output: string): Replay {
  const actual = /Actual: (\d+) packets \((\d+) bytes\) sent in ([\d.]+) seconds/.exec(output);
  const rated = /Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps/.exec(output);
  const failed = /Failed packets:\s+(\d+)/.exec(output);
  if (actual === null) throw new Error(`cannot read tcpreplay's summary:\n${output}`);
  const packets = Number(actual[1]);
  const seconds = Number(actual[3]);
  return { packets, seconds, pps: rated !== null ? Number(rated[1]) : packets / seconds, failed: failed !== null ? Number(failed[1]) : 0 };
}

/** Serves every line of an events file to whoever connects, as tcp-info would announce flows. */
async function startEventServer(path: string, lines: string): Promise<{ server: Server; connected: () => number }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.write(lines);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    server: Object.assign(server, {
      closeAll() {
        for (const s of sockets) s.destroy();
      },
    }),
    connected: () => sockets.size,
  };
}

async function livePhase(net: TestNetwork, fullPcap: string, events: string, gen: GenResult): Promise<LiveResult> {
  const sock = join(work, 'events.sock');
  const events$ = await startEventServer(sock, readFileSync(events, 'utf8'));
  const datadir = join(work, 'live');
  const usageFile = join(work, 'live-usage.json');
  const metricsPort = 9990;
  const scrape = async () => {
    const r = await net.exec(net.serverNs, [process.execPath, '-e', `fetch('http://127.0.0.1:${metricsPort}/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))`], { timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`scrape failed: ${r.stderr}`);
    return r.stdout;
  };
  const replay = async (): Promise<Replay> => {
    const r = await net.exec(net.clientNs, ['taskset', '-c', '0', 'tcpreplay', '--topspeed', '-i', net.clientIf, fullPcap], { timeoutMs: 600_000 });
    if (r.code !== 0) throw new Error(`tcpreplay failed (${r.code}): ${r.stderr}`);
    return parseTcpreplay(r.stdout + r.stderr);
  };
  try {
    // The daemon, pinned to core 1; the sender goes to core 0.
    const daemon = net.spawn(net.serverNs, [
      'taskset', '-c', '1', process.execPath, launcher, usageFile, bin,
      '-interface', net.serverIf, '-datadir', datadir, '-tcpinfo.eventsocket', sock,
      '-prometheusx.listen-address', `127.0.0.1:${metricsPort}`,
      '-flowtimeout', '10m', '-captureduration', '10m', '-uuidwaitduration', '10m', '-sigtermwait', '100ms',
    ]);
    children.add(daemon);
    const stderr = new LineCollector(daemon.stderr);
    daemon.stdout?.resume();
    const exited = new Promise<number | null>((resolve) => daemon.on('exit', (code) => resolve(code)));
    await waitFor(() => stderr.lines.some((l) => l.includes('capturing on')) || daemon.exitCode !== null, 20_000, 'daemon capturing');
    if (daemon.exitCode !== null) throw new Error(`daemon exited: ${stderr.text()}`);
    const pid = daemon.pid as number;
    const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    if (comm !== 'node') throw new Error(`expected the daemon's pid to be node's, got ${comm}`);
    // Every flow is announced before its first packet.
    await waitFor(async () => metric(await scrape(), 'pcap_demuxer_uuids_total') >= gen.flows, 30_000, 'every flow announced', 200);
    log(`live: replaying ${fmt(gen.packets)} packets into the daemon`);
    const cpuBefore = processCpuUs(pid);
    const startedAt = performance.now();
    const sender = await replay();
    // Drained: saved + missed + bad has caught up with what the kernel handed over, and stays so.
    let last = '';
    let stableSince = performance.now();
    let drainedAt = performance.now();
    await waitFor(
      async () => {
        const t = await scrape();
        const seen = metric(t, 'pcap_saver_packets_total') + metric(t, 'pcap_missed_packets_total') + metric(t, 'pcap_demuxer_bad_packets_total') + metric(t, 'pcap_demuxer_ignored_total');
        const received = metric(t, 'pcap_kernel_received_packets_total');
        const state = `${seen}/${received}`;
        if (state !== last) {
          last = state;
          stableSince = performance.now();
          if (seen >= received) drainedAt = performance.now();
          return false;
        }
        return seen >= received && performance.now() - stableSince > 1500;
      },
      120_000,
      'the daemon to process every captured packet',
      250,
    );
    const cpuAfter = processCpuUs(pid);
    const cpuEndAt = Math.max(drainedAt, startedAt + sender.seconds * 1000);
    const text = await scrape();
    daemon.kill('SIGTERM');
    const code = await Promise.race([exited, sleep(120_000).then(() => 'timeout' as const)]);
    if (code !== 0) throw new Error(`daemon did not exit cleanly (${code}): ${stderr.text().slice(-2000)}`);
    const usage = JSON.parse(readFileSync(usageFile, 'utf8')) as Usage;
    const counted = countOutput(datadir);
    const cpuUs = cpuAfter - cpuBefore;
    const result: LiveResult = {
      sender,
      daemon: {
        packetsInFiles: counted.packets,
        files: counted.files,
        kernelReceived: metric(text, 'pcap_kernel_received_packets_total'),
        kernelDropped: metric(text, 'pcap_kernel_dropped_packets_total'),
        interfaceDropped: metric(text, 'pcap_interface_dropped_packets_total'),
        missedPackets: metric(text, 'pcap_missed_packets_total'),
        badPackets: metric(text, 'pcap_demuxer_bad_packets_total'),
        cpuUs,
        cpuUsPerPacket: cpuUs / Math.max(1, sender.packets),
        cpuPercentOfCore: (100 * cpuUs) / ((cpuEndAt - startedAt) * 1000),
        peakRssBytes: usage.maxRssBytes,
        allPacketsSaved: counted.packets === sender.packets,
      },
      tcpdump: null,
      cpuRatio: null,
      offloads: net.offloadMethod,
    };
    rmSync(datadir, { recursive: true, force: true });

    // Baseline: tcpdump on the same core, same replay.
    log('live: the same replay into tcpdump');
    const tcpdump = net.spawn(net.serverNs, ['taskset', '-c', '1', 'tcpdump', '-i', net.serverIf, '-s', '256', '-B', '32768', '-w', '/dev/null', 'tcp']);
    children.add(tcpdump);
    const tdErr = new LineCollector(tcpdump.stderr);
    tcpdump.stdout?.resume();
    const tdExited = new Promise<void>((resolve) => tcpdump.on('exit', () => resolve()));
    await waitFor(() => tdErr.lines.some((l) => l.includes('listening on')) || tcpdump.exitCode !== null, 20_000, 'tcpdump listening');
    const tdPid = tcpdump.pid as number;
    const tdCpuBefore = processCpuUs(tdPid);
    const tdStarted = performance.now();
    const tdSender = await replay();
    await sleep(1000);
    const tdCpu = processCpuUs(tdPid) - tdCpuBefore;
    tcpdump.kill('SIGINT');
    await Promise.race([tdExited, sleep(10_000)]);
    const summary = tdErr.text();
    const num = (re: RegExp) => Number(re.exec(summary)?.[1] ?? NaN);
    const captured = num(/(\d+) packets? captured/);
    result.tcpdump = {
      sender: tdSender,
      captured,
      receivedByFilter: num(/(\d+) packets? received by filter/),
      kernelDropped: num(/(\d+) packets? dropped by kernel/),
      cpuUs: tdCpu,
      cpuUsPerPacket: tdCpu / Math.max(1, tdSender.packets),
      cpuPercentOfCore: (100 * tdCpu) / (Math.max(tdSender.seconds * 1000, 1) * 1000),
    };
    void tdStarted;
    result.cpuRatio = result.daemon.cpuUsPerPacket / result.tcpdump.cpuUsPerPacket;
    return result;
  } finally {
    (events$.server as Server & { closeAll(): void }).closeAll();
    events$.server.close();
  }
}

// ------------------------------------------------------------------ phase 3: memory

interface MemoryResult {
  flows: number;
  packets: number;
  peakRssBytes: number;
  baselineRssBytes: number;
  bytesPerFlow: number;
  files: number;
  wallMs: number;
}

async function memoryPhase(serverV4: string, serverV6: string): Promise<MemoryResult[]> {
  const run = async (flows: number, tag: string) => {
    const pcap = join(work, `mem-${tag}.pcap`);
    const events = join(work, `mem-${tag}.jsonl`);
    const gen = generate({
      snapPcapPath: pcap,
      eventsPath: events,
      packets: flows * 5,
      flows,
      v6Fraction: config.v6Fraction,
      seed: config.seed + flows,
      serverV4,
      serverV6,
      spanSeconds: 20,
      concurrency: flows,
      sizes: 'equal',
      uuidPrefix: `mem${tag}`,
    });
    const datadir = join(ceilingRoot().dir, `mem-${tag}-out`);
    const r = await runDaemonOffline(
      ['-read', pcap, '-events', events, '-datadir', datadir, '-prometheusx.listen-address', '127.0.0.1:0', '-flowtimeout', '10m', '-captureduration', '10m', '-uuidwaitduration', '10m'],
      join(work, `mem-${tag}.json`),
    );
    const counted = countOutput(datadir);
    rmSync(datadir, { recursive: true, force: true });
    rmSync(pcap, { force: true });
    rmSync(events, { force: true });
    return { gen, run: r, counted };
  };
  const baseline = await run(10, 'baseline');
  log(`memory: baseline ${fmt(mib(baseline.run.usage.maxRssBytes), 1)} MiB`);
  const results: MemoryResult[] = [];
  for (const flows of config.memoryFlows) {
    const r = await run(flows, String(flows));
    const peak = r.run.usage.maxRssBytes;
    results.push({
      flows,
      packets: r.gen.packets,
      peakRssBytes: peak,
      baselineRssBytes: baseline.run.usage.maxRssBytes,
      bytesPerFlow: (peak - baseline.run.usage.maxRssBytes) / flows,
      files: r.counted.files,
      wallMs: r.run.wallMs,
    });
    log(`memory: ${fmt(flows)} flows: peak ${fmt(mib(peak), 1)} MiB, ${r.counted.files} files`);
  }
  return results;
}

// ------------------------------------------------------------------ report

interface Results {
  date: string;
  command: string;
  machine: { cpus: number; model: string; memoryGiB: number; kernel: string; node: string; datadirFs: string };
  config: typeof config;
  generated: GenResult & { seconds: number };
  offline: OfflineResult;
  live: LiveResult | { skipped: string };
  memory: MemoryResult[];
  targets: Array<{ target: string; value: string; met: boolean | null }>;
}

function table(rows: Array<[string, string]>): string {
  const w = Math.max(...rows.filter((r) => r[1] !== '').map((r) => r[0].length));
  return rows.map(([k, v]) => (v === '' ? `\n${k}` : `  ${k.padEnd(w)}  ${v}`)).join('\n');
}

function report(r: Results): string {
  const o = r.offline;
  const rows: Array<[string, string]> = [];
  rows.push([`Pipeline ceiling (offline -read, ${fmt(o.packets)} packets, ${fmt(o.flows)} flows, median of ${o.runs}; CPU of all threads on both cores)`, '']);
  rows.push(['wall packets/s', fmt(o.packetsPerSecond)]);
  rows.push(['CPU µs/packet (user+sys, all threads)', `${fmt(o.cpuUsPerPacket, 2)} (user ${fmt(o.cpuUserUsPerPacket, 2)}, sys ${fmt(o.cpuSystemUsPerPacket, 2)})`]);
  rows.push(['wall time', `${fmt(o.wallMs)} ms (runs: ${o.allRuns.map((r) => fmt(r.wallMs)).join(', ')} ms)`]);
  if (o.readMs !== null && o.finalWriteMs !== null && o.readPacketsPerSecond !== null) {
    rows.push(['of which: reading every packet', `${fmt(o.readMs)} ms = ${fmt(o.readPacketsPerSecond)} packets/s (median)`]);
    rows.push(['of which: writing the open flows', `${fmt(o.finalWriteMs)} ms for ${fmt(o.flows)} flows still open at the end of the file`]);
  }
  rows.push(['output on', o.outputFs]);
  if (o.disk !== null) {
    rows.push(['same, output on disk', `${fmt(o.disk.packetsPerSecond)} packets/s, ${fmt(o.disk.cpuUsPerPacket, 2)} µs/packet (sys ${fmt(o.disk.cpuSystemUsPerPacket, 2)}), ${o.disk.fs}`]);
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
  if ('skipped' in r.live) {
    rows.push(['Live capture', '']);
    rows.push(['skipped', r.live.skipped]);
  } else {
    const l = r.live;
    rows.push([`Live capture (veth, tcpreplay --topspeed on core 0, capture on core 1, offloads: ${l.offloads})`, '']);
    rows.push(['packets sent / sender rate', `${fmt(l.sender.packets)} in ${fmt(l.sender.seconds, 2)} s = ${fmt(l.sender.pps)} pps${l.sender.failed ? `, ${l.sender.failed} failed` : ''}`]);
    rows.push(['daemon: packets in files', `${fmt(l.daemon.packetsInFiles)} (${fmt((100 * l.daemon.packetsInFiles) / l.sender.packets, 2)} %) in ${fmt(l.daemon.files)} files`]);
    rows.push(['daemon: kernel drops / missed / bad', `${fmt(l.daemon.kernelDropped)} / ${fmt(l.daemon.missedPackets)} / ${fmt(l.daemon.badPackets)}`]);
    rows.push(['daemon: CPU', `${fmt(l.daemon.cpuUsPerPacket, 3)} µs/packet, ${fmt(l.daemon.cpuPercentOfCore, 1)} % of a core`]);
    rows.push(['daemon: peak RSS', `${fmt(mib(l.daemon.peakRssBytes), 1)} MiB`]);
    if (l.tcpdump !== null) {
      const t = l.tcpdump;
      rows.push(['tcpdump: sender rate', `${fmt(t.sender.packets)} in ${fmt(t.sender.seconds, 2)} s = ${fmt(t.sender.pps)} pps`]);
      rows.push(['tcpdump: captured / kernel drops', `${fmt(t.captured)} / ${fmt(t.kernelDropped)}`]);
      rows.push(['tcpdump: CPU', `${fmt(t.cpuUsPerPacket, 3)} µs/packet, ${fmt(t.cpuPercentOfCore, 1)} % of a core`]);
      rows.push(['daemon / tcpdump CPU per packet', `${fmt(l.cpuRatio ?? NaN, 1)} ×`]);
    }
  }
  rows.push(['Memory (concurrent short flows, 5 packets each, offline)', '']);
  for (const m of r.memory) {
    rows.push([`${fmt(m.flows)} flows`, `peak RSS ${fmt(mib(m.peakRssBytes), 1)} MiB, ${fmt(m.bytesPerFlow)} B/flow over the ${fmt(mib(m.baselineRssBytes), 1)} MiB baseline, ${fmt(m.files)} files`]);
  }
  rows.push(['Targets', '']);
  for (const t of r.targets) rows.push([t.target, `${t.value}  ${t.met === null ? 'n/a' : t.met ? 'MET' : 'MISSED'}`]);
  return table(rows).replace(/^\n/, '');
}

function targets(r: Omit<Results, 'targets'>): Results['targets'] {
  const t: Results['targets'] = [];
  t.push({ target: 'pipeline ≥ 813,000 packets/s', value: `${fmt(r.offline.packetsPerSecond)} pps`, met: r.offline.packetsPerSecond >= 813_000 });
  t.push({ target: 'offline: every packet in the files', value: `${fmt(r.offline.packetsInFiles)}/${fmt(r.offline.packets)}`, met: r.offline.allPacketsSaved });
  if ('skipped' in r.live) {
    t.push({ target: 'live: 100 % in files, 0 kernel drops', value: `skipped (${r.live.skipped})`, met: null });
  } else {
    const l = r.live;
    t.push({
      target: 'live: 100 % in files, 0 kernel drops',
      value: `${fmt((100 * l.daemon.packetsInFiles) / l.sender.packets, 2)} %, ${fmt(l.daemon.kernelDropped)} drops at ${fmt(l.sender.pps)} pps`,
      met: l.daemon.allPacketsSaved && l.daemon.kernelDropped === 0,
    });
  }
  for (const m of r.memory) {
    if (m.flows === 10_000) t.push({ target: '10,000 flows under 1 GiB RSS', value: `${fmt(mib(m.peakRssBytes), 1)} MiB`, met: m.peakRssBytes < 1024 ** 3 });
  }
  if (r.memory.length > 0) {
    const worst = r.memory.reduce((a, b) => (b.bytesPerFlow > a.bytesPerFlow ? b : a));
    t.push({ target: '≤ 16 KiB per idle flow', value: `at most ${fmt(worst.bytesPerFlow)} B (${fmt(worst.flows)} flows)`, met: worst.bytesPerFlow <= 16 * 1024 });
  }
  return t;
}

function readmeSection(r: Results, text: string): string {
  return [
    '## Performance',
    '',
    `Measured with \`npm run bench\` (\`node dist/bench/run.js\`; \`--quick\` for a short run) on ${r.date.slice(0, 10)}:`,
    `${r.machine.cpus} cores (${r.machine.model}), ${r.machine.memoryGiB} GiB, Linux ${r.machine.kernel}, Node ${r.machine.node}; output on ${r.machine.datadirFs}.`,
    'The ceiling writes its output to tmpfs so that it measures the daemon; the same run with the output on',
    'the disk is shown beside it (on this VM, creating thousands of files in one ext4 directory costs',
    'up to about 1 ms of system time per file, more in the minutes after thousands were deleted, when',
    "ext4 searches its inode bitmaps for inodes not freed recently: between two bench runs of the same code",
    'on 2026-11-23 the disk figure went from 584,618 to 319,453 packets/s while the tmpfs one went from',
    '1,029,369 to 860,455, the VM itself being slower in the second).',
    'The generated capture (seeded) has 25 % IPv6 flows, about 45 % pure ACKs, 40 % full-size',
    'segments and the rest mid-size, with TCP timestamp options; the offline run reads it cut to',
    '256 bytes per packet (what a capture with the default -maxheadersize holds), the live run',
    'replays whole frames. Figures are written to `bench/results.json`.',
    '',
    '```',
    text,
    '```',
    '',
    ...findings(r),
  ].join('\n');
}

/** What the figures say, in words: where the time goes, and what the live and memory figures mean. */
function findings(r: Results): string[] {
  const o = r.offline;
  const lines: string[] = [];
  if (o.stages !== null) {
    const s = o.stages;
    lines.push(
      'Where the time goes: the addon\'s capture thread reads each record and describes it in C (header offsets,',
      `flow key and hash; the same in JavaScript, describeRecords, costs ${fmt(s.decodeUs, 2)} µs per packet). The main thread's`,
      `share, flow lookup and the flow store copying each trimmed record into its flow's chunk, is ${fmt(s.demuxUs, 2)} µs per`,
      `packet (in-process, its own CPU time); compressing every record at libdeflate level 1 and writing the files costs`,
      `the flow store's threads ${fmt(s.gzipUs, 2)} µs (their CPU time, files on tmpfs).` +
        (o.readMs !== null && o.finalWriteMs !== null && o.readPacketsPerSecond !== null
          ? ` Reading and buffering every packet took ${fmt(o.readMs)} ms (${fmt(o.readPacketsPerSecond)} packets/s,` +
            ` compressing the chunks that filled on the way); writing the ${fmt(o.flows)} flows still open when the file ended` +
            ` took ${fmt(o.finalWriteMs)} ms more.`
          : ''),
      'The generated capture lasts 10 s of packet time, shorter than -flowtimeout, so every flow is still open at',
      'its end and all 4,000 files are written after the last packet. Their records are mostly compressed by then:',
      "each flow ends with a FIN, at which the flow store compresses a chunk of 16 KiB or more at once (smaller",
      'ones, and the flows still active at the end, are compressed with the final write).',
      `In all, the daemon spends ${fmt(o.cpuUsPerPacket, 2)} µs of CPU per packet (user + sys, every thread: main, capture`,
      `thread, flow store threads, V8's own threads). Per thread, in two runs of this code (2026-11-23, /proc times):`,
      'main thread 1.2 s (of which about 0.25 s starting up: loading modules, reading the events file), flow store',
      "threads 0.9-1.1 s together (libdeflate most of it, then file writes), capture thread 0.4-0.5 s, V8's own",
      "threads 0.45 s (optimizing compiler, concurrent marking); 3.0-3.3 s in all, against 5.7 s before the flow store.",
      'What the flow store changed: the main thread no longer copies records through DataViews (that copy cost more',
      'than deciding where each packet goes), and chunks no longer travel to worker isolates as messages (each isolate',
      'had its own compiler and garbage collector). Compressing at FIN/RST shortened the final write from about',
      '0.5 s to 0.15-0.2 s without changing a byte of the output here. Tried and dropped: fixed chunks of 16 or',
      '32 KiB (no gain beyond the noise, files 2.7 % or 0.65 % larger); staging records for the store threads to',
      'scatter into chunks (the main thread gained nothing: reading the batch costs it as much as copying did).',
      '',
    );
  }
  if (!('skipped' in r.live)) {
    lines.push(
      `Live, tcpreplay is the bottleneck: it tops out near ${fmt(r.live.sender.pps / 1000)}k packets/s on its core, where the daemon`,
      `uses ${fmt(r.live.daemon.cpuPercentOfCore)} % of its one core (extrapolated, its ceiling on that core would be about ${fmt(100 / r.live.daemon.cpuPercentOfCore * r.live.sender.pps / 1000)}k packets/s).`,
      "CPU % of a core is the process's user + system time over the replay's duration. This VM's speed varies",
      "from run to run (tcpdump's cost per packet has measured 0.11 to 0.17 µs): compare figures of one run with each other.",
      '',
    );
  }
  lines.push(
    "Memory per flow is each run's peak RSS (VmHWM), which comes while every flow is being written at",
    'the end, less the peak of a 10-flow run, divided by the number of flows: an upper bound for an idle flow.',
    '',
  );
  return lines;
}

function appendReadme(section: string): void {
  const path = join(repo, 'README.md');
  const current = readFileSync(path, 'utf8');
  const at = current.indexOf('\n## Performance\n');
  if (at >= 0) {
    // Replace our own section, which is the last one, and keep anything after it that is not ours.
    const after = current.indexOf('\n## ', at + 1);
    const tail = after >= 0 ? current.slice(after) : '';
    writeFileSync(path, `${current.slice(0, at + 1)}${section}${tail}`);
  } else {
    appendFileSync(path, `${current.endsWith('\n') ? '\n' : '\n\n'}${section}`);
  }
}

// ------------------------------------------------------------------ main

async function main(): Promise<number> {
  if (flag('from-results')) {
    // Rewrites the README's Performance section from bench/results.json (after a change of its wording).
    const results = JSON.parse(readFileSync(join(repo, 'bench/results.json'), 'utf8')) as Results;
    const text = report(results);
    process.stdout.write(`${text}\n`);
    appendReadme(readmeSection(results, text));
    return 0;
  }
  log(`work directory ${work}; ${JSON.stringify(config)}`);
  let net: TestNetwork | null = null;
  let liveSkipped: string | null = config.live ? null : 'disabled (--no-live)';
  if (liveSkipped === null && process.getuid?.() !== 0) liveSkipped = 'needs root';
  if (liveSkipped === null) liveSkipped = ensureTcpreplay();
  try {
    if (liveSkipped === null) {
      try {
        net = await createTestNetwork();
      } catch (error) {
        liveSkipped = `no network namespaces: ${(error as Error).message.split('\n')[0]}`;
      }
    }
    const serverV4 = net?.serverV4 ?? '10.200.0.1';
    const serverV6 = net?.serverV6 ?? 'fd00:200::1';

    log(`generating ${fmt(config.packets)} packets over ${fmt(config.flows)} flows (seed ${config.seed})`);
    const genStarted = performance.now();
    const fullPcap = join(work, 'gen.pcap');
    const snapPcap = join(work, 'gen-256.pcap');
    const events = join(work, 'gen.jsonl');
    const gen = generate({
      pcapPath: net !== null ? fullPcap : undefined,
      snapPcapPath: snapPcap,
      eventsPath: events,
      packets: config.packets,
      flows: config.flows,
      v6Fraction: config.v6Fraction,
      seed: config.seed,
      serverV4,
      serverV6,
    });
    const genSeconds = (performance.now() - genStarted) / 1000;
    log(`generated in ${fmt(genSeconds, 1)} s: ${fmt(gen.pureAcks)} pure ACKs, ${fmt(gen.fullSize)} full-size, ${fmt(gen.midSize)} mid-size, ${fmt(gen.control)} SYN/FIN; ${fmt(gen.v6Flows)} IPv6 flows`);

    // The generated files are still being written back: let the disk settle before measuring.
    spawnSync('sync');
    log('phase 1: offline pipeline ceiling');
    const offline = await offlinePhase(snapPcap, events, gen);

    let live: LiveResult | { skipped: string };
    if (net !== null) {
      log('phase 2: live capture');
      try {
        live = await livePhase(net, fullPcap, events, gen);
      } catch (error) {
        log(`live phase failed: ${(error as Error).stack ?? String(error)}`);
        live = { skipped: `failed: ${(error as Error).message.split('\n')[0]}` };
      }
      await net.destroy();
      net = null;
    } else {
      live = { skipped: liveSkipped ?? 'unavailable' };
    }
    rmSync(fullPcap, { force: true });
    rmSync(snapPcap, { force: true });

    log('phase 3: memory');
    const memory = await memoryPhase(serverV4, serverV6);

    const fs = filesystemOf(work);
    const partial: Omit<Results, 'targets'> = {
      date: new Date().toISOString(),
      command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '?', memoryGiB: Math.round(totalmem() / 1024 ** 3), kernel: release(), node: process.version, datadirFs: `${fs} (${tmpdir()}); pipeline ceiling on ${offline.outputFs}` },
      config,
      generated: { ...gen, seconds: genSeconds },
      offline,
      live,
      memory,
    };
    const results: Results = { ...partial, targets: targets(partial) };
    const text = report(results);
    process.stdout.write(`${text}\n`);
    if (config.write) {
      mkdirSync(join(repo, 'bench'), { recursive: true });
      writeFileSync(join(repo, 'bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);
      appendReadme(readmeSection(results, text));
      log('wrote bench/results.json and the Performance section of README.md');
    }
    return 0;
  } finally {
    if (net !== null) await net.destroy().catch((e: unknown) => log(`network cleanup: ${String(e)}`));
  }
}

main().then(
  (code) => {
    cleanupSync();
    process.exit(code);
  },
  (error: unknown) => {
    log(`failed: ${(error as Error).stack ?? String(error)}`);
    cleanupSync();
    process.exit(1);
  },
);
