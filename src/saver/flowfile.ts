// One flow's output file. Chunks of raw pcap bytes come in; each is compressed
// into a gzip member off the main thread, and members are stored strictly in
// the order their chunks arrived. Without streaming, members stay in memory
// and the file appears at finish() under a temporary name that is renamed into
// place, so no reader ever sees half a file. With streaming, members are
// appended to the final file as soon as the flow's name is known.
import { join } from 'node:path';
import type { Compress } from './compressor.js';
import type { OutputFs } from './outputfs.js';

export const FILE_MODE = 0o664;
export const DIR_MODE = 0o775;

export type WriteErrorReason = 'nospace' | 'permission' | 'write' | 'compress';
export const WRITE_ERROR_REASONS: readonly WriteErrorReason[] = ['nospace', 'permission', 'write', 'compress'];

export interface FlowFileDeps {
  fs: OutputFs;
  compress: Compress;
  stream: boolean;
  /** Called once per failed file, with the path it was writing. */
  onError(reason: WriteErrorReason, path: string, error: unknown): void;
}

export type FinishResult = 'written' | 'empty' | 'failed';

export function classifyWriteError(error: unknown): WriteErrorReason {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'nospace';
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return 'permission';
  return 'write';
}

export class FlowFile {
  private readonly deps: FlowFileDeps;
  /** Members compressed but not yet on disk (all of them without streaming). */
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** Every store happens after the previous one: this is the end of that chain. */
  private tail: Promise<void> = Promise.resolve();
  private directory: string | null = null;
  private fileName = '';
  private failed = false;
  private streamedAny = false;
  private discarded = false;

  constructor(deps: FlowFileDeps) {
    this.deps = deps;
  }

  get path(): string | null {
    return this.directory === null ? null : join(this.directory, this.fileName);
  }

  /** Bytes of compressed output held in memory. */
  get bufferedBytes(): number {
    return this.heldBytes;
  }

  addChunk(raw: Buffer): void {
    if (this.failed || this.discarded) return;
    const member = this.deps.compress(raw);
    // Keep the rejection handled even if the chain is not awaited yet.
    member.catch(() => {});
    this.tail = this.tail.then(async () => {
      let compressed: Buffer;
      try {
        compressed = await member;
      } catch (error) {
        this.fail('compress', error);
        return;
      }
      if (this.failed || this.discarded) return;
      this.held.push(compressed);
      this.heldBytes += compressed.length;
      if (this.deps.stream && this.directory !== null) await this.appendHeld();
    });
  }

  /** Names the file; in stream mode, writing starts now. */
  setTarget(directory: string, fileName: string): void {
    this.directory = directory;
    this.fileName = fileName;
    if (this.deps.stream) {
      this.tail = this.tail.then(() => this.appendHeld());
    }
  }

  /** Drops everything: the flow will never be written. */
  discard(): void {
    this.discarded = true;
    this.held = [];
    this.heldBytes = 0;
  }

  /** Waits for every chunk, then completes the file. */
  async finish(): Promise<FinishResult> {
    await this.tail;
    if (this.failed) return 'failed';
    if (this.discarded || this.directory === null) return 'empty';
    if (this.deps.stream) return this.streamedAny ? 'written' : 'empty';
    if (this.held.length === 0) return 'empty';
    const finalPath = join(this.directory, this.fileName);
    const members = this.held;
    this.held = [];
    this.heldBytes = 0;
    try {
      await this.deps.fs.writeFileAtomically(finalPath, members, FILE_MODE, DIR_MODE);
    } catch (error) {
      this.fail(classifyWriteError(error), error);
      return 'failed';
    }
    return 'written';
  }

  private async appendHeld(): Promise<void> {
    if (this.failed || this.discarded || this.held.length === 0 || this.directory === null) return;
    const finalPath = join(this.directory, this.fileName);
    const data = this.held.length === 1 ? this.held[0] : Buffer.concat(this.held);
    this.held = [];
    this.heldBytes = 0;
    try {
      if (!this.streamedAny) await this.deps.fs.mkdir(this.directory, DIR_MODE);
      await this.deps.fs.appendFile(finalPath, data, FILE_MODE);
      this.streamedAny = true;
    } catch (error) {
      // A stream file that lost a member is not a faithful record: remove it.
      await this.deps.fs.unlink(finalPath).catch(() => {});
      this.fail(classifyWriteError(error), error);
    }
  }

  private fail(reason: WriteErrorReason, error: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.held = [];
    this.heldBytes = 0;
    this.deps.onError(reason, this.path ?? '(unnamed)', error);
  }
}
