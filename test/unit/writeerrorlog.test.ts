// A full disk fails every flow: the log gets one line per kind of failure
// per minute, with the rest counted, instead of one line per flow.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WRITE_ERROR_LOG_INTERVAL_MS, WriteErrorLog } from '../../src/saver/writeerrorlog.js';

const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

test('a burst of failures of one kind is one line at once and one summary line when the minute is over', () => {
  const lines: string[] = [];
  const log = new WriteErrorLog((l) => lines.push(l));
  for (let i = 0; i < 100; i++) log.report('nospace', `/d/flow${i}.pcap.gz`, enospc(), 1000 + i);
  assert.deepEqual(lines, ['cannot write /d/flow0.pcap.gz: no space left on the device (ENOSPC); this flow is lost']);
  log.flush(1000 + WRITE_ERROR_LOG_INTERVAL_MS - 1);
  assert.equal(lines.length, 1, 'nothing more before the minute is over');
  log.flush(1000 + WRITE_ERROR_LOG_INTERVAL_MS);
  assert.deepEqual(lines.slice(1), ['99 more flows could not be written (nospace) in the last minute; latest /d/flow99.pcap.gz: no space left on the device (ENOSPC)']);
  log.flush(1000 + 3 * WRITE_ERROR_LOG_INTERVAL_MS);
  assert.equal(lines.length, 2, 'a summary is written once');
});

test('each kind of failure gets its own first line, and a failure after a quiet minute is logged at once', () => {
  const lines: string[] = [];
  const log = new WriteErrorLog((l) => lines.push(l));
  log.report('nospace', '/d/a.pcap.gz', enospc(), 0);
  log.report('permission', '/d/b.pcap.gz', Object.assign(new Error('EACCES'), { code: 'EACCES' }), 10);
  assert.equal(lines.length, 2);
  assert.match(lines[1], /^cannot write \/d\/b\.pcap\.gz: permission denied \(EACCES\)/);
  log.report('nospace', '/d/c.pcap.gz', enospc(), WRITE_ERROR_LOG_INTERVAL_MS + 5);
  assert.equal(lines.length, 3);
  assert.match(lines[2], /^cannot write \/d\/c\.pcap\.gz: no space left/);
  assert.doesNotMatch(lines[2], /more since/, 'nothing was held back');
});
