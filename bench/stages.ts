// Cost of each stage of the daemon's hot path, measured in this process on
// one thread, over the packets of a pcap file (read in JS into batches of the
// addon's layout, so libpcap's reading is not part of it):
//   describe the records' descriptions computed in JS (describeRecords); the
//            daemon has the addon compute them in C on the capture thread
//   demux    Demuxer.handleBatch given the descriptions: the main thread's
//            CPU per packet (flow lookup, and the flow store's trimming and
//            buffering)
//   gzip     the flow store's threads ("ph-store"), from the first batch until
//            every flow is finished: compressing every record at libdeflate
//            level 1 and writing the files to a scratch directory in /dev/shm
// Each figure is CPU per packet, best of `rounds`; per-thread CPU comes from
// /proc/self/task/*/schedstat (nanoseconds on CPU), so this runs on Linux.
//
//   node dist/bench/stages.js FILE.pcap EVENTS.jsonl [rounds]
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DECODE_OK, DESCRIPTION_WORDS, D_STATUS } from '../src/native/layout.js';
import { describeRecords } from '../src/decode/describe.js';
import { Demuxer } from '../src/demux/demuxer.js';
import { EventListSource, readEventFile } from '../src/flowevents/eventfile.js';
import { Metrics } from '../src/metrics/metrics.js';
import { Anonymizer } from '../src/demux/anonymize.js';
import { FlowStore } from '../src/saver/flowstore.js';

export interface StageCosts {
  packets: number;
  decodeUs: number;
  demuxUs: number;
  gzipUs: number;
  rawBytes: number;
  gzipBytes: number;
}

const BATCH_BYTES = 1 << 20;

/** The records of a classic pcap file as addon batches (nanosecond timestamps, caplen <= snaplen). */
export function pcapToBatches(path: string, snaplen = 256): { batches: Buffer[]; linkType: number; packets: number } {
  const file = readFileSync(path);
  const magic = file.readUInt32LE(0);
  const nanos = magic === 0xa1b23c4d;
  if (magic !== 0xa1b2c3d4 && !nanos) throw new Error(`${path}: not a little-endian pcap file`);
  const linkType = file.readUInt32LE(20);
  const batches: Buffer[] = [];
  let batch = Buffer.allocUnsafe(BATCH_BYTES);
  let used = 0;
  let packets = 0;
  for (let at = 24; at + 16 <= file.length; ) {
    const caplen = file.readUInt32LE(at + 8);
    const kept = Math.min(caplen, snaplen);
    if (used + 16 + kept > batch.length) {
      batches.push(batch.subarray(0, used));
      batch = Buffer.allocUnsafe(BATCH_BYTES);
      used = 0;
    }
    batch.writeUInt32LE(file.readUInt32LE(at), used);
    batch.writeUInt32LE(file.readUInt32LE(at + 4) * (nanos ? 1 : 1000), used + 4);
    batch.writeUInt32LE(kept, used + 8);
    batch.writeUInt32LE(file.readUInt32LE(at + 12), used + 12);
    file.copy(batch, used + 16, at + 16, at + 16 + kept);
    used += 16 + kept;
    packets++;
    at += 16 + caplen;
  }
  if (used > 0) batches.push(batch.subarray(0, used));
  return { batches, linkType, packets };
}

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** CPU microseconds of this process's threads that `pick` selects by name and id. */
export function threadsCpuUs(pick: (name: string, tid: number) => boolean): number {
  let ns = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      if (!pick(name, Number(tid))) continue;
      ns += Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return ns / 1000;
}

const mainThreadCpuUs = () => threadsCpuUs((_, tid) => tid === process.pid);
const storeThreadsCpuUs = () => threadsCpuUs((name) => name === 'ph-store');

/**
 * Memory-backed when the machine has it: on a disk file system the cost of
 * creating thousands of files (ext4 searching for free inodes after the last
 * round deleted its files) swamps compression and varies from run to run.
 */
function scratchRoot(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}

/** Bytes of every file under `dir` once gunzipped. */
export function rawTreeBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const path = join(dir, name);
    if (statSync(path).isFile()) total += gunzipSync(readFileSync(path)).length;
  }
  return total;
}

/** Bytes of every file under `dir`. */
export function treeBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const st = statSync(join(dir, name));
    if (st.isFile()) total += st.size;
  }
  return total;
}

export async function measureStages(pcap: string, events: string, rounds = 3): Promise<StageCosts> {
  const { batches, linkType, packets } = pcapToBatches(pcap);
  const opens = readEventFile(events).opens;
  let decodeUs = Infinity;
  let demuxUs = Infinity;
  let gzipUs = Infinity;
  let rawBytes = 0;
  let gzipBytes = 0;
  let described: Int32Array[] = [];
  for (let round = 0; round < rounds; round++) {
    let t = cpuUs();
    described = batches.map((batch) => describeRecords(batch, linkType));
    decodeUs = Math.min(decodeUs, (cpuUs() - t) / packets);
    let ok = 0;
    for (const d of described) for (let at = 0; at < d.length; at += DESCRIPTION_WORDS) if (d[at + D_STATUS] === DECODE_OK) ok++;
    if (ok !== packets) throw new Error(`describe: ${packets - ok} packets not decoded`);

    const datadir = mkdtempSync(join(scratchRoot(), 'ph-stages-'));
    const store = new FlowStore();
    const metrics = new Metrics();
    const events = new EventListSource(opens);
    const demuxer = new Demuxer(
      {
        datadir,
        stream: false,
        uuidWaitMs: 600_000,
        captureDurationMs: 600_000,
        flowTimeoutMs: 600_000,
        maxFlows: 0,
        maxHeapBytes: Infinity,
        packetTime: true,
      },
      {
        clock: { now: () => 0 },
        memoryInUse: () => 0,
        anonymizer: new Anonymizer('none', []),
        store,
        metrics,
        log: () => {},
        nameFlow: (flow) => events.nameFlow(flow),
      },
    );
    // The store's threads start with the first file: count them from zero.
    const mainBefore = mainThreadCpuUs();
    for (let i = 0; i < batches.length; i++) demuxer.handleBatch(batches[i], linkType, 'bench', described[i]);
    demuxUs = Math.min(demuxUs, (mainThreadCpuUs() - mainBefore) / packets);
    await demuxer.closeAll();
    gzipUs = Math.min(gzipUs, storeThreadsCpuUs() / packets);
    store.close();
    if (round === 0) {
      gzipBytes = treeBytes(datadir);
      rawBytes = rawTreeBytes(datadir);
    }
    rmSync(datadir, { recursive: true, force: true });
  }
  return { packets, decodeUs, demuxUs, gzipUs, rawBytes, gzipBytes };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [pcap, events, rounds] = process.argv.slice(2);
  if (pcap === undefined || events === undefined) {
    process.stderr.write('usage: stages.js FILE.pcap EVENTS.jsonl [rounds]\n');
    process.exit(2);
  }
  const r = await measureStages(pcap, events, Number(rounds ?? 3));
  process.stdout.write(`${JSON.stringify(r)}\n`);
}
