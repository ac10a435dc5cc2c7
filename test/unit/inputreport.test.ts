import assert from 'node:assert/strict';
import { test } from 'node:test';
import { incompleteInputLine, inputReports } from '../../src/capture/inputreport.js';

test('each -read file gets its packets and, when not read to its end, why', () => {
  const inputs = [
    { name: 'a.pcap', path: 'a.pcap', gzipFault: null },
    { name: 'cut.pcap.gz', path: '/proc/self/fd/30', gzipFault: { code: 'Z_BUF_ERROR', message: 'unexpected end of file', compressedOffset: 900, compressedSize: 1000, decompressedBytes: 5000 } },
    { name: 'odd.pcap', path: 'odd.pcap', gzipFault: null },
    { name: 'bad.pcap.gz', path: '/proc/self/fd/31', gzipFault: { code: 'Z_DATA_ERROR', message: 'invalid block type', compressedOffset: 65536, compressedSize: 200000, decompressedBytes: 300000 } },
    { name: 'short.pcap', path: 'short.pcap', gzipFault: null },
  ];
  // odd.pcap was skipped (link type), so the ends are those of the other four.
  const ends = [
    { name: 'a.pcap', packets: 10, error: null },
    { name: 'cut.pcap.gz', packets: 4, error: 'truncated dump file; tried to read 16 header bytes, only got 3' },
    { name: 'bad.pcap.gz', packets: 7, error: null },
    { name: 'short.pcap', packets: 2, error: 'truncated dump file; tried to read 60 captured bytes, only got 10' },
  ];
  const reports = inputReports(inputs, ends, new Set(['odd.pcap']));
  assert.deepEqual(
    reports.map((r) => [r.name, r.packets, r.problem !== null]),
    [
      ['a.pcap', 10, false],
      ['cut.pcap.gz', 4, true],
      ['odd.pcap', 0, true],
      ['bad.pcap.gz', 7, true],
      ['short.pcap', 2, true],
    ],
  );
  assert.equal(
    incompleteInputLine(reports[1]),
    'input cut.pcap.gz was not read to its end (4 packets read): gzip stream cut: the file ends inside a gzip member at compressed byte 1000 (unexpected end of file), 5000 bytes decompressed before it; libpcap: truncated dump file; tried to read 16 header bytes, only got 3',
  );
  assert.match(reports[2].problem ?? '', /link type cannot be decoded/);
  assert.match(reports[3].problem ?? '', /gzip stream damaged after compressed byte 65536 of 200000 \(Z_DATA_ERROR: invalid block type\)/);
  assert.equal(reports[4].problem, 'libpcap: truncated dump file; tried to read 60 captured bytes, only got 10');
});
