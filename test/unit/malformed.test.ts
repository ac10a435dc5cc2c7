// The quick slice of the malformed-frame run through the JavaScript reference
// decoder (the full 10 million frames run with `npm run hardening`). The C
// decoder that captures use is fuzzed by test/integration/native_fuzz.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runMalformed } from '../../hardening/malformed.js';

test('200,000 seeded malformed frames: no exception, every frame counted once', async () => {
  const r = await runMalformed(200_000, 7);
  assert.equal(r.bad + r.saved + r.missed + r.ignored, r.frames);
  assert.ok(r.bad > r.frames / 3, `${r.bad} bad`);
  assert.ok(r.saved > 0);
  for (const reason of ['truncated', 'linktype', 'not_ip', 'ip_header', 'not_tcp', 'tcp_header']) {
    assert.ok((r.badByReason[reason] ?? 0) > 0, `no frame was bad for ${reason}`);
  }
});
