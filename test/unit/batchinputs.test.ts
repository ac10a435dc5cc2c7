import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchInputs } from '../../src/capture/batchinputs.js';

test('each record is from the file of the run it falls in', () => {
  // Records 0-2 from file 1, 3 from file 0, 4-9 from file 2, 10- from file 1.
  const inputs = new BatchInputs(['a.pcap', 'b.pcap', 'c.pcap'], Int32Array.of(0, 1, 3, 0, 4, 2, 10, 1));
  const names = Array.from({ length: 13 }, (_, i) => inputs.nameOf(i));
  assert.deepEqual(names, ['b.pcap', 'b.pcap', 'b.pcap', 'a.pcap', 'c.pcap', 'c.pcap', 'c.pcap', 'c.pcap', 'c.pcap', 'c.pcap', 'b.pcap', 'b.pcap', 'b.pcap']);
});

test('one run covers the whole batch; many runs are searched', () => {
  assert.equal(new BatchInputs(['x', 'y'], Int32Array.of(0, 1)).nameOf(5000), 'y');
  const runs = new Int32Array(2000);
  for (let r = 0; r < 1000; r++) {
    runs[2 * r] = r * 3;
    runs[2 * r + 1] = r % 7;
  }
  const inputs = new BatchInputs(['f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6'], runs);
  for (let record = 0; record < 3000; record++) assert.equal(inputs.nameOf(record), `f${Math.floor(record / 3) % 7}`, `record ${record}`);
});
