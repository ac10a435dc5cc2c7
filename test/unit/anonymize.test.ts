import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressText, flowKeyFromText, newFlowKey } from '../../src/decode/flowkey.js';
import { Anonymizer } from '../../src/demux/anonymize.js';

test('local addresses are never anonymized', () => {
  const anon = new Anonymizer('netblock', ['10.0.0.1', 'fd00::1']);
  const k = newFlowKey();
  flowKeyFromText('10.0.0.1', 443, '10.7.7.7', 5555, k);
  assert.equal(anon.anonymizesEndpoint(k, 0), false);
  assert.equal(anon.anonymizesEndpoint(k, 1), true);
  flowKeyFromText('fd00:1:2:3::9', 5555, 'fd00::1', 443, k);
  for (const e of [0, 1] as const) assert.equal(anon.anonymizesEndpoint(k, e), addressText(k, e) !== 'fd00::1', addressText(k, e));
});

test('none changes nothing', () => {
  const anon = new Anonymizer('none', []);
  const k = newFlowKey();
  flowKeyFromText('10.0.0.1', 443, '10.7.7.7', 5555, k);
  assert.equal(anon.anonymizesEndpoint(k, 1), false);
  assert.equal(anon.anonymizesEndpoint(k, 0), false);
});
