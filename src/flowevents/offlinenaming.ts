// Names of flows read from files (-read) without -events: made from the flow
// itself when its first packet is seen, the same on every run.
import { basename } from 'node:path';
import { addressText, portOf, type FlowKey } from '../decode/flowkey.js';
import type { FlowSource, UnnamedFlow } from './flowsource.js';
import type { FlowOpenEvent } from './types.js';

/**
 * The name of a flow read without events: the input file (without `.pcap`
 * or `.pcap.gz`), the flow's endpoints and its first packet's time, e.g.
 * `trace_10.0.0.1_80_10.0.0.2_40000_1566403800.123456789`. With several
 * -read files, the input is the one holding the flow's first packet (in the
 * merged order, so the same on every run).
 */
export function offlineFlowName(source: string, key: FlowKey, seconds: number, nanoseconds: number): string {
  const base = basename(source).replace(/\.pcap(\.gz)?$/, '').replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100);
  const endpoint = (e: 0 | 1) => `${addressText(key, e).replaceAll(':', '-')}_${portOf(key, e)}`;
  return `${base}_${endpoint(0)}_${endpoint(1)}_${seconds}.${String(nanoseconds).padStart(9, '0')}`;
}

/** Names every flow at its first packet with offlineFlowName. */
export class OfflineNamingSource implements FlowSource {
  start(): Promise<void> {
    return Promise.resolve();
  }

  nameFlow(flow: UnnamedFlow): FlowOpenEvent {
    const uuid = offlineFlowName(flow.input, flow.key, flow.seconds, flow.nanoseconds);
    return { kind: 'open', uuid, timestampMs: flow.seconds * 1000, key: flow.key, srcIP: '', srcPort: 0, dstIP: '', dstPort: 0 };
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}
