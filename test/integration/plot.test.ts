// `packet-headers plot` on files the daemon writes live, with -index, in two
// namespaces whose server side drops and delays packets (netem loss 1% delay
// 20ms, or a token bucket where the kernel lacks netem): a bulk download over
// IPv4 (retransmissions, SACK blocks) and a receiver that stops reading over
// IPv6 (zero windows). Every file the daemon wrote is a row of the index;
// each flow, found by a query on it, plots as well-formed SVG whose marks are
// the analysis' events one for one (the flows are small enough to be drawn
// point by point).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import type { FlowSummary } from '../../src/analysis/summary.js';
import { fetchBulk, startBulkServer } from '../helpers/bulkpeer.js';
import { DAEMON_BIN, spawnDaemon, waitUntilCapturing } from '../helpers/daemonprocess.js';
import { walkFiles } from '../helpers/files.js';
import { createTestNetwork, type TestNetwork } from '../helpers/netns.js';
import { execHost } from '../helpers/processes.js';
import { readSvg } from '../helpers/svgmarks.js';

const BULK_PORT = 9101;
const SLOW_PORT = 9102;
const BULK_BYTES = 3_000_000;

let net: TestNetwork;
const work = mkdtempSync(join(tmpdir(), 'ph-plot-'));
const datadir = join(work, 'data');
const database = join(work, 'index.sqlite');

function cli(args: string[]) {
  return execHost([process.execPath, DAEMON_BIN, ...args], { timeoutMs: 60_000, cwd: work });
}

before(async () => {
  net = await createTestNetwork();
  const netem = await net.exec(net.serverNs, ['tc', 'qdisc', 'add', 'dev', net.serverIf, 'root', 'netem', 'loss', '1%', 'delay', '20ms']);
  if (netem.code !== 0) await net.exec(net.serverNs, ['tc', 'qdisc', 'add', 'dev', net.serverIf, 'root', 'tbf', 'rate', '40mbit', 'burst', '16kb', 'latency', '25ms'], { check: true });
  await startBulkServer(net, net.serverV4, BULK_PORT, BULK_BYTES);
  await startBulkServer(net, net.serverV6, SLOW_PORT, 300_000);

  // The daemon captures on the client's side and names flows from the client namespace's sockets.
  const daemon = spawnDaemon(net, net.clientNs, ['-interface', net.clientIf, '-datadir', datadir, '-index', database, '-prometheusx.listen-address', '127.0.0.1:0', '-sigtermwait', '0s']);
  const log = daemon.stderr;
  // "capturing on" comes once the capture is open; the flow source is named before it, so a transfer
  // started at that line could lose its SYN (then its roles come from its first packet, swapped).
  await waitUntilCapturing(daemon, 20_000);
  assert.match(log.text(), /naming flows from the kernel/);
  assert.match(log.text(), /indexing every file written in /);
  assert.equal(await fetchBulk(net, net.serverV4, BULK_PORT), BULK_BYTES);
  // A 4 KiB receive buffer not read for half a second, then read slowly: zero windows.
  assert.equal(await fetchBulk(net, net.serverV6, SLOW_PORT, ['--rcvbuf', '4096', '--pause', '0.5', '--slow-bytes', '60000', '--slow-delay', '0.005']), 300_000);
  assert.equal(await daemon.stop(), 0, log.text());
});

after(async () => {
  await net?.destroy();
  rmSync(work, { recursive: true, force: true });
});

