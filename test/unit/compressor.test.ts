// The compressor hands chunks to a worker thread and gets gzip members back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { CHUNK_MAX_BYTES, takeChunk } from '../../src/saver/chunkpool.js';
import { Compressor } from '../../src/saver/compressor.js';

function pattern(bytes: number, seed: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

test('each chunk becomes one gzip member of exactly its bytes, in the order asked, however many are in flight', async (t) => {
  const compressor = new Compressor({ maxInFlight: 3 });
  t.after(() => compressor.close());
  const inputs = Array.from({ length: 40 }, (_, i) => pattern(100 + i * 1500, i));
  const expected = inputs.map((b) => Buffer.from(b)); // the compressor takes the chunks
  const members = await Promise.all(inputs.map((b) => compressor.compress(b)));
  assert.equal(compressor.pending, 0);
  members.forEach((m, i) => {
    assert.equal(m[0], 0x1f);
    assert.equal(m[1], 0x8b);
    assert.deepEqual(gunzipSync(m), expected[i]);
  });
  // Concatenated members read as one stream.
  assert.deepEqual(gunzipSync(Buffer.concat(members)), Buffer.concat(expected));
});

test('a slice of Node\'s shared pool is copied, not taken: its neighbours stay readable', async (t) => {
  const compressor = new Compressor();
  t.after(() => compressor.close());
  const pooled = Buffer.from('small chunk from the shared pool');
  const neighbour = Buffer.from('another slice of the same pool');
  assert.equal(pooled.buffer, neighbour.buffer, 'both come from the shared pool');
  const member = await compressor.compress(pooled);
  assert.equal(gunzipSync(member).toString(), 'small chunk from the shared pool');
  assert.equal(neighbour.toString(), 'another slice of the same pool');
});

test('a full-size chunk comes back from the worker and is reused', async (t) => {
  const compressor = new Compressor();
  t.after(() => compressor.close());
  const chunk = takeChunk(CHUNK_MAX_BYTES);
  pattern(CHUNK_MAX_BYTES, 7).copy(chunk);
  const member = await compressor.compress(chunk.subarray(0, 1000));
  assert.deepEqual(gunzipSync(member), pattern(CHUNK_MAX_BYTES, 7).subarray(0, 1000));
  assert.equal(chunk.buffer.byteLength, 0, 'handed over to the worker, not copied');
  // The memory came back (as a new ArrayBuffer object): the next chunk still holds the old bytes.
  const reused = takeChunk(CHUNK_MAX_BYTES);
  assert.ok(reused.equals(pattern(CHUNK_MAX_BYTES, 7)), 'the next full-size chunk reuses that memory');
});

test('an idle compressor does not keep the process alive, and close() ends its workers', async () => {
  const compressor = new Compressor({ workers: 2 });
  await Promise.all([compressor.compress(pattern(5000, 1)), compressor.compress(pattern(5000, 2))]);
  await compressor.close();
  // Usable again after close: a new worker starts on demand.
  assert.deepEqual(gunzipSync(await compressor.compress(pattern(10, 3))), pattern(10, 3));
  await compressor.close();
});
