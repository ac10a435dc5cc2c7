// Names of flows read from files (-read), given when a flow's first packet is
// seen: the -events file's Open event for the flow when there is one, else
// (without -events) a name made from the flow itself, the same on every run.
import { basename } from 'node:path';
import type { BatchInputs } from '../capture/batchinputs.js';
import { addressText, flowKeysEqual, portOf, type FlowKey } from '../decode/flowkey.js';
import type { FlowOpenEvent } from '../flowevents/types.js';

/** A name for a flow from the input its first packet came from, its key and that packet's time. */
export type AutoName = (source: string, key: FlowKey, seconds: number, nanoseconds: number) => string;

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

export class OfflineNaming {
  /** Open events that name flows not seen yet (-events), by key hash. */
  private readonly expected = new Map<number, FlowOpenEvent[]>();
  private readonly autoName: AutoName | undefined;

  constructor(autoName?: AutoName) {
    this.autoName = autoName;
  }

  /** Remembers an Open event for a flow whose packets are still to come. */
  expect(event: FlowOpenEvent, hash: number): void {
    const list = this.expected.get(hash);
    if (list === undefined) this.expected.set(hash, [event]);
    else list.push(event);
  }

  /**
   * The Open event naming a flow whose first packet is record number `record`
   * of the batch, stamped `seconds`.`nanoseconds`, from `source` (the input,
   * or for merged files the batch's inputs); null when neither an expected
   * event nor the naming rule names it. An expected event is used once.
   */
  eventFor(key: FlowKey, hash: number, source: string | BatchInputs, record: number, seconds: number, nanoseconds: number): FlowOpenEvent | null {
    const list = this.expected.size === 0 ? undefined : this.expected.get(hash);
    if (list !== undefined) {
      const at = list.findIndex((e) => flowKeysEqual(e.key, key));
      if (at >= 0) {
        const [event] = list.splice(at, 1);
        if (list.length === 0) this.expected.delete(hash);
        return event;
      }
    }
    if (this.autoName === undefined) return null;
    const input = typeof source === 'string' ? source : source.nameOf(record);
    const uuid = this.autoName(input, key, seconds, nanoseconds);
    return { kind: 'open', uuid, timestampMs: seconds * 1000, key, srcIP: '', srcPort: 0, dstIP: '', dstPort: 0 };
  }
}
