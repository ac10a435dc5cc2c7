import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flowKeyFromText, newFlowKey } from '../../src/decode/flowkey.js';
import { Anonymizer } from '../../src/saver/anonymize.js';

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
