// Where the bytes of every flow go: the native flow store (native/README.md)
// routes each captured record to its flow's file, keeps each flow's records in
// chunks, compresses full chunks into gzip members and writes files, the last
// two on threads of its own. The demuxer tells it about flows, not packets: a
// flow is bound to a route when it starts (its key, its file, what to
// anonymize), told its state as it changes, and unbound when it ends; a batch
// is routed in one call, which calls back only for what the demuxer decides
// (a record of a flow it does not know, a SYN that opens a new connection on
// a known 4-tuple, packet time reaching the next deadline check).
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
  STAGE_COMPRESS,
  TALLY_WORDS,
} from '../native/layout.js';
import { DIR_MODE, FILE_MODE, FlowFile, numberedPath, type FinishResult, type WriteErrorListener } from './flowfile.js';

/**
 * A flow's file name was taken when its file was published (docs/output.md):
 * the file went to `path`, the first free `<UUID>.N.pcap.gz` beside `requested`.
 */
export type NumberedFileListener = (requested: string, path: string) => void;

/**
 * What the store asks while routing a batch (FlowStore.route), at the record
 * concerned, so that every flow's records stay in capture order.
 */
export interface Router {
  /**
   * The TCP record described at word `descriptionAt` has no flow (`replaced`
   * -1), or is a connection-opening SYN of a new connection on the 4-tuple of
   * route `replaced`. Returns the route it goes to (of a flow started for it,
   * the replaced flow closed first), or -1 to drop it.
   */
  flowFor(descriptionAt: number, replaced: number): number;
  /** Packet-time mode: packet time has reached the next deadline check. */
  tick(): void;
}

/** libdeflate's fastest level: header-only records compress well even so. */
const FASTEST_LEVEL = 1;

/** A FINISHED_* result of the store as FlowFile takes it; anything else is a failure. */
function finishResult(code: number): FinishResult {
  return code === FINISHED_WRITTEN ? 'written' : code === FINISHED_EMPTY ? 'empty' : 'failed';
}

export interface FlowStoreOptions {
  /** Compression and file threads; default one per core, at most four. */
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
  private nextSerial = 1;
  /** Added to by every route(): TALLY_SAVED, TALLY_MISSED, TALLY_BAD (src/native/layout.ts). Whoever reads them zeroes them. */
  readonly tallies = new Int32Array(TALLY_WORDS);
  /** Held here: the native store holds its callbacks weakly. */
  private router: { flowFor: (at: number, replaced: number) => number; tick: () => void } | null = null;
  private closed = false;
  private readonly onNumberedFile: NumberedFileListener | undefined;

  constructor(options: FlowStoreOptions = {}) {
    this.stream = options.stream ?? false;
    this.onNumberedFile = options.onNumberedFile;
    const { FlowStore: NativeStore } = loadAddon();
    this.native = new NativeStore(
      {
        threads: options.threads ?? Math.max(1, Math.min(4, availableParallelism())),
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

  /** Jobs queued or running on the store's threads. */
  get pending(): number {
    return this.native.pending();
  }

  /** A new, unnamed file. */
  openFile(onError: WriteErrorListener): FlowFile {
    if (this.closed) {
      // Only a straggler (an event handled during shutdown) gets here: its
      // file takes no records and finishes empty.
      const unusable = new FlowFile(this, -1, 0, onError);
      unusable.discard();
      return unusable;
    }
    const serial = this.nextSerial;
    this.nextSerial = serial >= 0x7fffffff ? 1 : serial + 1;
    const file = new FlowFile(this, this.native.open(serial), serial, onError);
    this.files.set(serial, file);
    return file;
  }

  /** Who decides what route() cannot (one router per store). */
  setRouter(router: Router): void {
    this.router = { flowFor: (at, replaced) => router.flowFor(at, replaced), tick: () => router.tick() };
    this.native.setRouter(this.router.flowFor, this.router.tick);
  }

  /**
   * Routes every record of a batch (addon layout; `described`, its
   * descriptions) from a link of the given LINKTYPE to its flow's file, in
   * order, and adds to `tallies`. `clock`: packet-time mode's clock state
   * (src/demux/packetclock.ts), moved by each record.
   */
  route(batch: Uint8Array, described: Int32Array, linkType: number, clock: Float64Array | null): void {
    this.native.route(batch, described, linkType, this.tallies, clock);
  }

  /**
   * A route for a flow just started, to `file`: its packets go there from now
   * on, each cut to `headerLength` bytes (0: the first packet's TCP offset
   * plus the largest TCP header), with the addresses chosen by `anonymize`
   * (ANONYMIZE_A | ANONYMIZE_B) masked. The key is copied.
   */
  bindFlow(file: FlowFile, key: FlowKey, hash: number, anonymize: number, headerLength = 0): number {
    return this.native.bindFlow(file.isOpen ? file.slot : -1, key, hash, anonymize, headerLength);
  }

  /** The flow's state changed (SaverState, src/native/layout.ts): only UuidWait and Saving take packets. */
  setFlowState(route: number, state: number): void {
    this.native.setFlowState(route, state);
  }

  /** The flow is gone: its packets are unknown again. */
  unbindFlow(route: number): void {
    this.native.unbindFlow(route);
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
