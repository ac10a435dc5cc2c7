// `packet-headers index` and the daemon's -index on files the daemon writes
// (-read of the recorded fixtures): the rows are the inspect summaries of the
// files, an update reads only new or changed files and drops removed ones, an
// interrupted update (SIGINT, or kill -9) loses nothing and duplicates
// nothing once run again, and --query prints rows as a table or NDJSON.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { FLOW_SUMMARY_FIELDS } from '../../src/analysis/summary.js';
import { walkFiles } from '../helpers/files.js';
import { fixture } from '../helpers/fixtures.js';
import { execHost } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { startTestDaemon } from '../helpers/testdaemon.js';

const REPO = join(import.meta.dirname, '../../..');
const BIN = join(REPO, 'bin/packet-headers.js');
const work = mkdtempSync(join(tmpdir(), 'ph-flowindex-'));
/** What the daemon wrote from the fixtures, and the index it kept of them (-index). */
const written = join(work, 'written');
const liveDb = join(work, 'live.sqlite');
let files: string[] = [];

before(async () => {
  const daemon = await startTestDaemon([fixture('v4.pcap'), fixture('v6.pcap')], written, { config: { indexDatabase: liveDb } });
  await daemon.captureEnded();
  await daemon.stop();
  files = walkFiles(written).filter((f) => f.endsWith('.pcap.gz'));
  assert.equal(files.length, 2, 'one file per fixture flow');
});
after(() => rmSync(work, { recursive: true, force: true }));

function cli(args: string[]) {
  return execHost([process.execPath, BIN, ...args], { timeoutMs: 60_000, cwd: REPO });
}

function rows(db: string, sql = 'SELECT * FROM flows ORDER BY path'): Record<string, unknown>[] {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare(sql).all() as Record<string, unknown>[];
  } finally {
    d.close();
  }
}

/** The counts of an update's last line: indexed, unchanged, removed. */
function updateCounts(stderr: string): { indexed: number; unchanged: number; removed: number } {
  const m = /(\d+) files indexed \(new or changed\), (\d+) unchanged, (\d+) rows of removed files dropped/.exec(stderr);
  assert.ok(m, stderr);
  return { indexed: Number(m[1]), unchanged: Number(m[2]), removed: Number(m[3]) };
}

/** A datadir of `count` copies of the fixture's IPv4 flow file, in the daemon's layout. */
function copies(name: string, count: number): string {
  const dir = join(work, name);
  const day = join(dir, '2026/12/01');
  mkdirSync(day, { recursive: true });
  const source = readFileSync(files.find((f) => f.includes('/v4_'))!);
  for (let i = 0; i < count; i++) writeFileSync(join(day, `copy-${i}.pcap.gz`), source);
  return dir;
}

test('-index: every file a -read run writes is a row, with the fields inspect --json gives for it', async () => {
  const indexed = rows(liveDb);
  assert.deepEqual(
    indexed.map((r) => r.path),
    files.map((f) => relative(written, f)).sort(),
  );
  const inspect = await cli(['inspect', '--json', ...files]);
  assert.equal(inspect.code, 0, inspect.stderr);
  for (const line of inspect.stdout.trim().split('\n')) {
    const summary = JSON.parse(line) as Record<string, unknown>;
    const row = indexed.find((r) => r.uuid === summary.uuid);
    assert.ok(row, `a row for ${summary.uuid as string}`);
    for (const field of FLOW_SUMMARY_FIELDS) {
      const value = summary[field.name];
      assert.deepEqual(row[field.name], typeof value === 'boolean' ? Number(value) : value, field.name);
    }
    const stat = statSync(join(written, row.path as string), { bigint: true });
    assert.equal(row.file_bytes, Number(stat.size));
    const d = new Database(liveDb, { readonly: true });
    const exact = d.prepare('SELECT file_mtime_ns FROM flows WHERE path = ?').safeIntegers(true).get(row.path) as { file_mtime_ns: bigint };
    d.close();
    assert.equal(exact.file_mtime_ns, stat.mtimeNs, 'mtime to the nanosecond');
  }
});

