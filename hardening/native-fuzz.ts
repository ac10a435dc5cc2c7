// Malformed frames through the code that production runs: the addon's offline
// capture reads generated pcap files and describes every record on its capture
// thread (native/decode.cc), the demuxer routes them with every flow named (as
// `-read` does), and the native flow store copies, trims, zeroes, compresses
// and writes them (native/router.cc, native/file_jobs.cc). Meant to run under the
// AddressSanitizer/UBSan build (scripts/build-sanitize.sh): any report aborts
// the process, and every frame written must be counted exactly once (bad by
// reason, saved, missed or shed).
//
// node dist/hardening/native-fuzz.js [frames] [seed]   builds the sanitizer addon if needed and runs under it
// node dist/hardening/native-fuzz.js --child FRAMES SEED   the run itself, in whatever addon is loaded
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DESCRIPTION_WORDS } from '../src/native/layout.js';
import { ADDON_PATH_ENV, loadAddon, type NativeAddon } from '../src/native/addon.js';
import { OfflineNamingSource } from '../src/flowevents/offlinenaming.js';
import { splitAddonBatch } from '../src/decode/describe.js';
import { Demuxer } from '../src/demux/demuxer.js';
import { Metrics } from '../src/metrics/metrics.js';
import { Anonymizer } from '../src/demux/anonymize.js';
import { FlowStore } from '../src/saver/flowstore.js';
import { FrameMutator } from '../test/helpers/mutate.js';

export interface NativeFuzzResult {
  frames: number;
  /** Frames libpcap read back from the generated files (must equal frames). */
  read: number;
  bad: number;
  saved: number;
  missed: number;
  ignored: number;
  badByReason: Record<string, number>;
  ignoredByReason: Record<string, number>;
  /** Frames written per link type. */
  framesByLinkType: Record<string, number>;
  filesWritten: number;
  filesOnDisk: number;
  /** The addon file mapped into the process, and whether ASan's runtime is too. */
  addonMapped: string;
  asanRuntime: boolean;
  seconds: number;
}

/** Frames per round: each round writes one pcap file per link type and reads them. */
const ROUND_FRAMES = 250_000;
/** Larger than any generated frame, so libpcap never cuts one: the decoder sees every byte written. */
const SNAPLEN = 262_144;
const START_SECONDS = 1_700_000_000;
/** 100 µs of packet time between frames, so flows time out and deadlines fire as the run goes. */
const FRAME_SPACING_NS = 100_000;

/** A classic pcap file with nanosecond timestamps. */
function writePcap(path: string, linkType: number, frames: readonly Buffer[], firstNs: bigint): void {
  const fd = openSync(path, 'w');
  try {
    const header = Buffer.alloc(24);
    header.writeUInt32LE(0xa1b23c4d, 0);
    header.writeUInt16LE(2, 4);
    header.writeUInt16LE(4, 6);
    header.writeUInt32LE(SNAPLEN, 16);
    header.writeUInt32LE(linkType, 20);
    const parts: Buffer[] = [header];
    let size = header.length;
    const flush = () => {
      writeSync(fd, Buffer.concat(parts, size));
      parts.length = 0;
      size = 0;
    };
    frames.forEach((frame, i) => {
      const ns = firstNs + BigInt(i) * BigInt(FRAME_SPACING_NS);
      const record = Buffer.alloc(16);
      record.writeUInt32LE(Number(ns / 1_000_000_000n), 0);
      record.writeUInt32LE(Number(ns % 1_000_000_000n), 4);
      record.writeUInt32LE(frame.length, 8);
      record.writeUInt32LE(frame.length, 12);
      parts.push(record, frame);
      size += 16 + frame.length;
      if (size > 1 << 20) flush();
    });
    flush();
  } finally {
    closeSync(fd);
  }
}

async function sum(metric: { get(): Promise<{ values: Array<{ value: number; labels: object }> }> }, label?: string) {
  const data = await metric.get();
  const byLabel: Record<string, number> = {};
  let total = 0;
  for (const v of data.values) {
    total += v.value;
    if (label === undefined) continue;
    const name = String((v.labels as Record<string, unknown>)[label]);
    byLabel[name] = (byLabel[name] ?? 0) + v.value;
  }
  return { total, byLabel };
}

