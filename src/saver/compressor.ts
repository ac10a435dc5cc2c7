// Gzip and file writes off the per-packet path and off the main thread.
// Whole chunks of records are compressed by worker threads, each into a gzip
// member of its own (readers treat concatenated members as one stream), and
// finished files are written by the same threads with plain synchronous
// syscalls. On the main thread a job costs one message each way: no zlib
// stream, no FileHandle, no round trips through libuv's shared thread pool
// (whose lock, on a 2-core machine, the main thread was measured waiting on).
// A cap on jobs in flight bounds a worker's queue; further jobs wait in a FIFO.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { giveBackChunk } from './chunkpool.js';
import type { WorkerJob, WorkerReply } from './compressworker.js';

/** libdeflate's fastest level: header-only records compress well even so. */
const FASTEST_LEVEL = 1;

/** Buffers up to this size may be slices of Node's shared allocation pool, which must never be transferred. */
const SHARED_POOL_BYTES = Buffer.poolSize;

/**
 * Compresses one chunk into a gzip member. The compressor takes the chunk:
 * the caller must not touch `raw` (or other views of its memory) afterwards.
 */
export interface Compress {
  (raw: Buffer): Promise<Buffer>;
}

interface Pending {
  resolve(member: Buffer | null): void;
  reject(error: Error): void;
}

/** Whether `b`'s memory can be handed to another thread: it owns all of its ArrayBuffer, which no pool shares. */
function ownsItsMemory(b: Uint8Array): boolean {
  return b.buffer instanceof ArrayBuffer && (b.buffer.byteLength > SHARED_POOL_BYTES || (b.byteOffset === 0 && b.buffer.byteLength === b.byteLength));
}

/** One worker thread and the jobs it owes answers for. */
class SaverWorker {
  readonly pending = new Map<number, Pending>();
  private readonly worker: Worker;
  private referenced = false;

  constructor(onGone: (self: SaverWorker) => void) {
    this.worker = new Worker(new URL('./compressworker.js', import.meta.url));
    // Idle workers must not keep the process alive; busy ones must, or the
    // process could end while a file waits for its last member.
    this.worker.unref();
    this.worker.on('message', (reply: WorkerReply) => {
      const job = this.pending.get(reply.id);
      if (job === undefined) return;
      this.pending.delete(reply.id);
      this.updateRef();
      if ('error' in reply) {
        job.reject(Object.assign(new Error(reply.error), reply.code === undefined ? {} : { code: reply.code }));
        return;
      }
      if (reply.raw !== undefined) giveBackChunk(reply.raw.buffer as ArrayBuffer);
      const member = reply.member;
      job.resolve(member === undefined ? null : Buffer.from(member.buffer, member.byteOffset, member.byteLength));
    });
    const fail = (error: Error) => {
      for (const job of this.pending.values()) job.reject(error);
      this.pending.clear();
      onGone(this);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`saver worker exited (code ${code})`)));
  }

  /** Posts `job`, handing over the memory of `handOver` where that needs no copy; everything else is copied. */
  run(job: WorkerJob, handOver: readonly Uint8Array[], pending: Pending): void {
    this.pending.set(job.id, pending);
    this.updateRef();
    const transfer: ArrayBuffer[] = [];
    for (const b of handOver) if (ownsItsMemory(b) && !transfer.includes(b.buffer as ArrayBuffer)) transfer.push(b.buffer as ArrayBuffer);
    this.worker.postMessage(job, transfer);
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }

  private updateRef(): void {
    const busy = this.pending.size > 0;
    if (busy === this.referenced) return;
    this.referenced = busy;
    if (busy) this.worker.ref();
    else this.worker.unref();
  }
}

export class Compressor {
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly maxInFlight: number;
  private readonly level: number;
  private readonly workerCount: number;
  /** Started on first use, so a compressor that never compresses costs no thread. */
  private readonly workers: SaverWorker[] = [];
  private nextWorker = 0;
  private nextId = 0;

  /**
   * `workers` defaults to one per core, at most four: at the end of a run (or
   * a shutdown) the main thread is idle while every open flow is compressed
   * and written.
   */
  constructor(options: { maxInFlight?: number; level?: number; workers?: number } = {}) {
    this.workerCount = options.workers ?? Math.max(1, Math.min(4, availableParallelism()));
    // Chunks are handed to a worker at once, not held back here: the main
    // thread may spend a long stretch on a run of capture batches without
    // turning the event loop, and a worker that had to wait for it to release
    // the next chunk would sit idle meanwhile. A waiting chunk costs the same
    // memory in either queue; the cap (512 chunks, at most 32 MiB per worker)
    // only bounds what a worker's queue holds.
    this.maxInFlight = options.maxInFlight ?? 512 * this.workerCount;
    this.level = options.level ?? FASTEST_LEVEL;
  }

  /** Jobs running plus jobs waiting for a slot. */
  get pending(): number {
    return this.inFlight + this.waiting.length;
  }

  readonly compress: Compress = async (raw: Buffer): Promise<Buffer> => {
    const member = await this.submit((id) => ({ kind: 'gzip', id, raw, level: this.level }), [raw]);
    return member as Buffer;
  };

  /**
   * Writes `chunks` to `path` in a worker: OutputFs.writeFileAtomically.
   * The chunks are taken: the caller must not touch them afterwards.
   */
  async writeFileAtomically(path: string, chunks: readonly Buffer[], mode: number, dirMode: number): Promise<void> {
    await this.submit((id) => ({ kind: 'write', id, path, chunks: chunks as Buffer[], mode, dirMode }), chunks);
  }

  /** Ends the worker threads; jobs still running are rejected. */
  async close(): Promise<void> {
    const workers = this.workers.splice(0);
    await Promise.all(workers.map((w) => w.terminate()));
  }

  private async submit(makeJob: (id: number) => WorkerJob, handOver: readonly Uint8Array[]): Promise<Buffer | null> {
    // A finishing job hands its slot straight to the next waiter, so the cap holds exactly.
    if (this.inFlight >= this.maxInFlight) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.inFlight++;
    }
    try {
      return await new Promise<Buffer | null>((resolve, reject) => this.worker().run(makeJob(this.nextId++), handOver, { resolve, reject }));
    } finally {
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.inFlight--;
    }
  }

  /** Round robin: chunks are about the same size, so the workers stay about evenly loaded. */
  private worker(): SaverWorker {
    if (this.workers.length < this.workerCount) {
      const started = new SaverWorker((gone) => {
        const at = this.workers.indexOf(gone);
        if (at >= 0) this.workers.splice(at, 1);
      });
      this.workers.push(started);
      return started;
    }
    this.nextWorker = (this.nextWorker + 1) % this.workers.length;
    return this.workers[this.nextWorker];
  }
}