test('an update reads only new or changed files and drops the rows of removed ones', async () => {
  const dir = join(work, 'incremental');
  for (const f of files) {
    mkdirSync(join(dir, relative(written, f), '..'), { recursive: true });
    copyFileSync(f, join(dir, relative(written, f)));
  }
  const db = join(dir, 'flows.sqlite');
  const first = await cli(['index', dir]);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(updateCounts(first.stderr), { indexed: 2, unchanged: 0, removed: 0 });
  const again = await cli(['index', dir]);
  assert.deepEqual(updateCounts(again.stderr), { indexed: 0, unchanged: 2, removed: 0 }, 'nothing changed, nothing read');
  const before = new Map(rows(db).map((r) => [r.path, r.indexed_at]));

  // A new file: only it is read.
  const [v4, v6] = [files.find((f) => f.includes('/v4_'))!, files.find((f) => f.includes('/v6_'))!].map((f) => join(dir, relative(written, f)));
  const added = join(dir, '2026/12/01/added.pcap.gz');
  copyFileSync(v4, added);
  const afterAdd = await cli(['index', dir]);
  assert.deepEqual(updateCounts(afterAdd.stderr), { indexed: 1, unchanged: 2, removed: 0 });
  const rowsAfterAdd = rows(db);
  assert.equal(rowsAfterAdd.length, 3);
  for (const r of rowsAfterAdd.filter((r) => r.path !== relative(dir, added))) assert.equal(r.indexed_at, before.get(r.path), `${r.path as string} was not read again`);

  // A changed file (other contents, other size): read again, its row says what it holds now.
  const v6Packets = rowsAfterAdd.find((r) => r.path === relative(dir, v6))!.packets;
  copyFileSync(v6, added);
  const afterChange = await cli(['index', dir]);
  assert.deepEqual(updateCounts(afterChange.stderr), { indexed: 1, unchanged: 2, removed: 0 });
  assert.equal(rows(db).find((r) => r.path === relative(dir, added))!.packets, v6Packets);

  // The same size but a new mtime (rewritten in place): read again too.
  const later = new Date(Date.now() + 5000);
  utimesSync(v4, later, later);
  assert.deepEqual(updateCounts((await cli(['index', dir])).stderr), { indexed: 1, unchanged: 2, removed: 0 });

  // A removed file: its row goes.
  rmSync(added);
  const afterRemove = await cli(['index', dir]);
  assert.deepEqual(updateCounts(afterRemove.stderr), { indexed: 0, unchanged: 2, removed: 1 });
  assert.deepEqual(rows(db).map((r) => r.path).sort(), [relative(dir, v4), relative(dir, v6)].sort());
});

for (const signal of ['SIGINT', 'SIGKILL'] as const) {
  test(`an update stopped by ${signal} mid-way, run again, has every file once`, async () => {
    const total = 6000;
    const dir = copies(`interrupt-${signal}`, total);
    const db = join(dir, 'flows.sqlite');
    const child = spawn(process.execPath, [BIN, 'index', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const count = () => rows(db, 'SELECT count(*) AS n FROM flows')[0].n as number;
    try {
      // After the first batch is committed, and long before the last.
      await waitFor(() => count() > 0, 30_000, 'a first committed batch');
      child.kill(signal);
    } finally {
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(killer);
    }
    const committed = count();
    assert.ok(committed > 0 && committed < total, `${committed} of ${total} rows after the interrupt`);
    if (signal === 'SIGINT') {
      assert.equal(child.exitCode, 130, stderr);
      assert.match(stderr, /interrupted: \d+ files indexed .*run it again to index the rest/);
    }
    const rerun = await cli(['index', dir]);
    assert.equal(rerun.code, 0, rerun.stderr);
    const counts = updateCounts(rerun.stderr);
    assert.deepEqual(counts, { indexed: total - committed, unchanged: committed, removed: 0 }, 'the rows committed before the interrupt are kept; only the rest is read');
    const check = rows(db, 'SELECT count(*) AS n, count(DISTINCT path) AS paths, min(packets) AS low, max(packets) AS high FROM flows')[0];
    assert.deepEqual(check, { n: total, paths: total, low: 12, high: 12 });
    assert.equal(rows(db, 'PRAGMA integrity_check')[0].integrity_check, 'ok');
  });
}

test('--query prints the rows as a table, or with --json one object per line; it never changes the index', async () => {
  const sql = 'SELECT uuid, ip_version, packets, c2s_packets + s2c_packets AS both FROM flows ORDER BY ip_version';
  const table = await cli(['index', written, '--db', liveDb, '--query', sql]);
  assert.equal(table.code, 0, table.stderr);
  const lines = table.stdout.trimEnd().split('\n');
  assert.match(lines[0], /^uuid\s+ip_version\s+packets\s+both$/);
  assert.match(lines[1], /^-+( +-+){3}$/);
  assert.equal(lines.length, 4, table.stdout);
  assert.match(lines[2], /^v4_\S+\s+4\s+12\s+12$/);
  assert.match(table.stderr, /\(2 rows\)/);

  const json = await cli(['index', written, '--db', liveDb, '--query', sql, '--json']);
  assert.equal(json.code, 0, json.stderr);
  const objects = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    objects.map((o) => [o.ip_version, o.packets === o.both]),
    [
      [4, true],
      [6, true],
    ],
  );

  const bad = await cli(['index', written, '--db', liveDb, '--query', 'SELECT nosuchcolumn FROM flows']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /query failed: no such column: nosuchcolumn/);
  const write = await cli(['index', written, '--db', liveDb, '--query', 'DELETE FROM flows']);
  assert.equal(write.code, 1);
  assert.equal(rows(liveDb).length, 2, 'the rows are still there');
  const missing = await cli(['index', join(work, 'nothing-here'), '--query', 'SELECT 1']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no index at .*run 'packet-headers index/);
});
