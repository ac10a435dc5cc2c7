// A demuxer wired to a fake clock, a real temporary directory and its own
// metrics registry, for lifecycle tests that never sleep.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flowKeyFromText, newFlowKey } from '../../src/decode/flowkey.js';
import { Demuxer, type DemuxerOptions } from '../../src/demux/demuxer.js';
import { nameFromSources, type FlowSource } from '../../src/flowevents/flowsource.js';
import type { FlowOpenEvent } from '../../src/flowevents/types.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { Anonymizer, type AnonymizationMode } from '../../src/demux/anonymize.js';
import { FlowStore } from '../../src/saver/flowstore.js';

export class FakeClock {
  t = 1_000_000;
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface Fixture {
  demuxer: Demuxer;
  /** The demuxer's flow store: a test routes into it directly as a live capture's thread does. */
  store: FlowStore;
  clock: FakeClock;
  metrics: Metrics;
  datadir: string;
  logs: string[];
  memory: { bytes: number };
  /** Every file under datadir, relative paths, sorted. */
  files(): string[];
  cleanup(): void;
}

export function makeFixture(
  options: Partial<DemuxerOptions> = {},
  extra: { anonymize?: AnonymizationMode; localAddresses?: string[]; datadir?: string; wallClock?: () => number; sources?: FlowSource[] } = {},
): Fixture {
  const datadir = extra.datadir ?? mkdtempSync(join(tmpdir(), 'ph-demux-'));
  const clock = new FakeClock();
  const metrics = new Metrics({ processMetrics: false });
  const logs: string[] = [];
  const memory = { bytes: 0 };
  const store = new FlowStore({ stream: options.stream ?? false });
  const demuxer = new Demuxer(
    {
      datadir,
      stream: false,
      uuidWaitMs: 5000,
      captureDurationMs: 30000,
      flowTimeoutMs: 30000,
      maxFlows: 0,
      maxHeapBytes: 8e9,
      ...options,
    },
    {
      clock,
      memoryInUse: () => memory.bytes,
      anonymizer: new Anonymizer(extra.anonymize ?? 'none', extra.localAddresses ?? []),
      store,
      metrics,
      log: (m) => logs.push(m),
      wallClock: extra.wallClock,
      nameFlow: extra.sources === undefined ? undefined : (flow) => nameFromSources(extra.sources ?? [], flow),
    },
  );
  const files = () => {
    const found: string[] = [];
    const walk = (dir: string, prefix: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
        if (entry.isDirectory()) walk(join(dir, entry.name), rel);
        else found.push(rel);
      }
    };
    walk(datadir, '');
    return found.sort();
  };
  const cleanup = () => {
    store.close();
    if (extra.datadir === undefined) rmSync(datadir, { recursive: true, force: true });
  };
  return { demuxer, store, clock, metrics, datadir, logs, memory, files, cleanup };
}

export function openEvent(uuid: string, src: string, sport: number, dst: string, dport: number, timestampMs = Date.UTC(2019, 7, 21, 16, 10)): FlowOpenEvent {
  const key = newFlowKey();
  if (!flowKeyFromText(src, sport, dst, dport, key)) throw new Error('bad address in test');
  return { kind: 'open', uuid, timestampMs, key, srcIP: src, srcPort: sport, dstIP: dst, dstPort: dport };
}

/** Current value of a counter or gauge child. */
export async function metricValue(metric: { get(): Promise<{ values: Array<{ value: number; labels: object }> }> }, labels: Record<string, string> = {}): Promise<number> {
  const data = await metric.get();
  const match = data.values.find((v) => Object.entries(labels).every(([k, x]) => (v.labels as Record<string, string>)[k] === x));
  return match?.value ?? 0;
}
