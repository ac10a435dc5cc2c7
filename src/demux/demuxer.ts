// Names flows from flow events, ends them, and enforces their deadlines. The
// flow store holds the one flow table: it routes every captured packet to its
// flow, and starts a flow (within the limits set here) for a packet of none
// or for a SYN that opens a new connection on a known 4-tuple; the demuxer
// hears of those after each batch (takeNewFlows) and knows flows by their
// route. It runs entirely on the event loop; time comes from an injected
// clock so tests need no sleeping.
import type { BatchInputs } from '../capture/batchinputs.js';
import type { Config } from '../config/config.js';
import { describeRecords } from '../decode/describe.js';
import { hashFlowKey, KEY_WORDS, type FlowKey } from '../decode/flowkey.js';
import { DECODE_STATUS_NAMES } from '../decode/packet.js';
import type { UnnamedFlow } from '../flowevents/flowsource.js';
import type { FlowEvent, FlowOpenEvent } from '../flowevents/types.js';
import type { Metrics } from '../metrics/metrics.js';
import {
  NEWFLOW_WORDS,
  NF_CLOCK,
  NF_HASH,
  NF_KEY,
  NF_NANOSECONDS,
  NF_OPENING,
  NF_RECORD,
  NF_REPLACED,
  NF_ROUTE,
  NF_SECONDS,
  NF_SEQ,
  NF_SERIAL,
  NF_SLOT,
  REFUSED_MAXFLOWS,
  REFUSED_MAXHEAP,
  SaverState,
  TALLY_BAD,
  TALLY_MISSED,
  TALLY_REFUSED,
  TALLY_SAVED,
} from '../native/layout.js';
import type { Anonymizer } from './anonymize.js';
import type { FinishResult, FlowFile, WriteErrorReason } from '../saver/flowfile.js';
import { OutputLayout } from '../saver/outputlayout.js';
import { WriteErrorLog } from '../saver/writeerrorlog.js';
import type { FlowStore } from '../saver/flowstore.js';
import { ConnectionMemory, type NamedConnection } from './connections.js';
import { Flow, SAVER_STATE_NAMES } from './flow.js';
import { DeadlineQueue } from './deadlines.js';
import { PacketClock } from './packetclock.js';

/** Milliseconds; monotonic in live mode, packet time in offline mode. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => performance.now() };

/** The flags the demuxer follows, as the config parser gives them (src/config/config.ts), and its own settings. */
export interface DemuxerOptions extends Pick<Config, 'datadir' | 'stream' | 'uuidWaitMs' | 'captureDurationMs' | 'flowTimeoutMs' | 'maxFlows'> {
  /** Above this much memory in use no new flow is started: -maxheap less a reserve (src/daemon.ts sheddingThreshold). */
  maxHeapBytes: number;
  /** How often stream-mode flows hand their partial chunk to the file. */
  streamFlushMs?: number;
  /**
   * Offline mode: time is the timestamp of the packet being processed, and
   * deadlines are enforced as packet time passes them, so results do not
   * depend on how fast the machine reads (./packetclock.ts).
   */
  packetTime?: boolean;
}

export interface DemuxerDeps {
  clock: Clock;
  /**
   * Memory in use now, handed to the flow store before each batch and each
   * flow started here; without it, whoever runs the store tells it
   * (FlowStore.setMemoryInUse).
   */
  memoryInUse?: () => number;
  anonymizer: Anonymizer;
  /** Where the flows' records and files go; its stream mode must match the demuxer's. */
  store: FlowStore;
  metrics: Metrics;
  log(message: string): void;
  /**
   * Asked when a flow starts from a packet and has no name yet: the flow
   * sources' name for it at once, or null (a source may name it later with
   * an event, as the kernel's socket table does after a lookup).
   */
  nameFlow?: (flow: UnnamedFlow) => FlowOpenEvent | null;
  /** Called with the path of each file once it is complete on disk (-index). */
  onFileWritten?: (path: string) => void;
  /** Where files go; default `options.datadir` without a staging directory. */
  layout?: OutputLayout;
  /** Epoch ms, for the names of continued connections' files (live mode; offline, packet time). */
  wallClock?: () => number;
}

