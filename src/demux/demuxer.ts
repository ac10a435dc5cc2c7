// Routes every captured packet to its flow and every flow event to its flow,
// starts and ends flows, and enforces their deadlines. It runs entirely on the
// event loop; time comes from an injected clock so tests need no sleeping.
import { join } from 'node:path';
import { RECORD_HEADER_BYTES } from '../capture/addon.js';
import type { BatchInputs } from '../capture/batchinputs.js';
import {
  D_FLAGS,
  D_HASH,
  D_KEY,
  D_RECORD,
  D_SEQ,
  D_STATUS,
  D_TCP_OFFSET,
  DESCRIPTION_WORDS,
  describeRecords,
  FLAG_FIN,
  FLAG_OPENING_SYN,
  FLAG_RST,
  FLAG_SWAPPED,
} from '../decode/describe.js';
import { hashFlowKey, KEY_WORDS, type FlowKey } from '../decode/flowkey.js';
import { DECODE_OK, DECODE_STATUS_NAMES } from '../decode/packet.js';
import type { FlowEvent, FlowOpenEvent } from '../flowevents/types.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Anonymizer } from '../saver/anonymize.js';
import type { WriteErrorReason } from '../saver/flowfile.js';
import { FlowSaver, SAVER_STATE_NAMES, SaverState } from '../saver/flowsaver.js';
import { WriteErrorLog } from '../saver/writeerrorlog.js';
import type { FlowStore } from '../saver/flowstore.js';
import { DeadlineQueue } from './deadlines.js';
import { FlowTable } from './flowtable.js';
import { OfflineNaming, type AutoName } from './offlinenaming.js';
import { PacketClock } from './packetclock.js';

/** Milliseconds; monotonic in live mode, packet time in offline mode. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => performance.now() };

export interface DemuxerOptions {
  datadir: string;
  stream: boolean;
  uuidWaitMs: number;
  captureDurationMs: number;
  flowTimeoutMs: number;
  /** 0 = unlimited. */
  maxFlows: number;
  maxHeapBytes: number;
  /** How often stream-mode flows hand their partial chunk to the file. */
  streamFlushMs?: number;
  /**
   * Offline mode: time is the timestamp of the packet being processed, and
   * deadlines are enforced as packet time passes them, so results do not
   * depend on how fast the machine reads (./packetclock.ts).
   */
  packetTime?: boolean;
  /** Offline mode without events: a name for every new flow, from its source, key and first packet (./offlinenaming.ts). */
  autoName?: AutoName;
}

export interface DemuxerDeps {
  clock: Clock;
  /** Memory in use now; called once per new flow, so it should be a cached sample. */
  memoryInUse(): number;
  anonymizer: Anonymizer;
  /** Where the flows' records and files go; its stream mode must match the demuxer's. */
  store: FlowStore;
  metrics: Metrics;
  log(message: string): void;
  /**
   * Called when a flow starts from a packet and has no name yet, so a flow
   * source that can look a 4-tuple up (the kernel's socket table) can name it
   * at once instead of at its next poll. The key must be copied if kept.
   */
  onUnnamedFlow?: (key: FlowKey) => void;
  /** Called with the path of each file once it is complete on disk (-index). */
  onFileWritten?: (path: string) => void;
}

export class Demuxer {
  private readonly options: DemuxerOptions;
  private readonly deps: DemuxerDeps;
  private readonly table = new FlowTable();
  private readonly uuidDeadlines: DeadlineQueue;
  private readonly captureDeadlines: DeadlineQueue;
  /** Stream-mode flows holding records not yet handed to their file. */
  private readonly unflushed = new Set<FlowSaver>();
  private readonly finishing = new Set<Promise<void>>();
  private nextSweepAt: number;
  private nextStreamFlushAt: number;
  /** Packet-time mode only. */
  private readonly packetClock: PacketClock | null;
  private readonly offlineNaming: OfflineNaming;
  // Per-batch tallies, turned into metric increments once per batch.
  private readonly badByStatus = new Array<number>(DECODE_STATUS_NAMES.length).fill(0);
  private readonly writeErrors: WriteErrorLog;
  /** Running totals for the daemon's log lines (the metrics hold the same, but are read asynchronously). */
  readonly totals = { filesWritten: 0, packetsSaved: 0 };
  /** Flows renamed so far (pcap_flows_renamed_total), for the log's 1st, 10th, 100th… line. */
  private renames = 0;
  private readonly missedByState = new Array<number>(SAVER_STATE_NAMES.length).fill(0);

