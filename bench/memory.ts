// Phase 3, memory: 10,000 and 100,000 concurrent short flows (5 packets
// each, offline), peak RSS over a 10-flow baseline run: an upper bound of the
// memory an idle flow holds.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ceilingRoot, fmt, log, mib, runDaemonOffline, work } from './common.js';
import { generate } from './gen.js';
import { config } from './options.js';
import { countOutput } from './pcapcount.js';

export interface MemoryResult {
  flows: number;
  packets: number;
  peakRssBytes: number;
  baselineRssBytes: number;
  bytesPerFlow: number;
  files: number;
  wallMs: number;
}

export async function memoryPhase(serverV4: string, serverV6: string): Promise<MemoryResult[]> {
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
