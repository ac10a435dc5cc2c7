import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flowKeyFromText, newFlowKey } from '../../src/decode/flowkey.js';
import { Anonymizer, maskAddressBytes } from '../../src/saver/anonymize.js';

test('netblock keeps the /24 of IPv4 and the /48 of IPv6', () => {
  const v4 = Buffer.from([192, 0, 2, 77]);
  maskAddressBytes(v4, 0, 4);
  assert.deepEqual([...v4], [192, 0, 2, 0]);
  const v6 = Buffer.from('20010db8aabbccddeeff001122334455', 'hex');
  maskAddressBytes(v6, 0, 6);
  assert.equal(v6.toString('hex'), '20010db8aabb00000000000000000000');
});

test('local addresses are never anonymized', () => {
  const anon = new Anonymizer('netblock', ['10.0.0.1', 'fd00::1']);
  const k = newFlowKey();
  flowKeyFromText('10.0.0.1', 443, '10.7.7.7', 5555, k);
  assert.equal(anon.anonymizesEndpoint(k, 0), false);
  assert.equal(anon.anonymizesEndpoint(k, 1), true);
  assert.equal(anon.describeFlow(k), '10.0.0.1:443<->10.7.7.0:5555');
  flowKeyFromText('fd00::1', 443, 'fd00:1:2:3::9', 5555, k);
  assert.equal(anon.describeFlow(k).includes('fd00:1:2::'), true);
  assert.equal(anon.describeFlow(k).includes('::9'), false);
});

test('none changes nothing', () => {
  const anon = new Anonymizer('none', []);
  const k = newFlowKey();
  flowKeyFromText('10.0.0.1', 443, '10.7.7.7', 5555, k);
  assert.equal(anon.anonymizesEndpoint(k, 1), false);
  assert.equal(anon.describeFlow(k), '10.0.0.1:443<->10.7.7.7:5555');
});
