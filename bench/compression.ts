// What the flow store's compression costs against what it saves, for
// libdeflate levels and chunk sizes (raw bytes per gzip member): a generated
// capture's records (snaplen 256, cut to each flow's header length by the
// store as in the daemon) go through the demuxer into stores of each setting,
// alternating settings round by round (this VM's speed drifts within
// minutes), with files on /dev/shm. For each: the store threads' CPU per
// packet (best round), bytes written per packet and the ratio to the records'
// raw pcap bytes.
//
//   node dist/bench/compression.js [--packets N] [--flows N] [--rounds N] [--levels 1,2,4,6] [--chunks 16,32,64,128]
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Demuxer } from '../src/demux/demuxer.js';
import { EventListSource, readEventFile } from '../src/flowevents/eventfile.js';
import { Metrics } from '../src/metrics/metrics.js';
import { Anonymizer } from '../src/demux/anonymize.js';
import { FlowStore } from '../src/saver/flowstore.js';
import { fmt, median } from './common.js';
import { generate } from './gen.js';
import { pcapToBatches, rawTreeBytes, threadsCpuUs, treeBytes } from './stages.js';

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

const packets = Number(option('packets', '1000000'));
const flows = Number(option('flows', '4000'));
const rounds = Number(option('rounds', '3'));
const levels = option('levels', '1,2,4,6').split(',').map(Number);
const chunksKiB = option('chunks', '16,32,64,128').split(',').map(Number);

interface Setting {
  level: number;
  chunkKiB: number;
  storeUs: number[];
  bytesWritten: number;
  rawBytes: number;
}

/** How many ph-store threads are alive now. */
function storeThreadCount(): number {
  let count = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === 'ph-store') count++;
    } catch {
      // ended meanwhile
    }
  }
  return count;
}

/** Waits (a bounded while) until the previous store's threads are gone, so a run counts its own threads only. */
async function noStoreThreads(): Promise<void> {
  for (let i = 0; i < 200 && storeThreadCount() > 0; i++) await new Promise((r) => setTimeout(r, 10));
  if (storeThreadCount() > 0) throw new Error('the previous flow store\'s threads did not end');
}

async function runOnce(setting: Setting, batches: Buffer[], linkType: number, opens: ReturnType<typeof readEventFile>['opens']): Promise<void> {
  await noStoreThreads();
  const datadir = mkdtempSync('/dev/shm/ph-compression-');
  const store = new FlowStore({ level: setting.level, chunkBytes: setting.chunkKiB * 1024, sync: false });
  const events = new EventListSource(opens);
  const demuxer = new Demuxer(
    { datadir, stream: false, uuidWaitMs: 600_000, captureDurationMs: 600_000, flowTimeoutMs: 600_000, maxFlows: 0, maxHeapBytes: Infinity, packetTime: true },
    { clock: { now: () => 0 }, memoryInUse: () => 0, anonymizer: new Anonymizer('none', []), store, metrics: new Metrics({ processMetrics: false }), log: () => {}, nameFlow: (flow) => events.nameFlow(flow) },
  );
  for (const batch of batches) demuxer.handleBatch(batch, linkType, 'bench');
  await demuxer.closeAll();
  // The threads are still alive until close(): read their CPU first.
  setting.storeUs.push(threadsCpuUs((name) => name === 'ph-store') / packets);
  store.close();
  if (setting.rawBytes === 0) {
    setting.bytesWritten = treeBytes(datadir);
    setting.rawBytes = rawTreeBytes(datadir);
  }
  rmSync(datadir, { recursive: true, force: true });
}

const scratch = mkdtempSync('/dev/shm/ph-compression-input-');
try {
  const pcap = join(scratch, 'snap.pcap');
  const eventsPath = join(scratch, 'events.jsonl');
  generate({ snapPcapPath: pcap, eventsPath, packets, flows, v6Fraction: 0.25, seed: 20240404, serverV4: '10.77.0.1', serverV6: 'fd00:77::1' });
  const { batches, linkType } = pcapToBatches(pcap);
  const opens = readEventFile(eventsPath).opens;
  const settings: Setting[] = [];
  for (const level of levels) for (const chunkKiB of chunksKiB) settings.push({ level, chunkKiB, storeUs: [], bytesWritten: 0, rawBytes: 0 });
  for (let round = 0; round < rounds; round++) {
    // A different order each round, so no setting always runs first or last.
    const order = settings.map((_, i) => (i + round * 3) % settings.length);
    for (const i of order) {
      // Each store starts its own threads; the previous store's are gone once it is closed.
      await runOnce(settings[i], batches, linkType, opens);
    }
    process.stderr.write(`compression: round ${round + 1} of ${rounds} done\n`);
  }
  process.stdout.write(`${fmt(packets)} packets, ${fmt(flows)} flows; store threads' CPU per packet: best (median) of ${rounds} rounds\n`);
  process.stdout.write('level  chunk KiB  store µs/packet   bytes/packet  of raw\n');
  for (const s of settings) {
    const best = Math.min(...s.storeUs);
    process.stdout.write(
      `${String(s.level).padStart(5)}  ${String(s.chunkKiB).padStart(9)}  ${fmt(best, 3).padStart(6)} (${fmt(median(s.storeUs), 3)})  ${fmt(s.bytesWritten / packets, 1).padStart(12)}  ${fmt((100 * s.bytesWritten) / s.rawBytes, 1).padStart(5)} %\n`,
    );
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
