// A slice of the native fuzz run (the full 10 million frames run with
// `npm run hardening`): seeded malformed frames in pcap files of every link
// type, read by the addon built with AddressSanitizer and UBSan, decoded by
// native/decode.cc and stored by the flow store (native/router.cc,
// native/file_jobs.cc), every flow named.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { problemsOf, runUnderSanitizer } from '../../hardening/native-fuzz.js';

test('150,000 malformed frames through the sanitizer build of the addon: no report, every frame counted once', { timeout: 600_000 }, async () => {
  const run = await runUnderSanitizer(150_000, 11);
  assert.deepEqual(run.reports, [], run.stderr.slice(0, 4000));
  assert.equal(run.exitCode, 0, run.stderr.slice(0, 4000));
  const r = run.result;
  assert.ok(r !== null, 'the run printed no result');
  assert.ok(r.asanRuntime, 'AddressSanitizer runtime not in the process');
  assert.match(r.addonMapped, /build-sanitize\/build\/Release\/packet_headers_capture\.node$/);
  assert.deepEqual(problemsOf(r), []);
  assert.ok(r.saved > 0 && r.filesWritten > 0, 'no flow was saved');
  assert.ok(r.ignored > 0, 'no flow was shed');
  for (const reason of ['truncated', 'linktype', 'not_ip', 'ip_header', 'not_tcp', 'tcp_header']) {
    assert.ok((r.badByReason[reason] ?? 0) > 0, `no frame was bad for ${reason}`);
  }
});