function countFiles(dir: string): number {
  let n = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) n += countFiles(join(dir, entry.name));
    else if (entry.name.endsWith('.pcap.gz')) n++;
  }
  return n;
}

/**
 * Reads one file with the addon's offline capture (no BPF filter: every
 * record reaches the decoder) into a fresh demuxer and flow store. Resolves
 * with the number of records read once every flow is written.
 */
async function readThrough(addon: NativeAddon, file: string, datadir: string, metrics: Metrics): Promise<number> {
  const store = new FlowStore();
  const naming = new OfflineNamingSource();
  const demuxer = new Demuxer(
    {
      datadir,
      stream: false,
      uuidWaitMs: 1000,
      captureDurationMs: 2000,
      flowTimeoutMs: 2000,
      maxFlows: 2000,
      maxHeapBytes: 64e9,
      packetTime: true,
    },
    { clock: { now: () => 0 }, memoryInUse: () => 0, anonymizer: new Anonymizer('netblock', ['10.1.2.3']), store, metrics, log: () => {}, nameFlow: (flow) => naming.nameFlow(flow) },
  );
  let read = 0;
  try {
    const capture = new addon.Capture({ file, snaplen: SNAPLEN, filter: '' });
    const linkType = capture.linkType;
    const error = await new Promise<string | null>((done) => {
      capture.start((batch, recordsBytes) => {
        const { records, described } = splitAddonBatch(batch, recordsBytes);
        read += described.length / DESCRIPTION_WORDS;
        demuxer.handleBatch(records, linkType, file, described);
      }, done);
    });
    if (error !== null) throw new Error(`reading ${file}: ${error}`);
    await demuxer.closeAll();
  } finally {
    store.close();
  }
  return read;
}

