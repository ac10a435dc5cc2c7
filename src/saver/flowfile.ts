// One flow's output file, as the demuxer sees it: a slot of the flow store
// (flowstore.ts) that the store routes its flow's records into, a name, and an
// end. Errors and the end come back from the store's threads as events.
import { getSystemErrorName } from 'node:util';

export const FILE_MODE = 0o664;
export const DIR_MODE = 0o775;

export type FinishResult = 'written' | 'empty' | 'failed';
/** `<UUID>.N.pcap.gz` for `<UUID>.pcap.gz`, as native/files.cc names it. */
export function numberedPath(path: string, n: number): string {
  return path.endsWith('.pcap.gz') && path.length > '.pcap.gz'.length
    ? `${path.slice(0, -'.pcap.gz'.length)}.${n}.pcap.gz`
    : `${path}.${n}`;
}
export type WriteErrorReason = 'nospace' | 'permission' | 'write' | 'compress';
export const WRITE_ERROR_REASONS: readonly WriteErrorReason[] = ['nospace', 'permission', 'write', 'compress'];

function classifyWriteError(error: unknown): WriteErrorReason {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'nospace';
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return 'permission';
  return 'write';
}

/** What a file asks of the store that holds its slot (flowstore.ts FlowStore). */
export interface FileSlots {
  target(file: FlowFile, path: string, writePath: string): void;
  discard(file: FlowFile): void;
  finish(file: FlowFile): void;
}

/** Called once per failed file, with the path it was writing. */
export type WriteErrorListener = (reason: WriteErrorReason, path: string, error: Error) => void;

/**
 * One flow's output file: records go in through the store's route(); the file
 * appears whole under its name at finish(); in stream mode it grows from the
 * moment it is named (in the staging directory when there is one) and
 * appears at finish() too.
 */
export class FlowFile {
  readonly slot: number;
  readonly serial: number;
  private readonly store: FileSlots;
  private readonly onError: WriteErrorListener;
  private filePath: string | null = null;
  /** finish() or discard() was called: the slot belongs to the store again. */
  private closed = false;
  private failedAlready = false;
  private settle: ((result: FinishResult) => void) | null = null;

  constructor(store: FileSlots, slot: number, serial: number, onError: WriteErrorListener) {
    this.store = store;
    this.slot = slot;
    this.serial = serial;
    this.onError = onError;
  }

  get path(): string | null {
    return this.filePath;
  }

  /** Until finish() or discard(): the file takes records. */
  get isOpen(): boolean {
    return !this.closed;
  }

  /** Names the file; in stream mode, writing starts now, at `writePath` until the end. */
  setTarget(path: string, writePath = path): void {
    if (this.closed) return;
    this.filePath = path;
    this.store.target(this, path, writePath);
  }

  /** Drops everything: the flow will never be written. */
  discard(): void {
    if (this.closed) return;
    this.closed = true;
    this.store.discard(this);
  }

  /** Completes the file: 'empty' when it was never named or holds nothing. */
  finish(): Promise<FinishResult> {
    return new Promise<FinishResult>((resolve) => this.finishThen(resolve));
  }

  /**
   * finish() without a promise: `done` is called once, when the file is
   * complete (at once when the file was finished or discarded before). The
   * demuxer finishes every flow this way: a promise chain per flow held
   * about 1 KiB per finishing flow.
   */
  finishThen(done: (result: FinishResult) => void): void {
    if (this.closed) {
      done('empty');
      return;
    }
    this.closed = true;
    this.settle = done;
    this.store.finish(this);
  }

  /** Store event: the file failed; nothing more of it will be written. */
  failed(compressing: boolean, errno: number): void {
    if (this.failedAlready) return;
    this.failedAlready = true;
    const path = this.filePath ?? '(unnamed)';
    if (compressing) {
      this.onError('compress', path, new Error('cannot compress records'));
      return;
    }
    const code = errnoName(errno);
    const error = Object.assign(new Error(`${code}: cannot write ${path}`), { code, errno: -errno });
    this.onError(classifyWriteError(error), path, error);
  }

  /** Store event: the records go to `path` instead of the name asked for, which was taken. */
  renamed(path: string): void {
    this.filePath = path;
  }

  /** Store event: finish() is done. */
  finished(result: FinishResult): void {
    const settle = this.settle;
    this.settle = null;
    settle?.(result);
  }
}

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}
