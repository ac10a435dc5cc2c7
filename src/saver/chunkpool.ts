// Full-size chunk buffers are recycled. A busy flow fills a 64 KiB chunk every
// few hundred packets; allocating each one fresh costs page faults, and the
// external memory it adds makes V8 collect garbage more often. The compression
// worker hands each chunk's memory back once the chunk is compressed.

/** Raw bytes per compressed member: big enough for gzip to do well, small enough to bound latency. */
export const CHUNK_MAX_BYTES = 64 * 1024;

/** At most this many spare chunks (4 MiB) wait for reuse; the rest are freed. */
const MAX_SPARE_CHUNKS = 64;

const spare: ArrayBuffer[] = [];

/** A buffer of `bytes` bytes, not zeroed, owning its memory (never a slice of a shared pool). */
export function takeChunk(bytes: number): Buffer {
  if (bytes === CHUNK_MAX_BYTES) {
    const reused = spare.pop();
    if (reused !== undefined) return Buffer.from(reused);
  }
  return Buffer.allocUnsafeSlow(bytes);
}

/** Memory of a chunk nobody uses any more; kept for takeChunk if it is full-size. */
export function giveBackChunk(memory: ArrayBuffer): void {
  if (memory.byteLength === CHUNK_MAX_BYTES && spare.length < MAX_SPARE_CHUNKS) spare.push(memory);
}