  constructor(options: DemuxerOptions, deps: DemuxerDeps) {
    this.options = options;
    this.deps = deps;
    this.writeErrors = new WriteErrorLog(deps.log);
    this.uuidDeadlines = new DeadlineQueue(options.uuidWaitMs);
    this.captureDeadlines = new DeadlineQueue(options.captureDurationMs);
    this.packetClock = options.packetTime === true ? new PacketClock() : null;
    this.offlineNaming = new OfflineNaming(options.autoName);
    // In packet-time mode the first packet starts the clock; the first tick then schedules these.
    const now = options.packetTime === true ? -Infinity : deps.clock.now();
    this.nextSweepAt = now + options.flowTimeoutMs;
    this.nextStreamFlushAt = now + (options.streamFlushMs ?? 1000);
    for (const name of SAVER_STATE_NAMES) deps.metrics.saverStates.labels(name).set(0);
  }

  get activeFlows(): number {
    return this.table.size;
  }

  /**
   * Processes one batch of capture records (addon layout) from a link of the
   * given LINKTYPE. `described` holds the records' descriptions as the addon
   * makes them; without it they are computed here. `source` is the interface
   * or file, or for merged -read files which file each record came from.
   */
  handleBatch(batch: Buffer, linkType: number, source: string | BatchInputs = '', described?: Int32Array): void {
    const d = described ?? describeRecords(batch, linkType);
    const store = this.deps.store;
    store.beginBatch(batch, d, linkType);
    try {
      this.routeRecords(batch, linkType, source, d);
    } finally {
      store.endBatch();
    }
  }

  private routeRecords(batch: Buffer, linkType: number, source: string | BatchInputs, d: Int32Array): void {
    const clock = this.packetClock;
    let saved = 0;
    let ignoredMaxFlows = 0;
    let ignoredMaxHeap = 0;
    let now = -1;
    // DataView reads compile to plain loads; Buffer's readUInt32LE is a call per read.
    const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
    const end = batch.byteLength;
    for (let at = 0; at + DESCRIPTION_WORDS <= d.length; at += DESCRIPTION_WORDS) {
      const record = d[at + D_RECORD];
      if (record + RECORD_HEADER_BYTES > end || record + RECORD_HEADER_BYTES + view.getUint32(record + 8, true) > end) break; // guards a corrupt batch
      if (clock !== null) {
        if (clock.advance(view.getUint32(record, true), view.getUint32(record + 4, true))) this.tick();
        now = clock.now();
      }
      const status = d[at + D_STATUS];
      if (status !== DECODE_OK) {
        this.badByStatus[status]++;
        continue;
      }
      const hash = d[at + D_HASH];
      const flags = d[at + D_FLAGS];
      const swapped = (flags & FLAG_SWAPPED) !== 0;
      let flow = this.table.findAt(hash, d, at + D_KEY);
      // Sequence number of a connection-opening SYN, -1 for every other segment.
      const synSeq = (flags & FLAG_OPENING_SYN) !== 0 ? d[at + D_SEQ] >>> 0 : -1;
      if (flow !== null && synSeq !== -1 && flow.isNewConnection(synSeq, swapped)) {
        // The 4-tuple was reused before the old flow timed out (a client that
        // reconnects from the same port): its SYN opens a new flow, which the
        // new connection's UUID will name, instead of ending the old file.
        this.closeFlow(flow);
        this.deps.metrics.tupleReuses.inc();
        flow = null;
      }
      if (flow === null) {
        if (now < 0) now = this.deps.clock.now();
        const refusal = this.admissionRefusal();
        if (refusal === 'maxflows') {
          ignoredMaxFlows++;
          continue;
        }
        if (refusal === 'maxheap') {
          ignoredMaxHeap++;
          continue;
        }
        flow = this.startFlow(d.slice(at + D_KEY, at + D_KEY + KEY_WORDS), hash, now);
        this.nameNewFlow(flow, source, at / DESCRIPTION_WORDS, batch, record);
      }
      flow.sawPacket = true;
      if (synSeq !== -1) flow.noteSyn(synSeq, swapped);
      flow.packetsSeen++;
      if (!flow.accepting) {
        this.missedByState[flow.state]++;
        continue;
      }
      if (!flow.addPacket(at, d[at + D_TCP_OFFSET], swapped, (flags & (FLAG_FIN | FLAG_RST)) !== 0, linkType)) {
        this.missedByState[flow.state]++;
        continue;
      }
      saved++;
      if (this.options.stream && flow.state === SaverState.Saving) this.unflushed.add(flow);
    }
    this.publishBatchTallies(saved, ignoredMaxFlows, ignoredMaxHeap);
  }

