// What every phase of the benchmark shares: its work directory and the
// processes it started (both removed at exit, also on failure or Ctrl-C),
// CPU and metric readings, number formatting, and running the daemon offline
// under the launcher.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineCollector } from '../test/helpers/processes.js';

export const repo = join(import.meta.dirname, '../..');
/** The daemon measured: this checkout's, or BENCH_DAEMON (another checkout's bin/packet-headers.js, for A/B runs in one sitting). */
export const bin = process.env.BENCH_DAEMON ?? join(repo, 'bin/packet-headers.js');
export const launcher = join(import.meta.dirname, 'launcher.js');

// ------------------------------------------------------------------ cleanup

export const work = mkdtempSync(join(tmpdir(), 'ph-bench-'));
const extraDirs: string[] = [];
export const children = new Set<ChildProcess>();

export function cleanupSync(): void {
  for (const dir of extraDirs) rmSync(dir, { recursive: true, force: true });
  unmountDisk();
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

export const log = (message: string) => process.stderr.write(`bench: ${message}\n`);
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ readings

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Sum of every sample of a metric in Prometheus text, optionally only those whose labels match. */
export function metric(text: string, name: string, labels?: RegExp): number {
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

/**
 * CPU time of a thread in µs, from /proc/…/schedstat (nanoseconds on CPU).
 * The utime and stime of /proc/…/stat count in clock ticks (10 ms): summed
 * over a process's threads they fall short of the process's own figure by up
 * to a tick each, which showed as CPU of no thread ("other", 0.2 µs per
 * packet in a 200,000-packet run).
 */
function schedstatUs(path: string): number {
  return Number(readFileSync(path, 'utf8').split(' ')[0]) / 1000;
}

/** Minor page faults of a thread: field 10 of /proc/…/stat, counted after the parenthesized name. */
function minorFaults(path: string): number {
  const stat = readFileSync(path, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
}

/** Times a thread gave up the CPU to wait (for packets, for jobs, for a lock): its wake-ups. */
function voluntarySwitches(path: string): number {
  const match = /^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(path, 'utf8'));
  return match === null ? 0 : Number(match[1]);
}

/** CPU of each live thread of a process, by thread id: its name, its time on CPU in µs, its minor page faults and wake-ups. */
export type ThreadCpu = Map<number, { name: string; cpuUs: number; minorFaults: number; wakeups: number }>;

export function threadCpu(pid: number): ThreadCpu {
  const out: ThreadCpu = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      out.set(Number(tid), {
        name,
        cpuUs: schedstatUs(`/proc/${pid}/task/${tid}/schedstat`),
        minorFaults: minorFaults(`/proc/${pid}/task/${tid}/stat`),
        wakeups: voluntarySwitches(`/proc/${pid}/task/${tid}/status`),
      });
    } catch {
      /* the thread ended between the listing and the read */
    }
  }
  return out;
}

/** Time on CPU of the threads of one reading, in µs. */
export function totalCpuUs(threads: ThreadCpu): number {
  let us = 0;
  for (const t of threads.values()) us += t.cpuUs;
  return us;
}

/** Time on CPU of a process's live threads, in µs. */
export function processCpuUs(pid: number): number {
  return totalCpuUs(threadCpu(pid));
}

/**
 * CPU spent between two readings, by thread kind: the daemon's own threads
 * (main, ph-capture, ph-store), V8's and libuv's helpers grouped. A thread
 * that ended in between is missing (its time is lost with it); the daemon's
 * threads live as long as it does.
 */
export function threadCpuDelta(pid: number, before: ThreadCpu, after: ThreadCpu, of: 'cpuUs' | 'minorFaults' | 'wakeups' = 'cpuUs'): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const [tid, t] of after) {
    const delta = t[of] - (before.get(tid)?.[of] ?? 0);
    const kind = threadKind(t.name, tid === pid);
    kinds[kind] = (kinds[kind] ?? 0) + delta;
  }
  return kinds;
}

function threadKind(name: string, isMain: boolean): string {
  if (isMain) return 'main';
  if (name.startsWith('ph-store')) return 'ph-store';
  if (name.startsWith('ph-capture')) return 'ph-capture';
  if (name.startsWith('V8') || name.startsWith('node')) return 'v8';
  if (name.startsWith('libuv')) return 'libuv';
  return 'other';
}

