// Where the bytes of every flow go: the native flow store (native/README.md)
// holds the one flow table, routes each captured record to its flow's file,
// keeps each flow's records in chunks, compresses full chunks into gzip
// members and writes files, the last two on threads of its own. A record of
// no flow starts one there, with its file, within the limits the demuxer set;
// the demuxer hears of the flows a batch started after it (takeNewFlows) and
// decides the rest about flows, not packets: their names, their states, when
// they end. A batch is routed in one call, which calls back only when packet
// time reaches the next deadline check.
import { availableParallelism } from 'node:os';
import type { FlowKey } from '../decode/flowkey.js';
import { loadAddon, type NativeFlowStore } from '../native/addon.js';
import {
  EVENT_FAILED,
  EVENT_FINISHED,
  EVENT_NUMBERED,
  EVENT_WORDS,
  FINISHED_EMPTY,
  FINISHED_WRITTEN,
  REFUSED_MAXFLOWS,
  STAGE_COMPRESS,
  TALLY_WORDS,
} from '../native/layout.js';
import { DIR_MODE, FILE_MODE, FlowFile, numberedPath, type FinishResult, type WriteErrorListener } from './flowfile.js';

/**
 * A flow's file name was taken when its file was published (docs/output.md):
 * the file went to `path`, the first free `<UUID>.N.pcap.gz` beside `requested`.
 */
export type NumberedFileListener = (requested: string, path: string) => void;

/** Why a flow was not started (pcap_demuxer_ignored_total's reasons). */
export type Refusal = 'maxflows' | 'maxheap';

/** A flow started by openFlow: its route and its file. */
export interface OpenedFlow {
  route: number;
  file: FlowFile;
}

/** libdeflate's fastest level: header-only records compress well even so. */
const FASTEST_LEVEL = 1;

/** A FINISHED_* result of the store as FlowFile takes it; anything else is a failure. */
function finishResult(code: number): FinishResult {
  return code === FINISHED_WRITTEN ? 'written' : code === FINISHED_EMPTY ? 'empty' : 'failed';
}

/**
 * Compression and file threads by default: one per core, at most four for
 * each capture thread of an interface. Compressing a packet costs the store
 * threads more than capturing and routing it costs its capture thread
 * (docs/performance.md), so more capture threads need more of them.
 */
export function defaultStoreThreads(captureThreads = 1, cores = availableParallelism()): number {
  return Math.max(1, Math.min(cores, 4 * Math.max(1, captureThreads)));
}

export interface FlowStoreOptions {
  /** Compression and file threads; default defaultStoreThreads(). */
  threads?: number;
  level?: number;
  /** Raw bytes per gzip member (default 64 KiB). */
  chunkBytes?: number;
  /** Stream mode: a named file is written as its members are made, not at its end. */
  stream?: boolean;
  /** fdatasync files before their rename and fsync their directory (default true). */
  sync?: boolean;
  /** Where files are written before they appear in the datadir (src/saver/staging.ts); default none. */
  stagingDir?: string | null;
  onNumberedFile?: NumberedFileListener;
}

export class FlowStore {
  readonly stream: boolean;
  private readonly native: NativeFlowStore;
  /** Open files by serial, for the events that name them. */
  private readonly files = new Map<number, FlowFile>();
  /**
   * What route() did, added to by takeTallies(): TALLY_SAVED, TALLY_MISSED,
   * TALLY_BAD, TALLY_REFUSED (src/native/layout.ts). Whoever reads them zeroes them.
   */
  readonly tallies = new Float64Array(TALLY_WORDS);
  /** Held here: the native store holds its callback weakly. */
  private onTick: (() => void) | null = null;
  private closed = false;
  private readonly onNumberedFile: NumberedFileListener | undefined;

  constructor(options: FlowStoreOptions = {}) {
    this.stream = options.stream ?? false;
    this.onNumberedFile = options.onNumberedFile;
    const { FlowStore: NativeStore } = loadAddon();
    this.native = new NativeStore(
      {
        threads: options.threads ?? defaultStoreThreads(),
        level: options.level ?? FASTEST_LEVEL,
        chunkBytes: options.chunkBytes ?? 64 * 1024,
        fileMode: FILE_MODE,
        dirMode: DIR_MODE,
        sync: options.sync === false ? 0 : 1,
        stagingDir: options.stagingDir ?? '',
        stream: this.stream ? 1 : 0,
      },
      () => this.takeEvents(),
    );
  }

  /** The native store, for the live captures that route their records into it themselves (CaptureSet). */
  get nativeStore(): NativeFlowStore {
    return this.native;
  }

  /** Jobs queued or running on the store's threads. */
  get pending(): number {
    return this.native.pending();
  }

  /** Packet-time mode: called by route() when packet time reaches the next deadline check (one per store). */
  setTick(tick: () => void): void {
    this.onTick = tick;
    this.native.setTick(tick);
  }

  /** No flow is started while `maxFlows` (0: no limit) are open, or while memory in use is above `maxMemoryBytes`. */
  setLimits(maxFlows: number, maxMemoryBytes: number): void {
    this.native.setLimits(maxFlows, maxMemoryBytes);
  }

  /** Memory in use now (-maxheap); with `sample`, the store also reads it itself every 256 flows it starts. */
  setMemoryInUse(bytes: number, sample = false): void {
    this.native.setMemoryInUse(bytes, sample);
  }