  handleEvent(event: FlowEvent): void {
    if (event.kind !== 'open') return; // closes carry no obligation: timeouts decide
    this.deps.metrics.uuids.inc();
    const hash = hashFlowKey(event.key);
    this.assign(hash, event);
  }

  /** Offline: remembers an Open event for a flow whose packets are still to come. */
  expectFlow(event: FlowOpenEvent): void {
    this.offlineNaming.expect(event, hashFlowKey(event.key));
  }

  private assign(hash: number, event: FlowOpenEvent): void {
    let flow = this.table.find(hash, event.key);
    if (flow !== null && flow.uuid !== null && flow.uuid !== event.uuid) {
      if (flow.namedBy !== null && isOtherEnd(event, flow.namedBy)) {
        // Both ends of the connection are sockets of this host (loopback, or
        // two local addresses): one connection, one file, named by the
        // socket announced first, as the original does.
        return;
      }
      // No new SYN was seen, so this is either a new connection on the same
      // 4-tuple announced before its SYN was captured, or a second name for
      // one connection (a split). A UUID names a socket, so the old flow is
      // written and the new UUID names what follows; counted, logged rarely.
      this.noteRename(flow.uuid, event.uuid, flow.namedBy?.foundBy, event.foundBy);
      this.closeFlow(flow);
      flow = null;
    }
    if (flow === null) {
      const refusal = this.admissionRefusal();
      if (refusal !== null) {
        this.deps.metrics.ignored.labels(refusal).inc();
        return;
      }
      flow = this.startFlow(new Int32Array(event.key), hash, this.now());
    }
    if (flow.state !== SaverState.UuidWait) {
      if (flow.uuid !== event.uuid) this.deps.metrics.missedUuids.labels(SAVER_STATE_NAMES[flow.state]).inc();
      return;
    }
    flow.uuid = event.uuid;
    flow.namedBy = event;
    flow.file.setTarget(join(this.options.datadir, datePath(event.timestampMs), `${event.uuid}.pcap.gz`));
    this.setState(flow, SaverState.Saving);
    if (this.options.stream && flow.hasUnflushed) this.unflushed.add(flow);
  }

  /** Logs the 1st, 10th, 100th, … rename only. */
  private noteRename(kept: string, next: string, keptFoundBy: string | undefined, nextFoundBy: string | undefined): void {
    this.deps.metrics.flowsRenamed.inc();
    const n = ++this.renames;
    if (10 ** Math.floor(Math.log10(n)) !== n) return;
    const how = keptFoundBy === undefined && nextFoundBy === undefined ? '' : ` [${keptFoundBy ?? '?'}; then ${nextFoundBy ?? '?'}]`;
    this.deps.log(
      `flow ${kept} got another UUID, ${next}, without a new SYN on its 4-tuple: ${kept} is written, ${next} names the packets that follow ` +
        `(${n} so far, pcap_flows_renamed_total)${how}`,
    );
  }