/** The run itself, with whatever addon loadAddon() gives (the sanitizer build under runUnderSanitizer). */
export async function runNativeFuzz(frames: number, seed: number): Promise<NativeFuzzResult> {
  const addon = loadAddon();
  const work = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ph-native-fuzz-'));
  const metrics = new Metrics({ processMetrics: false });
  const mutator = new FrameMutator(seed);
  const framesByLinkType: Record<string, number> = {};
  let read = 0;
  let filesOnDisk = 0;
  let frameIndex = 0n;
  const started = performance.now();
  try {
    for (let done = 0; done < frames; ) {
      const n = Math.min(ROUND_FRAMES, frames - done);
      const byLink = new Map<number, Buffer[]>();
      for (let i = 0; i < n; i++) {
        const { frame, linkType } = mutator.next();
        const list = byLink.get(linkType);
        if (list === undefined) byLink.set(linkType, [frame]);
        else list.push(frame);
      }
      for (const [linkType, list] of byLink) {
        framesByLinkType[linkType] = (framesByLinkType[linkType] ?? 0) + list.length;
        const file = join(work, `round-link${linkType}.pcap`);
        const datadir = join(work, 'data');
        mkdirSync(datadir, { recursive: true });
        const firstNs = BigInt(START_SECONDS) * 1_000_000_000n + frameIndex * BigInt(FRAME_SPACING_NS);
        frameIndex += BigInt(list.length);
        writePcap(file, linkType, list, firstNs);
        read += await readThrough(addon, file, datadir, metrics);
        // Files are counted and removed per round, so millions of flows never sit on disk at once.
        filesOnDisk += countFiles(datadir);
        rmSync(datadir, { recursive: true, force: true });
        rmSync(file, { force: true });
      }
      done += n;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const bad = await sum(metrics.badPacketsByReason, 'reason');
  const ignored = await sum(metrics.ignored, 'reason');
  return {
    frames,
    read,
    bad: (await sum(metrics.badPackets)).total,
    saved: (await sum(metrics.packetsSaved)).total,
    missed: (await sum(metrics.missedPackets)).total,
    ignored: ignored.total,
    badByReason: bad.byLabel,
    ignoredByReason: ignored.byLabel,
    framesByLinkType,
    filesWritten: (await sum(metrics.filesWritten)).total,
    filesOnDisk,
    ...mappedAddon(),
    seconds: (performance.now() - started) / 1000,
  };
}

/** Which addon build this process runs, as the kernel maps it. */
function mappedAddon(): { addonMapped: string; asanRuntime: boolean } {
  const maps = readFileSync('/proc/self/maps', 'utf8').split('\n');
  const addon = maps.find((line) => line.endsWith('packet_headers_capture.node')) ?? '';
  return { addonMapped: addon.slice(addon.indexOf('/')), asanRuntime: maps.some((line) => /\/libasan\.so/.test(line)) };
}

/** Every property of a run; empty when all hold. */
export function problemsOf(r: NativeFuzzResult): string[] {
  const problems: string[] = [];
  const accounted = r.bad + r.saved + r.missed + r.ignored;
  if (r.read !== r.frames) problems.push(`libpcap read ${r.read} of ${r.frames} frames`);
  if (accounted !== r.frames) problems.push(`${accounted} frames accounted for (bad ${r.bad} + saved ${r.saved} + missed ${r.missed} + shed ${r.ignored}), ${r.frames} written`);
  if (r.filesOnDisk !== r.filesWritten) problems.push(`${r.filesOnDisk} files on disk, ${r.filesWritten} counted as written`);
  return problems;
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Builds the ASan/UBSan addon when it is missing or older than native/; returns its path. */
export function buildSanitizerAddon(): string {
  const r = spawnSync(join(root, 'scripts', 'build-sanitize.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`scripts/build-sanitize.sh failed (${r.status ?? r.signal})`);
  return r.stdout.trim().split('\n').at(-1) as string;
}

function gccRuntime(name: string): string {
  const path = spawnSync('gcc', [`-print-file-name=${name}`], { encoding: 'utf8' }).stdout.trim();
  if (!path.startsWith('/')) throw new Error(`gcc does not know ${name}`);
  return path;
}

/**
 * The environment that loads the sanitizer build into an uninstrumented node:
 * the runtimes preloaded (ASan must come first), leaks not reported (node
 * keeps memory until exit by design), and every report fatal.
 */
export function sanitizerEnv(addonPath: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    [ADDON_PATH_ENV]: addonPath,
    LD_PRELOAD: `${gccRuntime('libasan.so')} ${gccRuntime('libubsan.so')}`,
    ASAN_OPTIONS: 'detect_leaks=0:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=0',
    UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
  };
}

export interface SanitizedRun {
  result: NativeFuzzResult | null;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Sanitizer report lines found on stderr. */
  reports: string[];
  stderr: string;
}

/** Runs runNativeFuzz in a child node process with the sanitizer addon. */
export async function runUnderSanitizer(frames: number, seed: number): Promise<SanitizedRun> {
  const addonPath = buildSanitizerAddon();
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', String(frames), String(seed)], {
    env: sanitizerEnv(addonPath),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((done) => child.on('close', (code, sig) => done([code, sig])));
  const reports = stderr.split('\n').filter((line) => /AddressSanitizer|LeakSanitizer|runtime error:|UndefinedBehaviorSanitizer/.test(line));
  let result: NativeFuzzResult | null = null;
  try {
    result = JSON.parse(stdout) as NativeFuzzResult;
  } catch {
    result = null;
  }
  return { result, exitCode, signal, reports, stderr };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv[2] === '--child') {
    runNativeFuzz(Number(process.argv[3]), Number(process.argv[4])).then((r) => {
      process.stdout.write(JSON.stringify(r));
    });
  } else {
    const frames = Number(process.argv[2] ?? 10_000_000);
    const seed = Number(process.argv[3] ?? 20261201);
    runUnderSanitizer(frames, seed).then((run) => {
      const problems = run.result === null ? ['no result'] : problemsOf(run.result);
      if (run.exitCode !== 0) problems.push(`exit ${run.exitCode ?? run.signal}`);
      if (run.result !== null && (!run.result.asanRuntime || !run.result.addonMapped.includes('build-sanitize'))) problems.push(`not the sanitizer build: ${run.result.addonMapped}`);
      if (run.reports.length > 0) problems.push(`${run.reports.length} sanitizer report lines`);
      if (problems.length > 0) process.stderr.write(run.stderr);
      const r = run.result;
      console.log(
        JSON.stringify(
          { ...r, accounted: r === null ? null : r.bad + r.saved + r.missed + r.ignored, framesPerSecond: r === null ? null : Math.round(r.frames / r.seconds), problems },
          null,
          2,
        ),
      );
      process.exitCode = problems.length === 0 ? 0 : 1;
    });
  }
}
