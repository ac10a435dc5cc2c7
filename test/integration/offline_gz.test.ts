// -read accepts gzipped captures (`.pcap.gz`, as the daemon itself writes
// them): the pipeline's output is the same as for the plain file, flows
// without events are named after the file without `.pcap.gz`, a corrupt gzip
// is one clean start-up error, and no decompressed copy is left behind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { isGzipFile, prepareOfflineInput, releaseOfflineFiles } from '../../src/capture/offlinefile.js';
import type { Daemon } from '../../src/daemon.js';
import type { FlowOpenEvent } from '../../src/flowevents/types.js';
import { startTestDaemon } from '../helpers/testdaemon.js';
import { openEvent } from '../helpers/demuxfixture.js';
import { fixture, fixturePackets } from '../helpers/fixtures.js';
import { parsePcapGz } from '../helpers/pcapread.js';

const v4plain = fixture('v4.pcap');
/** What tshark reads in it: the expectations below come from it. */
const v4packets = fixturePackets(v4plain);
const bin = join(import.meta.dirname, '../../../bin/packet-headers.js');
const work = mkdtempSync(join(tmpdir(), 'ph-offline-gz-'));
after(() => rmSync(work, { recursive: true, force: true }));

const v4 = readFileSync(v4plain);
const v4gz = join(work, 'v4.pcap.gz');
writeFileSync(v4gz, gzipSync(v4));
// Two gzip members, as the daemon's own files have: read as one stream.
const v4members = join(work, 'members.pcap.gz');
writeFileSync(v4members, Buffer.concat([gzipSync(v4.subarray(0, 500)), gzipSync(v4.subarray(500))]));


async function runOffline(file: string, datadir: string, events?: FlowOpenEvent[]): Promise<Daemon> {
  const daemon = await startTestDaemon([file], datadir, { events });
  await daemon.captureEnded();
  await daemon.stop();
  return daemon;
}

function leftovers(): string[] {
  return readdirSync(tmpdir()).filter((n) => n.startsWith('packet-headers-read-'));
}

test('gzip is recognized by its magic bytes, not by its name', () => {
  assert.equal(isGzipFile(v4gz), true);
  assert.equal(isGzipFile(v4plain), false);
  assert.equal(isGzipFile(join(work, 'no-such-file')), false);
});

test('a plain or unreadable file is handed to libpcap as it is', async () => {
  assert.equal((await prepareOfflineInput(v4plain)).path, v4plain);
  assert.equal((await prepareOfflineInput(join(work, 'no-such-file'))).path, join(work, 'no-such-file'));
});

test('v4.pcap.gz gives the same file as v4.pcap, and leaves no copy on disk', async () => {
  const before = leftovers();
  const when = Date.UTC(2019, 7, 21, 16, 10);
  const [first] = v4packets;
  const event = () => [openEvent('v4flow', first.src, first.sport, first.dst, first.dport, when)];
  const plainDir = join(work, 'plain');
  const gzDir = join(work, 'gz');
  const membersDir = join(work, 'members');
  await runOffline(v4plain, plainDir, event());
  const daemon = await runOffline(v4gz, gzDir, event());
  await runOffline(v4members, membersDir, event());
  const plain = parsePcapGz(readFileSync(join(plainDir, '2019/08/21/v4flow.pcap.gz')));
  const fromGz = parsePcapGz(readFileSync(join(gzDir, '2019/08/21/v4flow.pcap.gz')));
  const fromMembers = parsePcapGz(readFileSync(join(membersDir, '2019/08/21/v4flow.pcap.gz')));
  assert.equal(plain.records.length, v4packets.length);
  assert.deepEqual(fromGz, plain);
  assert.deepEqual(fromMembers, plain);
  assert.match(await daemon.metrics.registry.metrics(), new RegExp(`pcap_saver_packets_total ${v4packets.length}\\b`));
  assert.deepEqual(leftovers(), before);
});

test('without events, a flow of x.pcap.gz is named after x', async () => {
  const datadir = join(work, 'auto');
  await runOffline(v4gz, datadir);
  const files = readdirSync(datadir, { recursive: true, encoding: 'utf8' }).filter((p) => p.endsWith('.pcap.gz'));
  assert.equal(files.length, 1, files.join(' '));
  const [p] = v4packets;
  const endpoints = [`${p.src}_${p.sport}`, `${p.dst}_${p.dport}`];
  const named = [`v4_${endpoints[0]}_${endpoints[1]}_`, `v4_${endpoints[1]}_${endpoints[0]}_`];
  assert.match(files[0], /^\d{4}\/\d{2}\/\d{2}\/v4_.*_\d+\.\d{9}\.pcap\.gz$/);
  assert.ok(named.some((n) => files[0].includes(`/${n}`)), files[0]);
});

test('a corrupt gzip input is one start-up error, and leaves nothing behind', async () => {
  const before = leftovers();
  const bad = join(work, 'bad.pcap.gz');
  writeFileSync(bad, Buffer.concat([gzipSync(v4).subarray(0, 40), Buffer.from('not gzip at all')]));
  await assert.rejects(startTestDaemon([bad], join(work, 'bad-out')), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'PH_ERR_CAPTURE');
    assert.match(e.message, /bad\.pcap\.gz/);
    return true;
  });
  assert.deepEqual(leftovers(), before);
  releaseOfflineFiles();
});

test('the command line: -read FILE.pcap.gz runs the pipeline and exits 0', () => {
  const events = join(work, 'events.jsonl');
  writeFileSync(
    events,
    `${JSON.stringify({ Event: 0, Timestamp: '2019-08-21T16:10:00Z', UUID: 'cliflow', ID: { SPort: v4packets[0].sport, DPort: v4packets[0].dport, SrcIP: v4packets[0].src, DstIP: v4packets[0].dst } })}\n`,
  );
  const datadir = join(work, 'cli');
  const r = spawnSync(process.execPath, [bin, '-read', v4gz, '-events', events, '-datadir', datadir, '-prometheusx.listen-address', '127.0.0.1:0'], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(parsePcapGz(readFileSync(join(datadir, '2019/08/21/cliflow.pcap.gz'))).records.length, v4packets.length);
  const bad = join(work, 'cli-bad.pcap.gz');
  writeFileSync(bad, Buffer.from([0x1f, 0x8b, 1, 2, 3]));
  const r2 = spawnSync(process.execPath, [bin, '-read', bad, '-datadir', datadir, '-prometheusx.listen-address', '127.0.0.1:0'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r2.status, 1, r2.stderr);
  assert.equal(r2.stderr.trim().split('\n').length, 1);
  assert.match(r2.stderr, /cli-bad\.pcap\.gz/);
});
