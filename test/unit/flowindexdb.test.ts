// The flows table follows the inspect schema (one column per field, in its
// order, with its type), is rebuilt when the schema changes, and a row
// written twice stays one row.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FLOW_SUMMARY_FIELDS } from '../../src/analysis/summary.js';
import { FILE_COLUMNS, FLOW_COLUMNS, summaryColumns } from '../../src/index/columns.js';
import { FlowDb } from '../../src/index/flowdb.js';
import { formatTable } from '../../src/index/queryoutput.js';

const work = mkdtempSync(join(tmpdir(), 'ph-flowindexdb-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('one column per summary field, in schema order, after the file columns', () => {
  assert.deepEqual(
    FLOW_COLUMNS.map((c) => c.name),
    [...FILE_COLUMNS.map((c) => c.name), ...FLOW_SUMMARY_FIELDS.map((f) => f.name)],
  );
  const types = { string: 'TEXT', timestamp: 'TEXT', integer: 'INTEGER', boolean: 'INTEGER', float: 'REAL' } as const;
  for (const field of FLOW_SUMMARY_FIELDS) {
    const column = FLOW_COLUMNS.find((c) => c.name === field.name)!;
    assert.equal(column.sqlType, types[field.type], field.name);
    assert.equal(column.nullable, field.nullable, field.name);
  }
});

test('a summary field named like a file column is refused', () => {
  assert.throws(() => summaryColumns([{ name: 'path', type: 'string', unit: '', nullable: false, description: '' }]), /clashes/);
});

test('the table is rebuilt when the schema has changed, and a path written twice is one row', () => {
  const file = join(work, 'schema.sqlite');
  const older = [...FILE_COLUMNS, { name: 'uuid', sqlType: 'TEXT', nullable: false } as const];
  const stamp = { bytes: 10, mtimeNs: 1_700_000_000_123_456_789n };
  const first = new FlowDb(file, { columns: older });
  first.commit([{ path: 'a.pcap.gz', stamp, summary: { uuid: 'a' } }]);
  first.commit([{ path: 'a.pcap.gz', stamp, summary: { uuid: 'a' } }]);
  assert.equal(first.count(), 1);
  assert.equal(first.stamps().get('a.pcap.gz')?.mtimeNs, stamp.mtimeNs, 'the mtime is kept to the nanosecond');
  first.close();
  const current = new FlowDb(file);
  assert.equal(current.count(), 0, 'rows of the old schema are dropped; the next update reads every file again');
  const columns = (current.db.prepare('SELECT name FROM pragma_table_info(?)').all('flows') as { name: string }[]).map((r) => r.name);
  assert.deepEqual(columns, FLOW_COLUMNS.map((c) => c.name));
  current.close();
});

test('query tables: a header, a rule, numbers aligned right, text left', () => {
  assert.equal(formatTable(['name', 'n'], [['ab', '5'], ['c', '12']]), 'name   n\n----  --\nab     5\nc     12\n');
});