export class Demuxer {
  private readonly options: DemuxerOptions;
  private readonly deps: DemuxerDeps;
  private flowCount = 0;
  private readonly uuidDeadlines: DeadlineQueue;
  private readonly captureDeadlines: DeadlineQueue;
  /** Every flow, by its route in the flow store (which holds the flow table). */
  private readonly byRoute: Array<Flow | undefined> = [];
  /** Files finished and not complete yet; drain() waits for none. */
  private finishing = 0;
  private drainWaiters: (() => void)[] = [];
  private nextSweepAt: number;
  private nextStreamFlushAt: number;
  /** Packet-time mode only. */
  private readonly packetClock: PacketClock | null;
  /** Where the batch being routed came from, for the names of the flows it starts. */
  private source: string | BatchInputs = '';
  /** Live mode: the time new flows of this batch start at, read at the first (-1 before). */
  private batchNow = -1;
  /**
   * Packet-time mode, while a flow the store started is taken on: packet
   * time at its first packet, which is "now" for what is decided about it,
   * however late in the batch that runs.
   */
  private startingAt: number | null = null;
  /**
   * Flows the store started, taken from it but not yet taken on here, in the
   * order it started them (NEWFLOW_WORDS each), from `startedHead` on.
   */
  private started: Float64Array[] = [];
  private startedHead = 0;
  private readonly writeErrors: WriteErrorLog;
  private readonly layout: OutputLayout;
  /** Named connections, remembered beyond their flows (./connections.ts). */
  private readonly connections: ConnectionMemory<Flow>;
  /** Running totals for the daemon's log lines (the metrics hold the same, but are read asynchronously). */
  readonly totals = { filesWritten: 0, packetsSaved: 0 };
  /** Flows renamed so far (pcap_flows_renamed_total), for the log's 1st, 10th, 100th… line. */
  private renames = 0;

  constructor(options: DemuxerOptions, deps: DemuxerDeps) {
    this.options = options;
    this.deps = deps;
    this.writeErrors = new WriteErrorLog(deps.log);
    this.layout = deps.layout ?? new OutputLayout(options.datadir, null);
    this.connections = new ConnectionMemory<Flow>(options.captureDurationMs);
    this.uuidDeadlines = new DeadlineQueue(options.uuidWaitMs);
    this.captureDeadlines = new DeadlineQueue(options.captureDurationMs);
    this.packetClock = options.packetTime === true ? new PacketClock() : null;
    // In packet-time mode the first packet starts the clock; the first tick then schedules these.
    const now = options.packetTime === true ? -Infinity : deps.clock.now();
    this.nextSweepAt = now + options.flowTimeoutMs;
    this.nextStreamFlushAt = now + (options.streamFlushMs ?? 1000);
    for (const name of SAVER_STATE_NAMES) deps.metrics.saverStates.labels(name).set(0);
    deps.store.setLimits(options.maxFlows, options.maxHeapBytes);
    deps.store.setAnonymization(deps.anonymizer.mode === 'none' ? null : deps.anonymizer.localAddressWords);
    // Deadlines are checked with the flows started before them known.
    deps.store.setTick(() => {
      this.takeNewFlows();
      this.tick();
    });
  }

  get activeFlows(): number {
    return this.flowCount;
  }

  /** The UUIDs of the named connections remembered now (they may go on after a restart). */
  get rememberedConnections(): string[] {
    return this.connections.uuids();
  }

  /**
   * Processes one batch of capture records (addon layout) from a link of the
   * given LINKTYPE. `described` holds the records' descriptions as the addon
   * makes them; without it they are computed here. `source` is the interface
   * or file, or for merged -read files which file each record came from.
   */
  handleBatch(batch: Buffer, linkType: number, source: string | BatchInputs = '', described?: Int32Array): void {
    const d = described ?? describeRecords(batch, linkType);
    this.source = source;
    this.batchNow = -1;
    if (this.deps.memoryInUse !== undefined) this.deps.store.setMemoryInUse(this.deps.memoryInUse());
    try {
      this.deps.store.route(batch, d, linkType, this.packetClock?.state ?? null);
      this.takeNewFlows();
    } finally {
      this.source = '';
    }
    this.publishBatchTallies();
  }