async function query(sql: string): Promise<Record<string, unknown>[]> {
  const r = await cli(['index', datadir, '--db', database, '--query', sql, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim() === '' ? [] : r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('-index, live: every file the daemon wrote is a row of the index', async () => {
  const paths = (await query('SELECT path FROM flows ORDER BY path')).map((r) => r.path);
  const onDisk = walkFiles(datadir).filter((f) => f.endsWith('.pcap.gz')).map((f) => relative(datadir, f)).sort();
  assert.ok(onDisk.length >= 2, onDisk.join(', '));
  assert.deepEqual(paths, onDisk);
});

/** The flow to `port`, found through the index, and its plot as the XML parser reads it. */
async function plotFlow(port: number) {
  const [row] = await query(`SELECT path FROM flows WHERE server_port = ${port} ORDER BY packets DESC LIMIT 1`);
  if (row === undefined) {
    const rows = await query('SELECT path, client_port, server_port, roles_from_syn, packets FROM flows');
    assert.fail(`no flow to port ${port} in the index: ${JSON.stringify(rows)}`);
  }
  const file = join(datadir, row.path as string);
  const svg = join(work, `${port}.svg`);
  const plotted = await cli(['plot', file, '-o', svg]);
  assert.equal(plotted.code, 0, plotted.stderr);
  const inspect = await cli(['inspect', '--json', file]);
  const summary = JSON.parse(inspect.stdout) as FlowSummary;
  const report = readSvg(svg);
  const graph = report.graphs.find((g) => g.direction === 1);
  assert.ok(graph, 'a time-sequence graph of the server\'s data');
  assert.equal(report.downsampled, false, 'small enough to be drawn point by point');
  return { summary, report, graph };
}

test('plot of a lossy download: one retransmission mark per retransmitted segment, one SACK mark per SACK block', async () => {
  const { summary, report, graph } = await plotFlow(BULK_PORT);
  assert.ok(summary.s2c_retransmitted_segments > 0, 'the lossy link made retransmissions');
  assert.deepEqual(graph.marks.retransmission, { kind: 'retransmission', events: summary.s2c_retransmitted_segments, drawn: summary.s2c_retransmitted_segments, downsampled: false });
  assert.deepEqual(graph.marks['out-of-order'], { kind: 'out-of-order', events: summary.s2c_out_of_order_segments, drawn: summary.s2c_out_of_order_segments, downsampled: false });
  // The client's ACKs carry the SACK blocks and windows about the server's data.
  assert.equal(graph.marks.sack.events, summary.c2s_sack_blocks);
  assert.equal(graph.marks.sack.drawn, summary.c2s_sack_blocks);
  assert.equal(graph.marks['zero-window'].events, summary.c2s_zero_window);
  // A bar per new segment: the data segments not retransmitted nor out of order, plus the SYN-ACK and the FIN.
  const newData = summary.s2c_data_segments - summary.s2c_retransmitted_segments - summary.s2c_out_of_order_segments;
  assert.ok(graph.segmentBars >= newData && graph.segmentBars <= newData + 2 + summary.s2c_fin_packets, `${graph.segmentBars} bars for ${newData} new data segments`);
  // Every sample the analysis takes is drawn (timestamp echoes and data/ACK pairs); the summary's
  // statistics use one of the two kinds (rtt_source), so they are a part of them.
  assert.ok(report.rttSamples['1'] >= summary.s2c_rtt_samples && summary.s2c_rtt_samples > 0, `${report.rttSamples['1']} RTT samples drawn, ${summary.s2c_rtt_samples} in the summary`);
  assert.ok(report.texts.some((t) => t.includes(`${summary.server_ip}:${BULK_PORT}`)), 'the graph names the server');
});

test('plot of a receiver that stops reading (IPv6): one zero-window mark per zero window advertised', async () => {
  const { summary, graph } = await plotFlow(SLOW_PORT);
  assert.equal(summary.ip_version, 6);
  assert.ok(summary.c2s_zero_window > 0, 'the client advertised zero windows');
  assert.deepEqual(graph.marks['zero-window'], { kind: 'zero-window', events: summary.c2s_zero_window, drawn: summary.c2s_zero_window, downsampled: false });
  assert.equal(graph.marks.retransmission.drawn, summary.s2c_retransmitted_segments);
});

test('plot: a bad command line exits 2, an unreadable file 1', async () => {
  assert.equal((await cli(['plot'])).code, 2);
  assert.equal((await cli(['plot', 'a', 'b'])).code, 2);
  const missing = await cli(['plot', join(work, 'missing.pcap.gz'), '-o', join(work, 'x.svg')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /missing\.pcap\.gz/);
});