  /** -anonymize.ip netblock: every address of a flow but these (4 key words each) is masked; null: none is. */
  setAnonymization(localAddresses: Int32Array | null): void {
    this.native.setAnonymization(localAddresses);
  }

  /**
   * Routes every record of a batch (addon layout; `described`, its
   * descriptions) from a link of the given LINKTYPE to its flow's file, in
   * order, starting flows for records of none (takeNewFlows), and adds to
   * `tallies`. `clock`: packet-time mode's clock state
   * (src/demux/packetclock.ts), moved by each record.
   */
  route(batch: Uint8Array, described: Int32Array, linkType: number, clock: Float64Array | null): void {
    this.native.route(batch, described, linkType, clock);
  }

  /** Adds what route() did since the last call to `tallies`. */
  takeTallies(): void {
    this.native.takeTallies(this.tallies);
  }

  /** The flows route() started since the last call (NEWFLOW_WORDS each, src/native/layout.ts); each one's file is taken with fileOf. */
  takeNewFlows(): Float64Array {
    return this.native.takeNewFlows();
  }

  /** The file of a flow route() started, from its slot and serial. */
  fileOf(slot: number, serial: number, onError: WriteErrorListener): FlowFile {
    if (slot < 0 || this.closed) {
      // Only a straggler (a flow started during shutdown) gets here: its
      // file takes no records and finishes empty.
      const unusable = new FlowFile(this, -1, 0, onError);
      unusable.discard();
      return unusable;
    }
    const file = new FlowFile(this, slot, serial, onError);
    this.files.set(serial, file);
    return file;
  }

  /**
   * A flow for a key that has none (a connection named before its first
   * packet), with its file, or why the limits refuse it. Its packets are cut
   * to `headerLength` bytes (0: the first packet's TCP offset plus the
   * largest TCP header); `anonymize` (ANONYMIZE_A | ANONYMIZE_B) chooses the
   * addresses masked, -1 by setAnonymization. The key is copied.
   */
  openFlow(key: FlowKey, hash: number, onError: WriteErrorListener, headerLength = 0, anonymize = -1): OpenedFlow | Refusal {
    const [route, slot, serial] = this.native.openFlow(key, hash, headerLength, anonymize);
    if (route < 0) return -1 - route === REFUSED_MAXFLOWS ? 'maxflows' : 'maxheap';
    return { route, file: this.fileOf(slot, serial, onError) };
  }

  /** The route of the key's flow, -1 none. */
  findFlow(key: FlowKey, hash: number): number {
    return this.native.findFlow(key, hash);
  }

  /** The flow's state changed (SaverState, src/native/layout.ts): only UuidWait and Saving take packets. */
  setFlowState(route: number, state: number): void {
    this.native.setFlowState(route, state);
  }

  /** The flow is gone: its packets are unknown again (a later one starts a new flow). */
  endFlow(route: number): void {
    this.native.endFlow(route);
  }

  /** What the flow's packets were: routed to it, stored for its file, and its opening SYN's sequence number (-1: none seen). */
  flowCounts(route: number): { seen: number; saved: number; openingSeq: number } {
    const [seen, saved, openingSeq] = this.native.flowCounts(route);
    return { seen, saved, openingSeq };
  }

  /** By route: 1 for a flow that saw a packet since the previous call or started since, else 0. Starts the next period. */
  takeSeen(): Uint8Array {
    return this.native.takeSeen();
  }

  /** Stream mode: every flow that stored records while saving since the last call sends them to its file. */
  flushStreams(): void {
    this.native.flushStreams();
  }

  target(file: FlowFile, path: string, writePath: string): void {
    if (this.closed) return;
    this.native.target(file.slot, path, this.stream, writePath);
  }

  discard(file: FlowFile): void {
    if (this.closed) return;
    this.native.discard(file.slot);
    this.files.delete(file.serial);
  }

  finish(file: FlowFile): void {
    if (this.closed) {
      file.finished('failed');
      return;
    }
    this.native.finish(file.slot);
  }

  /**
   * Ends the threads. Files not finished yet are lost: their finish() says
   * 'failed', and later calls do nothing.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close();
    for (const file of this.files.values()) file.finished('failed');
    this.files.clear();
  }

  /**
   * For process.exit right after (a second signal): the store's threads stop
   * after the file or chunk each is working on, waiting at most `waitMs`.
   * True when they all did, so no temporary file of this run is left.
   */
  abort(waitMs: number): boolean {
    if (this.closed) return true;
    this.closed = true;
    return this.native.abort(waitMs);
  }

  private takeEvents(): void {
    const events = this.native.takeEvents();
    for (let at = 0; at + EVENT_WORDS <= events.length; at += EVENT_WORDS) {
      const serial = events[at + 1];
      const file = this.files.get(serial);
      if (file === undefined) continue;
      if (events[at] === EVENT_NUMBERED) {
        const requested = file.path ?? '';
        const path = numberedPath(requested, events[at + 2]);
        file.renamed(path);
        this.onNumberedFile?.(requested, path);
      } else if (events[at] === EVENT_FAILED) {
        file.failed(events[at + 2] === STAGE_COMPRESS, events[at + 3]);
      } else if (events[at] === EVENT_FINISHED) {
        this.files.delete(serial);
        file.finished(finishResult(events[at + 2]));
      }
    }
  }
}