  /**
   * Live captures route their records into the store themselves: takes on the
   * flows they started (from the capture named `source`, '' not known) and
   * publishes what they did to the metrics.
   */
  takeStartedFlows(source = ''): void {
    this.source = source;
    this.batchNow = -1;
    try {
      this.takeNewFlows();
    } finally {
      this.source = '';
    }
    this.publishBatchTallies();
  }

  /** Takes on the flows the store started since the last call (FlowStore.takeNewFlows), in the order it started them. */
  private takeNewFlows(): void {
    this.takeStartedThrough(-1);
  }

  /** Moves the flows the store started into `started`, not taking them on yet. */
  private pullStarted(): void {
    const w = this.deps.store.takeNewFlows();
    for (let at = 0; at + NEWFLOW_WORDS <= w.length; at += NEWFLOW_WORDS) this.started.push(w.subarray(at, at + NEWFLOW_WORDS));
  }

  /**
   * Takes on the flows the store started, in order, up to the one with
   * `route` (-1: all). Safe to call while taking them on: each is taken once.
   */
  private takeStartedThrough(route: number): void {
    this.pullStarted();
    while (this.startedHead < this.started.length) {
      const words = this.started[this.startedHead++];
      try {
        this.startedByStore(words);
      } finally {
        this.startingAt = null;
      }
      if (words[NF_ROUTE] === route) break;
    }
    if (this.startedHead === this.started.length) {
      this.started = [];
      this.startedHead = 0;
    }
  }

  /**
   * A flow the store started at a packet of no flow (its words `w`):
   * named at once if its connection is remembered or a flow source knows it.
   * When its SYN opened a new connection on another flow's 4-tuple (the
   * 4-tuple reused before the old flow timed out: a client that reconnects
   * from the same port), that flow ends first: the new connection's UUID
   * names the new flow, instead of ending the old file.
   */
  private startedByStore(w: Float64Array): void {
    const replaced = w[NF_REPLACED];
    if (replaced >= 0) {
      const old = this.byRoute[replaced];
      if (old !== undefined) {
        const connection = old.connection;
        this.closeFlow(old);
        if (connection !== null) this.connections.forget(connection);
      }
      this.deps.metrics.tupleReuses.inc();
    }
    const route = w[NF_ROUTE];
    if (route < 0) return; // refused: only the old flow's end
    let now: number;
    if (this.packetClock !== null) now = this.startingAt = w[NF_CLOCK];
    else now = this.batchNow < 0 ? (this.batchNow = this.deps.clock.now()) : this.batchNow;
    const hash = w[NF_HASH];
    const key = Int32Array.from(w.subarray(NF_KEY, NF_KEY + KEY_WORDS));
    const file = this.deps.store.fileOf(w[NF_SLOT], w[NF_SERIAL], this.onWriteError);
    const flow = this.addFlow(key, hash, now, route, file);
    const opening = w[NF_OPENING] === 1;
    const known = this.connections.find(hash, key);
    if (known !== null) {
      // A connection named before sends again after its flow ended: its
      // packets go under its UUID, unless this is a new connection's SYN.
      if (!(opening && this.connections.opensNewConnection(known, w[NF_SEQ])) && now < this.connections.captureEndsAt(known)) {
        this.name(flow, known);
        return;
      }
      this.connections.forget(known);
    }
    const source = this.source;
    this.nameNewFlow(flow, typeof source === 'string' ? source : source.nameOf(w[NF_RECORD]), w[NF_SECONDS], w[NF_NANOSECONDS], opening);
  }

  handleEvent(event: FlowEvent): void {
    if (event.kind === 'close') {
      // No obligation for the flow (timeouts decide, packets come after a
      // close), but its connection need not be remembered past its flow.
      this.connections.closeReported(event.uuid);
      return;
    }
    this.deps.metrics.uuids.inc();
    const hash = hashFlowKey(event.key);
    this.assign(hash, event);
  }

