// Malformed frames through the JavaScript reference decoder
// (src/decode/describe.ts) and the demuxer: every frame must end up counted
// exactly once — as a bad packet, a saved packet, a missed packet or an
// ignored one — and no exception may escape. Live and offline capture decode
// in C instead (native/decode.cc); that decoder and the flow store's record
// copy are fuzzed by native-fuzz.ts under AddressSanitizer and UBSan.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Demuxer } from '../src/demux/demuxer.js';
import { Metrics } from '../src/metrics/metrics.js';
import { Anonymizer } from '../src/demux/anonymize.js';
import { FlowStore } from '../src/saver/flowstore.js';
import { batchOf } from '../test/helpers/frames.js';
import { FrameMutator } from '../test/helpers/mutate.js';

export interface MalformedResult {
  frames: number;
  bad: number;
  saved: number;
  missed: number;
  ignored: number;
  badByReason: Record<string, number>;
  seconds: number;
}

async function total(metric: { get(): Promise<{ values: Array<{ value: number; labels: object }> }> }, label?: string) {
  const data = await metric.get();
  const byLabel: Record<string, number> = {};
  let sum = 0;
  for (const v of data.values) {
    sum += v.value;
    if (label === undefined) continue;
    const name = String((v.labels as Record<string, unknown>)[label]);
    byLabel[name] = (byLabel[name] ?? 0) + v.value;
  }
  return { sum, byLabel };
}

export async function runMalformed(frames: number, seed: number): Promise<MalformedResult> {
  const datadir = mkdtempSync(join(tmpdir(), 'ph-malformed-'));
  const metrics = new Metrics({ processMetrics: false });
  const store = new FlowStore();
  let clock = 0;
  const demuxer = new Demuxer(
    { datadir, stream: false, uuidWaitMs: 1000, captureDurationMs: 2000, flowTimeoutMs: 2000, maxFlows: 5000, maxHeapBytes: 8e9 },
    {
      clock: { now: () => clock },
      memoryInUse: () => 0,
      anonymizer: new Anonymizer('netblock', ['10.1.2.3']),
      store,
      metrics,
      log: () => {},
    },
  );
  const mutator = new FrameMutator(seed);
  const started = performance.now();
  try {
    const perBatch = 2000;
    for (let done = 0; done < frames; ) {
      // One batch per link type, as one capture handle would deliver.
      const byLink = new Map<number, Buffer[]>();
      const n = Math.min(perBatch, frames - done);
      for (let i = 0; i < n; i++) {
        const { frame, linkType } = mutator.next();
        const list = byLink.get(linkType);
        if (list === undefined) byLink.set(linkType, [frame]);
        else list.push(frame);
      }
      for (const [linkType, list] of byLink) demuxer.handleBatch(batchOf(list.map((frame) => ({ frame }))), linkType);
      done += n;
      clock += 100;
      demuxer.tick();
    }
    await demuxer.closeAll();
  } finally {
    store.close();
    rmSync(datadir, { recursive: true, force: true });
  }
  const bad = await total(metrics.badPacketsByReason, 'reason');
  return {
    frames,
    bad: (await total(metrics.badPackets)).sum,
    saved: (await total(metrics.packetsSaved)).sum,
    missed: (await total(metrics.missedPackets)).sum,
    ignored: (await total(metrics.ignored)).sum,
    badByReason: bad.byLabel,
    seconds: (performance.now() - started) / 1000,
  };
}

// As a script: node dist/hardening/malformed.js [frames] [seed]
if (import.meta.url === `file://${process.argv[1]}`) {
  const frames = Number(process.argv[2] ?? 10_000_000);
  const seed = Number(process.argv[3] ?? 20261122);
  runMalformed(frames, seed).then((r) => {
    const accounted = r.bad + r.saved + r.missed + r.ignored;
    console.log(JSON.stringify({ ...r, accounted, framesPerSecond: Math.round(r.frames / r.seconds) }, null, 2));
    process.exitCode = accounted === r.frames ? 0 : 1;
  });
}
