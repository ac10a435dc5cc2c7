// Phase 1, the pipeline ceiling: a generated capture through
// `packet-headers -read FILE -events FILE` (output on tmpfs, then once on the
// disk): CPU per packet, packets/s, peak RSS, bytes written, every packet
// accounted for in the files (and a sample read by tshark); plus the cost of
// each hot-path stage measured in-process.
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync, unlinkSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { ceilingRoot, commandExists, diskRoot, fmt, log, median, runDaemonOffline, work, type OfflineRun } from './common.js';
import type { GenResult } from './gen.js';
import { config } from './options.js';
import { countOutput, countPcapGz } from './pcapcount.js';
import { measureStages, type StageCosts } from './stages.js';

export interface DiskRun {
  fs: string;
  wallMs: number;
  packetsPerSecond: number;
  cpuUsPerPacket: number;
  cpuSystemUsPerPacket: number;
  /** System CPU per file written, µs: what creating, writing, syncing and renaming a file costs the kernel. */
  cpuSystemUsPerFile: number;
  allPacketsSaved: boolean;
}

/**
 * An uploader: every 10 ms, each finished file under `datadir` is read (its
 * packets counted, as a reader shipping it would) and deleted.
 */
function startUploader(datadir: string): { stop(): { files: number; packets: number } } {
  let files = 0;
  let packets = 0;
  const ship = () => {
    let entries: Dirent[];
    try {
      entries = readdirSync(datadir, { recursive: true, withFileTypes: true });
    } catch {
      return; // not made yet
    }
    for (const entry of entries) {
      if (!entry.isFile() || !entry.name.endsWith('.pcap.gz') || entry.name.startsWith('.')) continue;
      const path = join(entry.parentPath, entry.name);
      packets += countPcapGz(path).packets;
      unlinkSync(path);
      files++;
    }
  };
  const timer = setInterval(ship, 10);
  return {
    stop() {
      clearInterval(timer);
      ship();
      return { files, packets };
    },
  };
}

async function diskRun(snapPcap: string, events: string, gen: GenResult, tag: string, uploader: boolean): Promise<DiskRun & { filesUploaded: number }> {
  const disk = diskRoot();
  const datadir = join(disk.dir, tag);
  spawnSync('sync');
  const upload = uploader ? startUploader(datadir) : null;
  const run = await runDaemonOffline(
    ['-read', snapPcap, '-events', events, '-datadir', datadir, '-prometheusx.listen-address', '127.0.0.1:0'],
    join(work, `${tag}.json`),
  );
  const shipped = upload?.stop() ?? null;
  const cpuUs = run.usage.cpuUserUs + run.usage.cpuSystemUs;
  const files = shipped === null ? countOutput(datadir) : { files: shipped.files, packets: shipped.packets };
  rmSync(datadir, { recursive: true, force: true });
  log(`offline run on disk${uploader ? ' with an uploader' : ''}: ${fmt(run.wallMs)} ms, ${fmt(cpuUs / 1000)} ms CPU (sys ${fmt(run.usage.cpuSystemUs / 1000)})`);
  return {
    fs: disk.fs,
    wallMs: run.wallMs,
    packetsPerSecond: gen.packets / (run.wallMs / 1000),
    cpuUsPerPacket: cpuUs / gen.packets,
    cpuSystemUsPerPacket: run.usage.cpuSystemUs / gen.packets,
    cpuSystemUsPerFile: run.usage.cpuSystemUs / Math.max(1, files.files),
    allPacketsSaved: files.packets === gen.packets,
    filesUploaded: shipped?.files ?? 0,
  };
}

export interface OfflineResult {
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
  disk: DiskRun | null;
  /** On the disk again, with an uploader deleting each file as it appears (M-Lab's pusher does so). */
  diskWithUploader: (DiskRun & { filesUploaded: number }) | null;
}

export async function offlinePhase(snapPcap: string, events: string, gen: GenResult): Promise<OfflineResult> {
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
  // The same run with the output on the disk's filesystem, where creating files costs what it costs there;
  // then again with an uploader deleting the files as they come, right after the first run's were deleted.
  let disk: OfflineResult['disk'] = null;
  let diskWithUploader: OfflineResult['diskWithUploader'] = null;
  if (root.dir !== diskRoot().dir) {
    const { filesUploaded: _, ...plain } = await diskRun(snapPcap, events, gen, 'offline-disk', false);
    disk = plain;
    diskWithUploader = await diskRun(snapPcap, events, gen, 'offline-uploaded', true);
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
    stages = await measureStages(snapPcap, events, config.quick ? 1 : 2);
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
    diskWithUploader,
  };
}
