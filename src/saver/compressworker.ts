// The body of a saver worker thread. Two kinds of job: a chunk of raw pcap
// records, answered with that chunk as one gzip member (libdeflate, through
// the addon); and a finished file, written under a temporary name and renamed
// into place. Both run synchronously, which is what a thread of its own is
// for: the main thread's share of a job is one message each way.
import { parentPort } from 'node:worker_threads';
import { loadAddon } from '../capture/addon.js';
import { writeFileAtomicallySync } from './outputfs.js';

export interface GzipJob {
  kind: 'gzip';
  id: number;
  raw: Uint8Array;
  level: number;
}

export interface WriteJob {
  kind: 'write';
  id: number;
  path: string;
  chunks: Uint8Array[];
  mode: number;
  dirMode: number;
}

export type WorkerJob = GzipJob | WriteJob;

/**
 * `member` answers a gzip job (`raw` is the chunk's memory handed back for
 * reuse, when it was handed over rather than copied); a write job is answered
 * with its id alone. A failure carries the message and errno code.
 */
export type WorkerReply =
  | { id: number; member?: Uint8Array; raw?: Uint8Array }
  | { id: number; error: string; code?: string };

const port = parentPort;
if (port === null) throw new Error('compressworker.js runs only as a worker thread');
const { gzipMember } = loadAddon();

function gzip(job: GzipJob, transfer: ArrayBuffer[]): WorkerReply {
  const member = gzipMember(job.raw, job.level);
  transfer.push(member.buffer as ArrayBuffer);
  if (job.raw.buffer.byteLength > Buffer.poolSize) {
    transfer.push(job.raw.buffer as ArrayBuffer);
    return { id: job.id, member, raw: job.raw };
  }
  return { id: job.id, member };
}

port.on('message', (job: WorkerJob) => {
  let reply: WorkerReply;
  const transfer: ArrayBuffer[] = [];
  try {
    if (job.kind === 'gzip') {
      reply = gzip(job, transfer);
    } else {
      writeFileAtomicallySync(job.path, job.chunks, job.mode, job.dirMode);
      reply = { id: job.id };
    }
  } catch (error) {
    transfer.length = 0;
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    reply = { id: job.id, error: error instanceof Error ? error.message : String(error), code };
  }
  port.postMessage(reply, transfer);
});
