// The body of a compression worker: each message is one chunk of raw pcap
// records, answered with that chunk as one gzip member. It compresses
// synchronously (libdeflate, through the addon), which is what a thread of its
// own is for.
import { parentPort } from 'node:worker_threads';
import { loadAddon } from '../capture/addon.js';

export interface CompressJob {
  id: number;
  raw: Uint8Array;
  level: number;
}

/** `raw` is the chunk's memory handed back for reuse, when it was handed over rather than copied. */
export type CompressReply = { id: number; member: Uint8Array; raw?: Uint8Array } | { id: number; error: string };

const port = parentPort;
if (port === null) throw new Error('compressworker.js runs only as a worker thread');
const { gzipMember } = loadAddon();

port.on('message', (job: CompressJob) => {
  let reply: CompressReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const member = gzipMember(job.raw, job.level);
    reply = { id: job.id, member };
    transfer = [member.buffer as ArrayBuffer];
    if (job.raw.buffer.byteLength > Buffer.poolSize) {
      reply.raw = job.raw;
      transfer.push(job.raw.buffer as ArrayBuffer);
    }
  } catch (error) {
    reply = { id: job.id, error: error instanceof Error ? error.message : String(error) };
  }
  port.postMessage(reply, transfer);
});