export function commandExists(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** The bench's own set-up step: tcpreplay is not needed by the daemon or its tests. */
export function ensureTcpreplay(): string | null {
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

/** The benchmark's own sender (bench/pcapsend.c), built by scripts/setup.sh beside the compiled bench. */
export const pcapsend = join(import.meta.dirname, 'pcapsend');
const pcapsendSource = join(repo, 'bench/pcapsend.c');

/** Builds pcapsend when it is missing or older than its source (as scripts/setup.sh does); a reason when it cannot. */
export function ensurePcapsend(): string | null {
  const built = (path: string) => {
    try {
      return statSync(path).mtimeMs;
    } catch {
      return -1;
    }
  };
  if (built(pcapsend) >= built(pcapsendSource)) return null;
  log(`building ${pcapsend} from bench/pcapsend.c`);
  const r = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-o', pcapsend, pcapsendSource], { encoding: 'utf8' });
  return r.status === 0 ? null : `pcapsend could not be built: ${(r.stderr || r.error?.message || '').trim().split('\n')[0]}`;
}

export const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
export const mib = (bytes: number) => bytes / (1024 * 1024);

export function filesystemOf(path: string): string {
  return spawnSync('df', ['--output=fstype', path], { encoding: 'utf8' }).stdout.trim().split('\n').pop() ?? '?';
}

/** Where the ceiling's output goes: tmpfs when there is one, so the figure is the daemon's and not the disk's. */
let ceiling: { dir: string; fs: string } | null = null;
export function ceilingRoot(): { dir: string; fs: string } {
  ceiling ??= pickCeilingRoot();
  return ceiling;
}
function pickCeilingRoot(): { dir: string; fs: string } {
  if (spawnSync('sh', ['-c', 'df -T /dev/shm 2>/dev/null | tail -1 | grep -qw tmpfs']).status === 0) {
    const dir = mkdtempSync('/dev/shm/ph-bench-');
    extraDirs.push(dir);
    return { dir, fs: 'tmpfs (/dev/shm)' };
  }
  return { dir: work, fs: `${filesystemOf(work)} (${tmpdir()})` };
}

/**
 * Where files go "on disk": a journaled ext4 that the benchmark makes on a
 * loop device (a file under the work directory), as a server's data disk is
 * formatted, so that every run meets the same fresh filesystem whatever this
 * machine's own disk is; the work directory's filesystem when that cannot be
 * done (not root, no mkfs.ext4 or loop device).
 */
let disk: { dir: string; fs: string } | null = null;
let diskMount: string | null = null;
/** Size of the loop device's (sparse) image file. */
const DISK_IMAGE_BYTES = 8 * 1024 ** 3;
export function diskRoot(): { dir: string; fs: string } {
  disk ??= makeDisk();
  return disk;
}
function makeDisk(): { dir: string; fs: string } {
  const fallback = (why: string) => {
    log(`no ext4 of its own (${why}): files "on disk" go to ${work}`);
    return { dir: work, fs: `${filesystemOf(work)} (${tmpdir()}; ${why})` };
  };
  if (process.getuid?.() !== 0) return fallback('needs root');
  if (!commandExists('mkfs.ext4')) return fallback('no mkfs.ext4');
  const image = join(work, 'ext4.img');
  const mount = join(work, 'ext4');
  writeFileSync(image, '');
  truncateSync(image, DISK_IMAGE_BYTES);
  // Inode tables and journal written now, not lazily in the background while the runs measure.
  const made = spawnSync('mkfs.ext4', ['-q', '-F', '-O', 'has_journal', '-E', 'lazy_itable_init=0,lazy_journal_init=0', image], { encoding: 'utf8' });
  if (made.status !== 0) return fallback(`mkfs.ext4: ${made.stderr.trim().split('\n')[0]}`);
  mkdirSync(mount);
  const mounted = spawnSync('mount', ['-o', 'loop', image, mount], { encoding: 'utf8' });
  if (mounted.status !== 0) return fallback(`mount -o loop: ${mounted.stderr.trim().split('\n')[0]}`);
  diskMount = mount;
  return { dir: mount, fs: `ext4 with a journal (data=ordered), on a loop device the benchmark made` };
}
function unmountDisk(): void {
  if (diskMount === null) return;
  if (spawnSync('umount', [diskMount]).status !== 0) spawnSync('umount', ['-l', diskMount]);
  diskMount = null;
}

// ------------------------------------------------------------------ the daemon, offline

export interface Usage {
  cpuUserUs: number;
  cpuSystemUs: number;
  maxRssBytes: number;
  wallMs: number;
  exitCode: number;
}

export interface OfflineRun {
  wallMs: number;
  usage: Usage;
  stderr: string;
}

/** Runs the daemon under the launcher (same process, usage written at exit), as a child of this process. */
export function runDaemonOffline(args: string[], usageFile: string, timeoutMs = 300_000): Promise<OfflineRun> {
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
