// Gzip off the per-packet path and off the main thread: whole chunks of
// records are compressed by worker threads, each into a gzip member of its own
// (readers treat concatenated members as one stream). On the main thread a
// chunk costs one message each way; the compression (libdeflate, through the
// addon) and the member's allocation happen in the worker. A cap on jobs in flight
// bounds the memory of chunks handed over; further chunks wait in a FIFO.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { giveBackChunk } from './chunkpool.js';
import type { CompressJob, CompressReply } from './compressworker.js';

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

interface Job {
  resolve(member: Buffer): void;
  reject(error: Error): void;
}

/** One worker thread and the jobs it owes answers for. */
class CompressWorker {
  readonly jobs = new Map<number, Job>();
  private readonly worker: Worker;
  private referenced = false;

  constructor(onGone: (self: CompressWorker) => void) {
    this.worker = new Worker(new URL('./compressworker.js', import.meta.url));
    // Idle workers must not keep the process alive; busy ones must, or the
    // process could end while a file waits for its last member.
    this.worker.unref();
    this.worker.on('message', (reply: CompressReply) => {
      const job = this.jobs.get(reply.id);
      if (job === undefined) return;
      this.jobs.delete(reply.id);
      this.updateRef();
      if ('error' in reply) {
        job.reject(new Error(`gzip: ${reply.error}`));
        return;
      }
      if (reply.raw !== undefined) giveBackChunk(reply.raw.buffer as ArrayBuffer);
      job.resolve(Buffer.from(reply.member.buffer, reply.member.byteOffset, reply.member.byteLength));
    });
    const fail = (error: Error) => {
      for (const job of this.jobs.values()) job.reject(error);
      this.jobs.clear();
      onGone(this);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`compression worker exited (code ${code})`)));
  }

  run(id: number, raw: Buffer, level: number, job: Job): void {
    this.jobs.set(id, job);
    this.updateRef();
    const message: CompressJob = { id, raw, level };
    // A chunk that owns a buffer bigger than the shared pool is handed over
    // without a copy; anything else is copied by the structured clone.
    const transferable = raw.buffer.byteLength > SHARED_POOL_BYTES && raw.buffer instanceof ArrayBuffer;
    this.worker.postMessage(message, transferable ? [raw.buffer as ArrayBuffer] : []);
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }

  private updateRef(): void {
    const busy = this.jobs.size > 0;
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
  private readonly workers: CompressWorker[] = [];
  private nextWorker = 0;
  private nextId = 0;

  /**
   * `workers` defaults to one per core but one (the main thread keeps a core),
   * at least one and at most four.
   */
  constructor(options: { maxInFlight?: number; level?: number; workers?: number } = {}) {
    this.workerCount = options.workers ?? Math.max(1, Math.min(4, availableParallelism() - 1));
    // Enough queued per worker that it never waits for the main thread between
    // jobs (at the end of an offline run, thousands of flows finish at once);
    // 16 chunks are at most 1 MiB.
    this.maxInFlight = options.maxInFlight ?? 16 * this.workerCount;
    this.level = options.level ?? FASTEST_LEVEL;
  }

  /** Jobs running plus jobs waiting for a slot. */
  get pending(): number {
    return this.inFlight + this.waiting.length;
  }

  readonly compress: Compress = async (raw: Buffer): Promise<Buffer> => {
    // A finishing job hands its slot straight to the next waiter, so the cap holds exactly.
    if (this.inFlight >= this.maxInFlight) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.inFlight++;
    }
    try {
      return await new Promise<Buffer>((resolve, reject) => this.worker().run(this.nextId++, raw, this.level, { resolve, reject }));
    } finally {
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.inFlight--;
    }
  };

  /** Ends the worker threads; jobs still running are rejected. */
  async close(): Promise<void> {
    const workers = this.workers.splice(0);
    await Promise.all(workers.map((w) => w.terminate()));
  }

  /** Round robin: chunks are about the same size, so the workers stay about evenly loaded. */
  private worker(): CompressWorker {
    if (this.workers.length < this.workerCount) {
      const started = new CompressWorker((gone) => {
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