  /** Enforces deadlines and closes idle flows; call it often (every ~100 ms). */
  tick(): void {
    const now = this.now();
    this.writeErrors.flush(this.deps.clock.now());
    for (let flow = this.uuidDeadlines.popExpired(now); flow !== null; flow = this.uuidDeadlines.popExpired(now)) {
      if (flow.state === SaverState.UuidWait) this.abandon(flow);
    }
    for (let flow = this.captureDeadlines.popExpired(now); flow !== null; flow = this.captureDeadlines.popExpired(now)) {
      if (flow.state === SaverState.Saving) {
        // Later packets are discarded anyway, so the file is complete now.
        this.finishFile(flow);
        this.setState(flow, SaverState.Written);
      } else if (flow.state === SaverState.UuidWait) {
        this.abandon(flow);
      }
    }
    if (this.options.stream && now >= this.nextStreamFlushAt) {
      for (const flow of this.unflushed) flow.flush();
      this.unflushed.clear();
      this.nextStreamFlushAt = now + (this.options.streamFlushMs ?? 1000);
    }
    if (now >= this.nextSweepAt) {
      this.sweep();
      this.nextSweepAt += this.options.flowTimeoutMs;
      if (this.nextSweepAt <= now) this.nextSweepAt = now + this.options.flowTimeoutMs;
    }
  }

  /** Ends every flow, writing those that have a UUID, and waits for all files. */
  async closeAll(): Promise<void> {
    for (const flow of this.table.all()) this.closeFlow(flow);
    while (this.finishing.size > 0) await Promise.all([...this.finishing]);
  }

  /** Waits until every file finished so far is on disk. */
  async drain(): Promise<void> {
    while (this.finishing.size > 0) await Promise.all([...this.finishing]);
  }

  private now(): number {
    return this.packetClock !== null ? this.packetClock.now() : this.deps.clock.now();
  }

  /** Names a flow at its first packet (record number `index`, at byte `record` of the batch), offline; else asks the flow source. */
  private nameNewFlow(flow: FlowSaver, source: string | BatchInputs, index: number, batch: Buffer, record: number): void {
    const event = this.offlineNaming.eventFor(flow.key, flow.hash, source, index, batch.readUInt32LE(record), batch.readUInt32LE(record + 4));
    if (event !== null) this.assign(flow.hash, event);
    else this.deps.onUnnamedFlow?.(flow.key);
  }

  private admissionRefusal(): 'maxflows' | 'maxheap' | null {
    if (this.options.maxFlows > 0 && this.table.size >= this.options.maxFlows) return 'maxflows';
    if (this.deps.memoryInUse() > this.options.maxHeapBytes) return 'maxheap';
    return null;
  }

  private startFlow(key: FlowKey, hash: number, now: number): FlowSaver {
    const { anonymizer, metrics } = this.deps;
    const file = this.deps.store.openFile((reason, path, error) => this.reportWriteError(reason, path, error));
    const flow = new FlowSaver(key, hash, now, file, {
      a: anonymizer.anonymizesEndpoint(key, 0),
      b: anonymizer.anonymizesEndpoint(key, 1),
    });
    this.table.insert(flow);
    this.uuidDeadlines.push(flow);
    this.captureDeadlines.push(flow);
    metrics.saverStarts.inc();
    metrics.saversActive.set(this.table.size);
    metrics.saverStates.labels(SAVER_STATE_NAMES[SaverState.UuidWait]).inc();
    return flow;
  }

  private abandon(flow: FlowSaver): void {
    flow.dropBuffered();
    this.unflushed.delete(flow);
    this.setState(flow, SaverState.Discarding);
    this.deps.metrics.saverErrors.labels('uuidtimedout').inc();
  }

  private finishFile(flow: FlowSaver): void {
    flow.flush();
    this.unflushed.delete(flow);
    const uuid = flow.uuid;
    const seenAny = flow.packetsSeen > 0;
    const done = flow.file.finish().then((result) => {
      if (result === 'written') {
        this.deps.metrics.filesWritten.inc();
        this.totals.filesWritten++;
        const path = flow.file.path;
        if (path !== null) this.deps.onFileWritten?.(path);
      }
      // A named flow none of whose packets was captured (a socket on an
      // interface not captured, such as lo, or one idle since start-up) lost
      // nothing: it is counted apart from flows whose packets came to nothing.
      else if (result === 'empty' && uuid !== null) (seenAny ? this.deps.metrics.saverSkipped : this.deps.metrics.namedWithoutPackets).inc();
    });
    this.finishing.add(done);
    void done.finally(() => this.finishing.delete(done));
  }

