// The executable's contract: usage, exit codes and one-line errors.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fixture, fixturePackets } from '../helpers/fixtures.js';

const bin = join(import.meta.dirname, '../../../bin/packet-headers.js');
const work = mkdtempSync(join(tmpdir(), 'ph-cli-'));
/** What tshark reads in the v4 fixture: the expectations come from it. */
const v4 = fixturePackets(fixture('v4.pcap'));
after(() => rmSync(work, { recursive: true, force: true }));

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('-help prints every flag with its default and exits 0', () => {
  const r = run(['-help']);
  assert.equal(r.code, 0);
  for (const flag of ['anonymize.ip', 'captureduration', 'datadir', 'flowtimeout', 'interface', 'maxheadersize', 'maxidleram', 'maxheap', 'maxflows', 'prometheusx.listen-address', 'sigtermwait', 'stream', 'tcpinfo.eventsocket', 'uuidwaitduration']) {
    assert.match(r.stdout, new RegExp(`^  -${flag.replace('.', '\\.')}\\b`, 'm'), flag);
  }
  assert.match(r.stdout, /\(default 30s\)/);
});

test('inspect piped into a reader that stops early (| head -1) ends quietly with exit 0', async () => {
  const dir = join(work, 'many');
  mkdirSync(dir, { recursive: true });
  // Far more rows than a pipe holds (64 KiB), so inspect is still writing when the reader goes.
  for (let i = 0; i < 2000; i++) copyFileSync(fixture('v4.pcap'), join(dir, `flow${i}.pcap`));
  const child = spawn(process.execPath, [bin, 'inspect', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const first = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString())));
  child.stdout.destroy();
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.match(first, /^FLOW +CLIENT/);
  assert.equal(stderr, '', 'no EPIPE trace');
  assert.equal(code, 0);
});

test('-help ends with the subcommands that read the files', () => {
  const r = run(['-help']);
  assert.equal(r.code, 0);
  const list = r.stdout.slice(r.stdout.indexOf('Subcommands'));
  for (const tool of ['inspect', 'index', 'plot']) {
    assert.match(list, new RegExp(`^  ${tool} +\\S`, 'm'), tool);
    assert.equal(run([tool, '-help']).code, 0, `${tool} -help`);
  }
});

test('a bad flag value: one line naming flag and value, exit 2', () => {
  const r = run(['-flowtimeout', '5x']);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /-flowtimeout/);
  assert.match(r.stderr, /5x/);
  assert.equal(run(['-nosuchflag']).code, 2);
  assert.equal(run([], { ANONYMIZE_IP: 'scramble' }).code, 2);
  assert.equal(run(['-uuidwaitduration', '10s', '-captureduration', '5s']).code, 2);
});

test('an unknown interface: one line, exit 1', () => {
  const r = run(['-interface', 'nosuchif0', '-datadir', work, '-prometheusx.listen-address', '127.0.0.1:0']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /nosuchif0/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('an unusable datadir: one line, exit 1', () => {
  const file = join(work, 'not-a-dir');
  writeFileSync(file, 'x');
  const r = run(['-interface', 'lo', '-datadir', join(file, 'sub'), '-prometheusx.listen-address', '127.0.0.1:0']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /-datadir/);
});

test('the metrics port in use: one line, exit 1', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as { port: number }).port;
  try {
    const r = run(['-interface', 'lo', '-datadir', work, '-prometheusx.listen-address', `127.0.0.1:${port}`]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /prometheusx\.listen-address/);
  } finally {
    blocker.close();
  }
});

test('-read runs the pipeline over a file and exits 0', () => {
  const events = join(work, 'events.jsonl');
  writeFileSync(
    events,
    `${JSON.stringify({ Event: 0, Timestamp: '2019-08-21T16:10:00Z', UUID: 'cli_v4', ID: { SPort: v4[0].sport, DPort: v4[0].dport, SrcIP: v4[0].src, DstIP: v4[0].dst } })}\nnot json\n`,
  );
  const r = run(['-read', fixture('v4.pcap'), '-events', events, '-datadir', join(work, 'out'), '-prometheusx.listen-address', '127.0.0.1:0']);
  assert.equal(r.code, 0, r.stderr);
  const count = spawnSync('sh', ['-c', `zcat '${join(work, 'out/2019/08/21/cli_v4.pcap.gz')}' | tcpdump -nn -r - 2>/dev/null | wc -l`], { encoding: 'utf8' });
  assert.equal(count.stdout.trim(), String(v4.length));
  assert.match(r.stderr, /1 unusable line\(s\) \(json\)/);
});
