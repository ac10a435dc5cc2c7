import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressText, flowKeyFromText, flowKeysEqual, hashFlowKey, newFlowKey, portOf } from '../../src/decode/flowkey.js';

function key(src: string, sport: number, dst: string, dport: number) {
  const k = newFlowKey();
  assert.ok(flowKeyFromText(src, sport, dst, dport, k), `${src} ${dst}`);
  return k;
}

test('keys are direction independent', () => {
  const a = key('10.0.0.1', 80, '10.0.0.2', 5000);
  const b = key('10.0.0.2', 5000, '10.0.0.1', 80);
  assert.ok(flowKeysEqual(a, b));
  assert.equal(hashFlowKey(a), hashFlowKey(b));
  const c = key('2001:db8::86', 443, '2001:db8:1::9', 48072);
  const d = key('2001:db8:1::9', 48072, '2001:db8::86', 443);
  assert.ok(flowKeysEqual(c, d));
});

test('same addresses, ports swapped between ends, is another flow', () => {
  assert.ok(!flowKeysEqual(key('10.0.0.1', 80, '10.0.0.2', 5000), key('10.0.0.1', 5000, '10.0.0.2', 80)));
});

test('IPv4-mapped IPv6 equals IPv4', () => {
  assert.ok(flowKeysEqual(key('::ffff:10.0.0.1', 80, '::ffff:10.0.0.2', 5000), key('10.0.0.1', 80, '10.0.0.2', 5000)));
});

test('text round trip', () => {
  const k = key('2001:db8:0:0:1:0:0:1', 1, '10.20.30.40', 65535);
  const texts = [addressText(k, 0), addressText(k, 1)].sort();
  assert.deepEqual(texts, ['10.20.30.40', '2001:db8::1:0:0:1'].sort());
  assert.deepEqual([portOf(k, 0), portOf(k, 1)].sort((x, y) => x - y), [1, 65535]);
  assert.equal(addressText(key('fd00::', 1, '::1', 2), 0), '::1');
});

test('bad addresses are refused', () => {
  const k = newFlowKey();
  for (const bad of ['', '10.0.0', '1.2.3.256', 'fe80::1%eth0', 'x::y', '1:2:3:4:5:6:7:8:9']) {
    assert.equal(flowKeyFromText(bad, 1, '10.0.0.1', 2, k), false, bad);
  }
});

test('hash spreads keys', () => {
  const hashes = new Set<number>();
  for (let port = 1; port <= 20000; port++) hashes.add(hashFlowKey(key('10.0.0.1', port, '10.0.0.2', 443)));
  assert.ok(hashes.size > 19990, `${hashes.size} distinct hashes`);
});
