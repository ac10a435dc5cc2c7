// The original project's captures go through the whole pipeline (libpcap's
// offline reader in the addon → decode → demux → saver → file) and come out
// as the expected per-flow files, checked with tshark.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Daemon, type DaemonOptions } from '../../src/daemon.js';
import { openEvent } from '../helpers/demuxfixture.js';
import { parsePcapGz } from '../helpers/pcapread.js';

const testdata = join(import.meta.dirname, '../../../../shared/testdata');
const datadir = mkdtempSync(join(tmpdir(), 'ph-offline-'));
after(() => rmSync(datadir, { recursive: true, force: true }));

function options(readFiles: string[], extra: Partial<DaemonOptions> = {}): DaemonOptions {
  return {
    interfaces: [],
    readFiles,
    datadir,
    stream: false,
    anonymize: 'none',
    snaplen: 256,
    uuidWaitMs: 5000,
    captureDurationMs: 30000,
    flowTimeoutMs: 30000,
    maxFlows: 0,
    maxHeapBytes: 8e9,
    maxIdleRamBytes: 3e9,
    metricsAddress: null,
    eventSocket: '',
    ...extra,
  };
}

async function runOffline(file: string, events: ReturnType<typeof openEvent>[], extra: Partial<DaemonOptions> = {}) {
  const logs: string[] = [];
  const daemon = await Daemon.start(options([join(testdata, file)], { preloadEvents: events, ...extra }), { log: (m) => logs.push(m) });
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
  await runOffline('v4.pcap', [openEvent('v4flow', '172.17.0.2', 49834, '91.189.88.149', 80, when)]);
  const path = join(datadir, '2019/08/21/v4flow.pcap.gz');
  const rows = tshark(path, ['frame.len', 'frame.cap_len', 'ip.src', 'tcp.srcport', 'tcp.hdr_len']);
  assert.equal(rows.length, 12);
  const lengths = [74, 74, 66, 283, 66, 66, 296, 54, 66, 54, 66, 54];
  rows.forEach((row, i) => {
    assert.equal(Number(row[0]), lengths[i], `frame ${i} length`);
    assert.equal(Number(row[1]), Math.min(lengths[i], 94), `frame ${i} caplen`);
  });
  const pcap = parsePcapGz(readFileSync(path));
  assert.equal(pcap.snaplen, 94);
  assert.equal(pcap.magic, 0xa1b23c4d);
  // The HTTP request (frame 4) carried "GET"; nothing of it may remain.
  assert.ok(!pcap.records.some((r) => r.data.includes('GET') || r.data.includes('HTTP')));
  // zcat reads it as well.
  const viaZcat = execFileSync('sh', ['-c', `zcat '${path}' | tcpdump -nn -r - 2>/dev/null | wc -l`], { encoding: 'utf8' });
  assert.equal(Number(viaZcat.trim()), 12);
});

test('v6.pcap (cut short in its last packet): the complete packets are saved', async () => {
  const when = Date.UTC(2019, 7, 21, 16, 10);
  const { logs } = await runOffline('v6.pcap', [
    openEvent('v6flow', '2001:1900:2100:2d::86', 12345, '2620:0:1003:416:291f:1a24:fa98:d949', 48072, when),
  ]);
  const path = join(datadir, '2019/08/21/v6flow.pcap.gz');
  const rows = tshark(path, ['frame.len', 'ipv6.src', 'tcp.srcport']);
  assert.ok(rows.length >= 7 && rows.length <= 8, `${rows.length} packets`);
  const pcap = parsePcapGz(readFileSync(path));
  assert.equal(pcap.snaplen, 14 + 40 + 60);
  assert.ok(logs.every((l) => !l.includes('uncaught')));
});

test('netblock anonymization of v4.pcap keeps the /24 of both remote addresses', async () => {
  const when = Date.UTC(2019, 7, 22);
  await runOffline('v4.pcap', [openEvent('v4anon', '172.17.0.2', 49834, '91.189.88.149', 80, when)], { anonymize: 'netblock' });
  const rows = tshark(join(datadir, '2019/08/22/v4anon.pcap.gz'), ['ip.src', 'ip.dst']);
  assert.equal(rows.length, 12);
  for (const [src, dst] of rows) {
    assert.ok(['172.17.0.0', '91.189.88.0'].includes(src), src);
    assert.ok(['172.17.0.0', '91.189.88.0'].includes(dst), dst);
  }
});

test('without events, each flow gets a deterministic name from file, endpoints and first packet', async () => {
  const { daemon } = await runOffline('v4.pcap', [], { preloadEvents: undefined });
  const name = '2016/07/05/v4_91.189.88.149_80_172.17.0.2_49834_';
  const text = await daemon.metrics.registry.metrics();
  assert.match(text, /pcap_saver_files_written_total 1\b/);
  const files = execFileSync('find', [datadir, '-name', 'v4_*'], { encoding: 'utf8' }).trim().split('\n');
  assert.equal(files.length, 1);
  assert.ok(files[0].includes(name.split('/').pop()!), files[0]);
});
