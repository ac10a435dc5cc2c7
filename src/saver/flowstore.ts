// Where the bytes of every flow go: the native flow store (native/flowstore.cc)
// keeps each flow's records in chunks, compresses full chunks into gzip members
// and writes files, all on threads of its own. This side plans: per batch, the
// demuxer lists which records go to which file (and how much of each to keep);
// the list is handed over in one call when the batch is done, or earlier when
// a file operation must see the records planned before it.
import { availableParallelism } from 'node:os';
import { loadAddon, type NativeFlowStore } from '../capture/addon.js';
import { DESCRIPTION_WORDS } from '../decode/describe.js';
import { DIR_MODE, FILE_MODE, FlowFile, numberedPath, type ExistingFileAction, type FinishResult, type WriteErrorListener } from './flowfile.js';

/**
 * A flow's file name was taken when it was first written (README, Output):
 * `path` is where its records went (`requested` itself when appended, a
 * numbered name beside it when separate); `cutBytes` is the partial member a
 * crash had left at the end of the file appended to, cut off first.
 */
export type ExistingFileListener = (action: ExistingFileAction, requested: string, path: string, cutBytes: number) => void;

/** Words per plan entry: description index, slot, bytes kept, record flags. */
const PLAN_WORDS = 4;
/** Record flags: mask the source or destination address. */
export const ANONYMIZE_SOURCE = 1;
export const ANONYMIZE_DESTINATION = 2;
/**
 * Record flag: a FIN or RST. A connection that is ending will not add much
 * more, so the store compresses a flow's records at such a packet when they
 * are at least 16 KiB (native/flowstore.cc), instead of at the flow's end.
 */
export const ENDS_CONNECTION = 4;

/** Words per event from the store: kind, file serial, two kind-specific words. */
const EVENT_WORDS = 4;
const EVENT_FINISHED = 0;
const EVENT_FAILED = 1;
const EVENT_EXISTING = 2;
const EXISTING_ACTIONS: readonly ExistingFileAction[] = ['appended', 'separate'];
const STAGE_COMPRESS = 0;

/** libdeflate's fastest level: header-only records compress well even so. */
const FASTEST_LEVEL = 1;

const FINISH_RESULTS: readonly FinishResult[] = ['written', 'empty', 'failed'];

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
  /**
   * A flow whose file name is taken by a file with the same pcap header is
   * appended to it (default true); false: it gets a numbered name beside it.
   */
  appendExisting?: boolean;
  onExistingFile?: ExistingFileListener;
}

export class FlowStore {
  readonly stream: boolean;
  private readonly native: NativeFlowStore;
  /** Open files by serial, for the events that name them. */
  private readonly files = new Map<number, FlowFile>();
  private nextSerial = 1;
  private plan = new Int32Array(PLAN_WORDS * 1024);
  private planned = 0;
  private batch: Uint8Array | null = null;
  private described: Int32Array | null = null;
  private linkType = 0;
  private closed = false;
  private readonly onExistingFile: ExistingFileListener | undefined;

  constructor(options: FlowStoreOptions = {}) {
    this.stream = options.stream ?? false;
    this.onExistingFile = options.onExistingFile;
    const { FlowStore: NativeStore } = loadAddon();
    this.native = new NativeStore(
      {
        threads: options.threads ?? Math.max(1, Math.min(4, availableParallelism())),
        level: options.level ?? FASTEST_LEVEL,
        chunkBytes: options.chunkBytes ?? 64 * 1024,
        fileMode: FILE_MODE,
        dirMode: DIR_MODE,
        sync: options.sync === false ? 0 : 1,
        appendExisting: options.appendExisting === false ? 0 : 1,
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

  /** Starts planning the records of a batch (addon layout) and its descriptions. */
  beginBatch(batch: Uint8Array, described: Int32Array, linkType: number): void {
    this.commit();
    this.batch = batch;
    this.described = described;
    this.linkType = linkType;
    const needed = (described.length / DESCRIPTION_WORDS) * PLAN_WORDS;
    if (this.plan.length < needed) this.plan = new Int32Array(needed);
  }

  /** Hands the planned records over and forgets the batch. */
  endBatch(): void {
    this.commit();
    this.batch = null;
    this.described = null;
  }

  /** Plans the record described at `descriptionAt` for the file in `slot`. */
  planRecord(descriptionAt: number, slot: number, keepBytes: number, flags: number): void {
    const at = this.planned * PLAN_WORDS;
    const plan = this.plan;
    plan[at] = descriptionAt;
    plan[at + 1] = slot;
    plan[at + 2] = keepBytes;
    plan[at + 3] = flags;
    this.planned++;
  }

  flush(file: FlowFile): void {
    if (this.closed) return;
    this.commit();
    this.native.flush(file.slot);
  }

  target(file: FlowFile, path: string): void {
    if (this.closed) return;
    this.commit();
    this.native.target(file.slot, path, this.stream);
  }

  discard(file: FlowFile): void {
    if (this.closed) return;
    this.commit();
    this.native.discard(file.slot);
    this.files.delete(file.serial);
  }

  finish(file: FlowFile): void {
    if (this.closed) {
      file.finished('failed');
      return;
    }
    this.commit();
    this.native.finish(file.slot);
  }

  /**
   * Ends the threads. Files not finished yet are lost: their finish() says
   * 'failed', and later calls do nothing.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.planned = 0;
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
    this.planned = 0;
    return this.native.abort(waitMs);
  }

  private commit(): void {
    if (this.planned === 0 || this.closed) return;
    const count = this.planned;
    this.planned = 0;
    this.native.append(this.batch as Uint8Array, this.described as Int32Array, this.plan, count, this.linkType);
  }

  private takeEvents(): void {
    const events = this.native.takeEvents();
    for (let at = 0; at + EVENT_WORDS <= events.length; at += EVENT_WORDS) {
      const serial = events[at + 1];
      const file = this.files.get(serial);
      if (file === undefined) continue;
      if (events[at] === EVENT_EXISTING) {
        const requested = file.path ?? '';
        const action = EXISTING_ACTIONS[events[at + 2]] ?? 'separate';
        const path = action === 'separate' ? numberedPath(requested, events[at + 3]) : requested;
        file.renamed(path);
        this.onExistingFile?.(action, requested, path, action === 'appended' ? events[at + 3] : 0);
      } else if (events[at] === EVENT_FAILED) {
        file.failed(events[at + 2] === STAGE_COMPRESS, events[at + 3]);
      } else if (events[at] === EVENT_FINISHED) {
        this.files.delete(serial);
        file.finished(FINISH_RESULTS[events[at + 2]] ?? 'failed');
      }
    }
  }
}
