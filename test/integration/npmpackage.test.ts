// The npm package: `npm pack` of the checkout, installed globally into a
// temporary prefix as a user would (`npm install -g ./packet-headers-X.tgz`),
// gives a working `packet-headers` command, with the prebuilt addon and
// without install scripts (which npm 11 does not run for a global install
// unless allowed). The package holds what a user needs and nothing else.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fixture } from '../helpers/fixtures.js';
import { readPcapWithTshark } from '../helpers/captures.js';

const repo = join(import.meta.dirname, '../../..');
let work = '';
let tarball = '';
let prefix = '';

function run(argv: string[], cwd: string, timeoutMs = 300_000) {
  const r = spawnSync(argv[0], argv.slice(1), { cwd, encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

before(() => {
  work = mkdtempSync(join(tmpdir(), 'ph-npm-'));
  const packed = run(['npm', 'pack', '--pack-destination', work], repo);
  assert.equal(packed.code, 0, packed.out);
  const name = readdirSync(work).find((f) => f.endsWith('.tgz'));
  assert.ok(name !== undefined, packed.out);
  tarball = join(work, name);
  prefix = join(work, 'prefix');
  mkdirSync(prefix);
});

after(() => rmSync(work, { recursive: true, force: true }));

test('the package holds the built JavaScript, the prebuilt addon and its sources, and no tests or benchmarks', (t) => {
  const list = run(['tar', 'tzf', tarball], work);
  assert.equal(list.code, 0, list.out);
  const files = list.out.trim().split('\n').map((f) => f.replace(/^package\//, ''));
  for (const needed of ['bin/packet-headers.js', 'dist/src/cli.js', 'dist/src/native/addon.js', 'prebuilds/linux-x64/node.napi.glibc.node', 'binding.gyp', 'native/capture.cc', 'deploy/systemd/packet-headers.service', 'README.md', 'package.json']) {
    assert.ok(files.includes(needed), `${needed} is in the package`);
  }
  const unwanted = files.filter((f) => /^(test|bench|hardening|scripts|build|dist\/(test|bench|hardening)|native\/fuzz|node_modules)\//.test(f));
  assert.deepEqual(unwanted, []);
  t.diagnostic(`${files.length} files, ${statSync(tarball).size} bytes`);
});

test('npm install -g of the tarball puts a working packet-headers on PATH: -help, and a -read whose file tshark reads', async (t) => {
  const installed = run(['npm', 'install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], work);
  assert.equal(installed.code, 0, installed.out);
  t.diagnostic(`npm install -g printed: ${installed.out.trim().replace(/\n/g, ' | ')}`);
  const command = join(prefix, 'bin', 'packet-headers');
  assert.ok(existsSync(command), 'bin/packet-headers in the prefix');
  // The command must not lean on the checkout's build: it has none of its own.
  assert.ok(!existsSync(join(prefix, 'lib/node_modules/packet-headers/build')), 'no local build in the installed package');

  const help = run([command, '-help'], work, 30_000);
  assert.equal(help.code, 0, help.out);
  assert.match(help.out, /Usage of packet-headers/);
  assert.match(help.out, /-datadir/);

  const datadir = join(work, 'data');
  const read = run([command, '-read', fixture('v4.pcap'), '-datadir', datadir, '-prometheusx.listen-address', '127.0.0.1:0'], work, 60_000);
  assert.equal(read.code, 0, read.out);
  const files = readdirSync(datadir, { recursive: true }).map(String).filter((f) => f.endsWith('.pcap.gz'));
  assert.equal(files.length, 1, read.out);
  const expected = await readPcapWithTshark(fixture('v4.pcap'), ['tcp.seq_raw', 'tcp.flags']);
  const got = await readPcapWithTshark(join(datadir, files[0]), ['tcp.seq_raw', 'tcp.flags']);
  assert.deepEqual(got, expected);
});