  private closeFlow(flow: FlowSaver): void {
    this.table.remove(flow);
    if (flow.state === SaverState.Saving) {
      this.finishFile(flow);
    } else if (flow.state === SaverState.UuidWait) {
      // Closed before its UUID came: nothing can be written.
      flow.dropBuffered();
      this.unflushed.delete(flow);
      this.deps.metrics.saverErrors.labels('closedbeforeuuid').inc();
    }
    // Closed savers are gone, not a state anyone watches: they leave the gauge.
    this.deps.metrics.saverStates.labels(SAVER_STATE_NAMES[flow.state]).dec();
    flow.state = SaverState.Closed;
    this.deps.metrics.saverStops.inc();
    this.deps.metrics.saversActive.set(this.table.size);
  }

  /** Generational timeout: a flow that saw no packet since the previous sweep is closed. */
  private sweep(): void {
    const started = performance.now();
    let closed = 0;
    for (const flow of this.table.all()) {
      if (flow.sawPacket) {
        flow.sawPacket = false;
      } else {
        this.closeFlow(flow);
        closed++;
      }
    }
    this.deps.metrics.saversGarbageCollected.inc(closed);
    this.deps.metrics.gcLatency.observe((performance.now() - started) / 1000);
  }

  private setState(flow: FlowSaver, state: SaverState): void {
    const { saverStates } = this.deps.metrics;
    saverStates.labels(SAVER_STATE_NAMES[flow.state]).dec();
    flow.state = state;
    saverStates.labels(SAVER_STATE_NAMES[state]).inc();
  }

  private publishBatchTallies(saved: number, ignoredMaxFlows: number, ignoredMaxHeap: number): void {
    const { metrics } = this.deps;
    if (saved > 0) {
      metrics.packetsSaved.inc(saved);
      this.totals.packetsSaved += saved;
    }
    if (ignoredMaxFlows > 0) metrics.ignored.labels('maxflows').inc(ignoredMaxFlows);
    if (ignoredMaxHeap > 0) metrics.ignored.labels('maxheap').inc(ignoredMaxHeap);
    for (let status = 1; status < this.badByStatus.length; status++) {
      const n = this.badByStatus[status];
      if (n === 0) continue;
      metrics.badPackets.inc(n);
      metrics.badPacketsByReason.labels(DECODE_STATUS_NAMES[status]).inc(n);
      this.badByStatus[status] = 0;
    }
    for (let state = 0; state < this.missedByState.length; state++) {
      const n = this.missedByState[state];
      if (n === 0) continue;
      metrics.missedPackets.labels(SAVER_STATE_NAMES[state]).inc(n);
      this.missedByState[state] = 0;
    }
  }

  private reportWriteError(reason: WriteErrorReason, path: string, error: unknown): void {
    this.deps.metrics.saverErrors.labels(reason).inc();
    this.writeErrors.report(reason, path, error, this.deps.clock.now());
  }
}

/** Whether `event` names the socket at the other end of the connection `named` was announced for. */
function isOtherEnd(event: FlowOpenEvent, named: NonNullable<FlowSaver['namedBy']>): boolean {
  if (event.srcPort !== named.dstPort || event.dstPort !== named.srcPort) return false;
  return event.srcPort !== event.dstPort || event.srcIP === named.dstIP;
}

/** YYYY/MM/DD of a moment, in UTC. */
export function datePath(timestampMs: number): string {
  const d = new Date(timestampMs);
  const mm = String(d.getUTCMonth() + 1).padStart(2, '0');
  const dd = String(d.getUTCDate()).padStart(2, '0');
  return join(String(d.getUTCFullYear()).padStart(4, '0'), mm, dd);
}
