// -index: the daemon hands each completed file's path to a worker thread
// (indexworker.ts) that summarizes it and writes its row, so the packet path
// pays one postMessage per file. If the index falls this far behind, later
// files are left out (and counted) rather than held in memory; a run of
// `packet-headers index DATADIR` adds them.
import { Worker } from 'node:worker_threads';
import type { Log } from '../log.js';

export const MAX_WAITING_FILES = 10_000;

export interface IndexWorkerData {
  database: string;
  datadir: string;
}
export type ToIndexWorker = { kind: 'file'; path: string } | { kind: 'close' };
export type FromIndexWorker =
  | { kind: 'ready' }
  | { kind: 'fatal'; message: string }
  | { kind: 'committed'; files: number }
  | { kind: 'failed'; files: number; message: string }
  | { kind: 'closed' };

export interface LiveIndexCounts {
  indexed(files: number): void;
  failed(files: number): void;
  leftOut(files: number): void;
}

/** How often a failure is logged: the first, then at most once a minute with the number since. */
const FAILURE_LOG_MS = 60_000;

export class LiveIndex {
  private readonly worker: Worker;
  private readonly log: Log;
  private readonly counts: LiveIndexCounts;
  private waiting = 0;
  private dead = false;
  private started = false;
  private closed: Promise<void> | null = null;
  private lastFailureLog = -Infinity;
  private failuresSinceLog = 0;
  private leftOutSinceLog = 0;

  /** Resolves once the database is open; rejects with its error (a bad path, a database of something else). */
  static start(database: string, datadir: string, log: Log, counts: LiveIndexCounts): Promise<LiveIndex> {
    const index = new LiveIndex(database, datadir, log, counts);
    return new Promise((resolve, reject) => {
      index.worker.once('message', (message: FromIndexWorker) => {
        if (message.kind === 'ready') {
          index.started = true;
          resolve(index);
        }
        else reject(new Error(message.kind === 'fatal' ? message.message : `unexpected ${message.kind}`));
      });
      index.worker.once('error', reject);
    });
  }

  private constructor(database: string, datadir: string, log: Log, counts: LiveIndexCounts) {
    this.log = log;
    this.counts = counts;
    const data: IndexWorkerData = { database, datadir };
    this.worker = new Worker(new URL('./indexworker.js', import.meta.url), { workerData: data });
    this.worker.on('message', (message: FromIndexWorker) => this.onMessage(message));
    this.worker.on('error', (error) => {
      this.dead = true;
      // Before it was ready, the error is start()'s to report.
      if (this.started) log(`-index: the index thread failed (${error.message}); no more files are indexed`);
    });
    this.worker.on('exit', () => {
      this.dead = true;
    });
  }

  /** A file the daemon has just completed (absolute or relative to the working directory). */
  add(path: string): void {
    if (this.dead || this.closed !== null) return;
    if (this.waiting >= MAX_WAITING_FILES) {
      this.counts.leftOut(1);
      this.leftOutSinceLog++;
      this.logFailure(`-index: ${MAX_WAITING_FILES} files wait to be indexed; ${path} is left out (run packet-headers index to add it)`);
      return;
    }
    this.waiting++;
    this.worker.postMessage({ kind: 'file', path } satisfies ToIndexWorker);
  }

  /** Indexes every file handed in so far, commits, and ends the thread. */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      if (this.dead) return resolve();
      this.worker.once('exit', () => resolve());
      this.worker.postMessage({ kind: 'close' } satisfies ToIndexWorker);
    });
    return this.closed;
  }

  private onMessage(message: FromIndexWorker): void {
    if (message.kind === 'committed') {
      this.waiting -= message.files;
      this.counts.indexed(message.files);
    } else if (message.kind === 'failed') {
      this.waiting -= message.files;
      this.counts.failed(message.files);
      this.failuresSinceLog += message.files;
      this.logFailure(`-index: ${message.message}`);
    }
  }

  private logFailure(line: string): void {
    const now = performance.now();
    if (now - this.lastFailureLog < FAILURE_LOG_MS) return;
    const more = this.failuresSinceLog + this.leftOutSinceLog - 1;
    this.log(more > 0 && this.lastFailureLog !== -Infinity ? `${line} (and ${more} more files not indexed in the last minute)` : line);
    this.lastFailureLog = now;
    this.failuresSinceLog = 0;
    this.leftOutSinceLog = 0;
  }
}