  /**
   * Names the flow of the event's key (`asked`: the flow whose name was asked
   * for, which the key may no longer find: a later SYN of the batch being
   * taken on may have started another flow on it), starting one if it has none.
   */
  private assign(hash: number, event: FlowOpenEvent, asked: Flow | null = null): void {
    let flow = asked !== null && sameKey(asked.key, event.key) ? asked : this.flowOfKey(event.key, hash);
    if (flow !== null && flow.uuid !== null && flow.uuid !== event.uuid) {
      if (flow.namedBy !== null && isOtherEnd(event, flow.namedBy)) {
        // Both ends of the connection are sockets of this host (loopback, or
        // two local addresses): one connection, one file, named by the
        // socket announced first, as the original does.
        return;
      }
      const newer = this.deps.store.findFlow(event.key, hash);
      if (newer >= 0 && newer !== flow.route) {
        // A live capture saw a new connection's SYN on the 4-tuple, not taken on yet: the name is its flow's.
        this.takeStartedThrough(newer);
        flow = this.byRoute[newer] ?? null;
      } else {
        // No new SYN was seen, so this is either a new connection on the same
        // 4-tuple announced before its SYN was captured, or a second name for
        // one connection (a split). A UUID names a socket, so the old flow is
        // written and the new UUID names what follows; counted, logged rarely.
        this.noteRename(flow.uuid, event.uuid, flow.namedBy?.foundBy, event.foundBy);
        this.closeFlow(flow);
        flow = null;
      }
    }
    if (flow === null) {
      if (this.deps.memoryInUse !== undefined) this.deps.store.setMemoryInUse(this.deps.memoryInUse());
      const key = new Int32Array(event.key);
      const opened = this.deps.store.openFlow(key, hash, this.onWriteError);
      if (typeof opened === 'string') {
        this.deps.metrics.ignored.labels(opened).inc();
        return;
      }
      flow = this.addFlow(key, hash, this.now(), opened.route, opened.file);
    }
    if (flow.state !== SaverState.UuidWait) {
      if (flow.uuid !== event.uuid) this.deps.metrics.missedUuids.labels(SAVER_STATE_NAMES[flow.state]).inc();
      return;
    }
    // The same name again for a connection remembered (a source announcing a
    // socket a second time) continues it rather than starting it over.
    const known = this.connections.find(hash, event.key);
    this.name(flow, known !== null && known.event.uuid === event.uuid ? known : this.connections.remember(flow, event));
  }

  /**
   * Names `flow` after its connection: its first file is `<UUID>.pcap.gz`;
   * a later one (the connection went quiet past -flowtimeout, or existed
   * before this run) gets a name of its own, so that no name is ever given
   * to two files (docs/output.md).
   */
  private name(flow: Flow, connection: NamedConnection<Flow>): void {
    const event = connection.event;
    flow.uuid = event.uuid;
    flow.namedBy = event;
    flow.connection = connection;
    flow.continuation = connection.flow !== flow;
    connection.flow = flow;
    const wallMs = this.packetClock !== null ? this.now() : (this.deps.wallClock ?? Date.now)();
    const name = connection.published ? this.connections.continuationName(connection, wallMs) : event.uuid;
    const target = this.layout.target(name, event.timestampMs);
    flow.file.setTarget(target.path, target.writePath);
    // In stream mode, the records it holds go to the file at the next flush.
    this.setState(flow, SaverState.Saving);
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
      if (flow.continuation) continue; // its capture ends with its connection's, below
      if (flow.state === SaverState.Saving) {
        // Later packets are discarded anyway, so the file is complete now.
        this.finishFile(flow);
        this.setState(flow, SaverState.Written);
      } else if (flow.state === SaverState.UuidWait) {
        this.abandon(flow);
      }
    }
    for (let c = this.connections.popExpired(now); c !== null; c = this.connections.popExpired(now)) {
      const flow = c.flow;
      this.connections.forget(c);
      if (flow !== null && flow.continuation && flow.state === SaverState.Saving) {
        this.finishFile(flow);
        this.setState(flow, SaverState.Written);
      }
    }
    this.deps.metrics.connectionsRemembered.set(this.connections.size);
    if (this.options.stream && now >= this.nextStreamFlushAt) {
      this.deps.store.flushStreams();
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
    this.takeStartedFlows();
    for (const flow of this.allFlows()) this.closeFlow(flow);
    await this.drain();
  }

