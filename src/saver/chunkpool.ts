// Chunk buffers are recycled. A flow's chunk starts small and doubles as the
// flow grows; a busy flow then fills a 64 KiB chunk every few hundred packets.
// Allocating each one fresh costs page faults, and the external memory it adds
// makes V8 collect garbage more often. Outgrown chunks come back at once; a
// full chunk comes back from the compression worker once it is compressed.

/** Raw bytes per compressed member: big enough for gzip to do well, small enough to bound latency. */
export const CHUNK_MAX_BYTES = 64 * 1024;

/** Spare memory kept per chunk size (so at most 7 × 2 MiB in all); the rest is freed. */
const MAX_SPARE_BYTES_PER_SIZE = 2 * 1024 * 1024;

/** Spare chunks by size; only powers of two are pooled. */
const spare = new Map<number, ArrayBuffer[]>();

function isPooledSize(bytes: number): boolean {
  return bytes >= 1024 && bytes <= CHUNK_MAX_BYTES && (bytes & (bytes - 1)) === 0;
}

/** A buffer of `bytes` bytes, not zeroed, owning its memory (never a slice of a shared pool). */
export function takeChunk(bytes: number): Buffer {
  const reused = spare.get(bytes)?.pop();
  if (reused !== undefined) return Buffer.from(reused);
  return Buffer.allocUnsafeSlow(bytes);
}

/** Memory of a chunk nobody uses any more: the caller must hold no view of it. */
export function giveBackChunk(memory: ArrayBuffer): void {
  const bytes = memory.byteLength;
  if (!isPooledSize(bytes)) return;
  let list = spare.get(bytes);
  if (list === undefined) spare.set(bytes, (list = []));
  if ((list.length + 1) * bytes <= MAX_SPARE_BYTES_PER_SIZE) list.push(memory);
}
