// The recorded captures (test/fixtures/) go through the whole pipeline (libpcap's
// offline reader in the addon → decode → demux → saver → file) and come out
// as the expected per-flow files, checked with tshark.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Config } from '../../src/config/config.js';
import { startTestDaemon } from '../helpers/testdaemon.js';
import { openEvent } from '../helpers/demuxfixture.js';
import { datePathOfEpoch, fixture, fixturePackets } from '../helpers/fixtures.js';
import { parsePcapGz } from '../helpers/pcapread.js';

// What tshark reads in the inputs: the expectations below come from it.
const v4 = fixturePackets(fixture('v4.pcap'));
const v6 = fixturePackets(fixture('v6.pcap'));
const v4Event = (uuid: string, when: number) => openEvent(uuid, v4[0].src, v4[0].sport, v4[0].dst, v4[0].dport, when);
const datadir = mkdtempSync(join(tmpdir(), 'ph-offline-'));
after(() => rmSync(datadir, { recursive: true, force: true }));


async function runOffline(file: string, events: ReturnType<typeof openEvent>[] | undefined, config: Partial<Config> = {}) {
  const logs: string[] = [];
  const daemon = await startTestDaemon([fixture(file)], datadir, { events, config, log: (m) => logs.push(m) });
  await daemon.captureEnded();
  await daemon.stop();
  return { daemon, logs };
}

function tshark(path: string, fields: string[]): string[][] {
  const out = execFileSync('tshark', ['-r', path, '-T', 'fields', '-E', 'separator=,', ...fields.flatMap((f) => ['-e', f])], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return out.trim().split('\n').map((l) => l.split(','));
}

test('v4.pcap: one file, 12 packets, snaplen 94, payload gone', async () => {
  const when = Date.UTC(2019, 7, 21, 16, 10);
  assert.equal(v4.length, 12, 'the v4 fixture is a 12-packet exchange');
  // The request really carried "GET" and the response "HTTP", so their absence below means something.
  assert.ok(readFileSync(fixture('v4.pcap')).includes('GET') && readFileSync(fixture('v4.pcap')).includes('HTTP'));
  await runOffline('v4.pcap', [v4Event('v4flow', when)]);
  const path = join(datadir, '2019/08/21/v4flow.pcap.gz');
  const rows = tshark(path, ['frame.len', 'frame.cap_len', 'ip.src', 'tcp.srcport', 'tcp.hdr_len']);
  assert.equal(rows.length, v4.length);
  const lengths = v4.map((p) => p.length);
  rows.forEach((row, i) => {
    assert.equal(Number(row[0]), lengths[i], `frame ${i} length`);
    assert.equal(Number(row[1]), Math.min(lengths[i], 94), `frame ${i} caplen`);
  });
  const pcap = parsePcapGz(readFileSync(path));
  assert.equal(pcap.snaplen, 94);
  assert.equal(pcap.magic, 0xa1b23c4d);
  // The HTTP request carried "GET"; nothing of it may remain.
  assert.ok(!pcap.records.some((r) => r.data.includes('GET') || r.data.includes('HTTP')));
  // zcat reads it as well.
  const viaZcat = execFileSync('sh', ['-c', `zcat '${path}' | tcpdump -nn -r - 2>/dev/null | wc -l`], { encoding: 'utf8' });
  assert.equal(Number(viaZcat.trim()), v4.length);
});

test('v6.pcap (cut short in its last packet): the complete packets are saved', async () => {
  const when = Date.UTC(2019, 7, 21, 16, 10);
  // tshark reads the 8 whole packets before the cut.
  assert.equal(v6.length, 8);
  const { logs } = await runOffline('v6.pcap', [openEvent('v6flow', v6[0].src, v6[0].sport, v6[0].dst, v6[0].dport, when)]);
  const path = join(datadir, '2019/08/21/v6flow.pcap.gz');
  const rows = tshark(path, ['frame.len', 'ipv6.src', 'tcp.srcport']);
  assert.equal(rows.length, v6.length);
  assert.deepEqual(rows.map((r) => Number(r[0])), v6.map((p) => p.length));
  const pcap = parsePcapGz(readFileSync(path));
  assert.equal(pcap.snaplen, 14 + 40 + 60);
  assert.ok(logs.every((l) => !l.includes('uncaught')));
});

test('netblock anonymization of v4.pcap keeps the /24 of both remote addresses', async () => {
  const when = Date.UTC(2019, 7, 22);
  await runOffline('v4.pcap', [v4Event('v4anon', when)], { anonymizeIP: 'netblock' });
  const rows = tshark(join(datadir, '2019/08/22/v4anon.pcap.gz'), ['ip.src', 'ip.dst']);
  assert.equal(rows.length, v4.length);
  const netblocks = [v4[0].src, v4[0].dst].map((a) => a.replace(/\.\d+$/, '.0'));
  for (const [src, dst] of rows) {
    assert.ok(netblocks.includes(src), src);
    assert.ok(netblocks.includes(dst), dst);
  }
});

test('without events, each flow gets a deterministic name from file, endpoints and first packet', async () => {
  const { daemon } = await runOffline('v4.pcap', undefined);
  const text = await daemon.metrics.registry.metrics();
  assert.match(text, /pcap_saver_files_written_total 1\b/);
  const files = execFileSync('find', [datadir, '-name', 'v4_*'], { encoding: 'utf8' }).trim().split('\n');
  assert.equal(files.length, 1);
  // The date directory and the name's time are the first packet's; the endpoints are the flow's, in key order.
  const a = `${v4[0].src}_${v4[0].sport}`;
  const b = `${v4[0].dst}_${v4[0].dport}`;
  const names = [`v4_${a}_${b}_${v4[0].epoch}.pcap.gz`, `v4_${b}_${a}_${v4[0].epoch}.pcap.gz`];
  const relative = files[0].slice(datadir.length + 1);
  assert.ok(names.some((n) => relative === `${datePathOfEpoch(v4[0].epoch)}/${n}`), relative);
});
