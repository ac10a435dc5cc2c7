import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { schemaTable } from '../../src/analysis/schemadoc.js';
import { summarizeFile } from '../../src/analysis/summarize.js';
import { FLOW_SUMMARY_FIELDS, summaryJson } from '../../src/analysis/summary.js';
import { fixture, FIXTURES } from '../helpers/fixtures.js';

test('docs/inspect-schema.md holds the table made from the schema module', () => {
  const doc = readFileSync(join(FIXTURES, '../../docs/inspect-schema.md'), 'utf8');
  assert.ok(doc.includes(schemaTable()), 'regenerate the table with schemaTable() (src/analysis/schemadoc.ts)');
});

test('field names are unique, snake_case, and each per-direction field exists for both directions', () => {
  const names = FLOW_SUMMARY_FIELDS.map((f) => f.name);
  assert.equal(new Set(names).size, names.length);
  for (const n of names) assert.match(n, /^[a-z][a-z0-9_]*$/);
  for (const n of names.filter((x) => x.startsWith('c2s_'))) assert.ok(names.includes(`s2c_${n.slice(4)}`), n);
});

for (const name of ['v4.pcap', 'v6.pcap']) {
  test(`the JSON line of ${name} has every field in schema order, each of its declared type`, async () => {
    const line = summaryJson(await summarizeFile(fixture(name)));
    const parsed = JSON.parse(line) as Record<string, unknown>;
    assert.deepEqual(Object.keys(parsed), FLOW_SUMMARY_FIELDS.map((f) => f.name));
    for (const f of FLOW_SUMMARY_FIELDS) {
      const v = parsed[f.name];
      if (v === null) {
        assert.ok(f.nullable, `${f.name} is null but not nullable`);
        continue;
      }
      const ok =
        f.type === 'string' ? typeof v === 'string'
        : f.type === 'boolean' ? typeof v === 'boolean'
        : f.type === 'integer' ? Number.isInteger(v)
        : f.type === 'float' ? typeof v === 'number'
        : typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(v);
      assert.ok(ok, `${f.name}: ${JSON.stringify(v)} is not a ${f.type}`);
    }
  });
}

test('the fixture flows read as tshark shows them: roles, handshake and per-direction packets', async () => {
  const v4 = await summarizeFile(fixture('v4.pcap'));
  assert.equal(v4.complete, true);
  assert.equal(v4.server_port, 8080);
  assert.equal(v4.c2s_packets + v4.s2c_packets, 12);
  assert.equal(v4.first_fin_from, 'server');
  const v6 = await summarizeFile(fixture('v6.pcap'));
  assert.equal(v6.complete, false, 'v6.pcap is cut inside its last record');
  assert.match(v6.read_problem ?? '', /^truncated/);
  assert.equal(v6.packets, 8);
  assert.equal(v6.handshake_rtt_ms, 0.034);
});