  /**
   * The flow of a key as this side sees it, null none. A live capture may
   * have started flows that are not taken on yet: they are taken on, in
   * order, up to the first that would end this key's flow (a new
   * connection's SYN on the 4-tuple); that flow is still the key's, as when
   * the packets that started the new one had not come yet.
   */
  private flowOfKey(key: FlowKey, hash: number): Flow | null {
    const route = this.deps.store.findFlow(key, hash);
    if (route < 0) return null;
    const known = this.byRoute[route];
    if (known !== undefined) return known;
    this.pullStarted();
    while (this.startedHead < this.started.length) {
      const replaced = this.byRoute[this.started[this.startedHead][NF_REPLACED]];
      if (replaced !== undefined && sameKey(replaced.key, key)) return replaced;
      this.takeStartedThrough(this.started[this.startedHead][NF_ROUTE]);
    }
    return this.byRoute[route] ?? null;
  }

  /** A snapshot of every flow, safe to end flows while walking it. */
  private allFlows(): Flow[] {
    return this.byRoute.filter((flow): flow is Flow => flow !== undefined);
  }

  /** Waits until every file finished so far is on disk (or failed). */
  drain(): Promise<void> {
    if (this.finishing === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private now(): number {
    if (this.packetClock === null) return this.deps.clock.now();
    return this.startingAt ?? this.packetClock.now();
  }

  /** Asks the flow sources to name a flow whose first packet came from `input` at the given time. */
  private nameNewFlow(flow: Flow, input: string, seconds: number, nanoseconds: number, opening: boolean): void {
    if (this.deps.nameFlow === undefined) return;
    const event = this.deps.nameFlow({ key: flow.key, hash: flow.hash, opening, input, seconds, nanoseconds });
    if (event !== null) this.assign(flow.hash, event, flow);
  }

  /** A flow the store started (its route, its file), known here from now on. */
  private addFlow(key: FlowKey, hash: number, now: number, route: number, file: FlowFile): Flow {
    const { metrics } = this.deps;
    const flow = new Flow(key, hash, now, file);
    flow.route = route;
    this.byRoute[route] = flow;
    this.flowCount++;
    this.uuidDeadlines.push(flow);
    this.captureDeadlines.push(flow);
    metrics.saverStarts.inc();
    metrics.saversActive.set(this.flowCount);
    metrics.saverStates.labels(SAVER_STATE_NAMES[SaverState.UuidWait]).inc();
    return flow;
  }

  private abandon(flow: Flow): void {
    flow.dropBuffered();
    this.setState(flow, SaverState.Discarding);
    this.deps.metrics.saverErrors.labels('uuidtimedout').inc();
  }

  private finishFile(flow: Flow): void {
    // finish() compresses what the flow holds itself: a flush first would only wake its thread once more.
    const uuid = flow.uuid;
    const seenAny = this.deps.store.flowCounts(flow.route).seen > 0;
    this.finishing++;
    flow.file.finishThen((result) => {
      try {
        this.fileFinished(flow, uuid, seenAny, result);
      } finally {
        if (--this.finishing === 0) this.drained();
      }
    });
  }

  private fileFinished(flow: Flow, uuid: string | null, seenAny: boolean, result: FinishResult): void {
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
  }

  private drained(): void {
    const waiting = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiting) resolve();
  }

  private closeFlow(flow: Flow): void {
    // Its route may belong to another flow by now.
    if (flow.state === SaverState.Closed) return;
    this.flowCount--;
    if (flow.connection !== null) {
      const counts = this.deps.store.flowCounts(flow.route);
      this.connections.flowEnded(flow.connection, counts, flow.state !== SaverState.UuidWait && counts.saved > 0);
      flow.connection = null;
    }
    if (flow.state === SaverState.Saving) {
      this.finishFile(flow);
    } else if (flow.state === SaverState.UuidWait) {
      // Closed before its UUID came: nothing can be written.
      flow.dropBuffered();
      this.deps.metrics.saverErrors.labels('closedbeforeuuid').inc();
    }
    // Closed savers are gone, not a state anyone watches: they leave the gauge.
    this.deps.metrics.saverStates.labels(SAVER_STATE_NAMES[flow.state]).dec();
    flow.state = SaverState.Closed;
    this.deps.store.endFlow(flow.route);
    this.byRoute[flow.route] = undefined;
    this.deps.metrics.saverStops.inc();
    this.deps.metrics.saversActive.set(this.flowCount);
  }

  /** Generational timeout: a flow that saw no packet since the previous sweep is closed. */
  private sweep(): void {
    const started = performance.now();
    let closed = 0;
    const seen = this.deps.store.takeSeen();
    for (const flow of this.allFlows()) {
      if (seen[flow.route] !== 1) {
        this.closeFlow(flow);
        closed++;
      }
    }
    this.deps.metrics.saversGarbageCollected.inc(closed);
    this.deps.metrics.gcLatency.observe((performance.now() - started) / 1000);
  }

  private setState(flow: Flow, state: SaverState): void {
    const { saverStates } = this.deps.metrics;
    saverStates.labels(SAVER_STATE_NAMES[flow.state]).dec();
    flow.state = state;
    this.deps.store.setFlowState(flow.route, state);
    saverStates.labels(SAVER_STATE_NAMES[state]).inc();
  }

  /** The store's tallies of the batch (FlowStore.tallies) to the metrics; zeroes them. */
  private publishBatchTallies(): void {
    const { metrics, store } = this.deps;
    store.takeTallies();
    const tallies = store.tallies;
    const saved = tallies[TALLY_SAVED];
    if (saved > 0) {
      metrics.packetsSaved.inc(saved);
      this.totals.packetsSaved += saved;
    }
    const maxFlows = tallies[TALLY_REFUSED + REFUSED_MAXFLOWS];
    if (maxFlows > 0) metrics.ignored.labels('maxflows').inc(maxFlows);
    const maxHeap = tallies[TALLY_REFUSED + REFUSED_MAXHEAP];
    if (maxHeap > 0) metrics.ignored.labels('maxheap').inc(maxHeap);
    for (let status = 1; status < DECODE_STATUS_NAMES.length; status++) {
      const n = tallies[TALLY_BAD + status];
      if (n === 0) continue;
      metrics.badPackets.inc(n);
      metrics.badPacketsByReason.labels(DECODE_STATUS_NAMES[status]).inc(n);
    }
    for (let state = 0; state < SAVER_STATE_NAMES.length; state++) {
      const n = tallies[TALLY_MISSED + state];
      if (n === 0) continue;
      metrics.missedPackets.labels(SAVER_STATE_NAMES[state]).inc(n);
    }
    tallies.fill(0);
  }

  private readonly onWriteError = (reason: WriteErrorReason, path: string, error: unknown): void => this.reportWriteError(reason, path, error);

  private reportWriteError(reason: WriteErrorReason, path: string, error: unknown): void {
    this.deps.metrics.saverErrors.labels(reason).inc();
    this.writeErrors.report(reason, path, error, this.deps.clock.now());
  }
}

function sameKey(a: FlowKey, b: FlowKey): boolean {
  for (let i = 0; i < KEY_WORDS; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether `event` names the socket at the other end of the connection `named` was announced for. */
function isOtherEnd(event: FlowOpenEvent, named: NonNullable<Flow['namedBy']>): boolean {
  if (event.srcPort !== named.dstPort || event.dstPort !== named.srcPort) return false;
  return event.srcPort !== event.dstPort || event.srcIP === named.dstIP;
}
