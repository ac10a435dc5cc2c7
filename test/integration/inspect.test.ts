// `packet-headers inspect` against tshark on real transfers with loss: bulk
// downloads (curl from python's http.server over IPv4, two from a python peer over
// IPv6) and a receiver that stops reading (zero window, IPv6), between two
// namespaces whose links drop and delay packets (netem loss 1% delay 10ms each
// way where the kernel has netem; otherwise 1 % random loss from nftables and
// a token bucket whose full queue delays and drops). tcpdump records the client's side; the daemon (-read)
// turns that into its per-flow files, and inspect reads those. Every
// tcp.analysis counter must equal tshark's flags on the same file, per
// direction, and the handshake RTT tshark's initial RTT.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readSegment, Segment } from '../../src/analysis/segment.js';
import type { FlowSummary } from '../../src/analysis/summary.js';
import { DecodedPacket } from '../../src/decode/packet.js';
import { fetchBulk, startBulkServer } from '../helpers/bulkpeer.js';
import { walkFiles } from '../helpers/files.js';
import { startHttpServer } from '../helpers/httpload.js';
import { startTcpdump } from '../helpers/captures.js';
import { createTestNetwork, type TestNetwork } from '../helpers/netns.js';
import { execHost } from '../helpers/processes.js';
import { startTestDaemon } from '../helpers/testdaemon.js';
import { parsePcap } from '../helpers/pcapread.js';
import { writePcapRecords, type PcapRecord } from '../helpers/pcapwrite.js';

const REPO = join(import.meta.dirname, '../../..');
const HTTP_PORT = 8080;
const BULK_PORT = 9001;
const SLOW_PORT = 9002;
/** A second IPv6 download: a run of random loss can fall where the client's window still grows, and then its repeated ACKs are no duplicates. */
const BULK_PORT_AGAIN = 9003;

let net: TestNetwork;
const work = mkdtempSync(join(tmpdir(), 'ph-inspect-'));
const datadir = join(work, 'data');
const editedDatadir = join(work, 'edited');
let linkShaping = '';
let summaries: FlowSummary[] = [];

/** The link's loss and delay: netem where the kernel has it, else a token bucket whose queue delays and overflows. */
async function shapeLinks(n: TestNetwork): Promise<string> {
  const ends = [
    [n.serverNs, n.serverIf],
    [n.clientNs, n.clientIf],
  ];
  const netem = await n.exec(ends[0][0], ['tc', 'qdisc', 'add', 'dev', ends[0][1], 'root', 'netem', 'loss', '1%', 'delay', '10ms']);
  if (netem.code === 0) {
    await n.exec(ends[1][0], ['tc', 'qdisc', 'add', 'dev', ends[1][1], 'root', 'netem', 'loss', '1%', 'delay', '10ms'], { check: true });
    return 'netem loss 1% delay 10ms each way';
  }
  // No netem (a kernel without modules): random loss from nftables (numgen),
  // queueing delay and overflow from a token bucket.
  for (const [ns, dev] of ends) {
    await n.exec(ns, ['tc', 'qdisc', 'add', 'dev', dev, 'root', 'tbf', 'rate', '40mbit', 'burst', '16kb', 'latency', '25ms'], { check: true });
    await n.exec(ns, ['nft', '-f', '-'], {
      check: true,
      // Not the zero-window transfer: a lost window update there stalls it on the persist timer's back-off.
      input: `table inet lossy {\n chain out {\n  type filter hook output priority 0;\n  meta l4proto tcp th sport != ${SLOW_PORT} th dport != ${SLOW_PORT} numgen random mod 100 < 1 drop\n }\n}\n`,
    });
  }
  return 'nftables random loss 1% and tbf rate 40mbit latency 25ms each way (no netem in this kernel)';
}

function inspectCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return execHost(['node', join(REPO, 'bin/packet-headers.js'), 'inspect', ...args], { timeoutMs: 60_000, cwd: REPO });
}

before(async () => {
  net = await createTestNetwork();
  linkShaping = await shapeLinks(net);
  const www = join(work, 'www');
  await startHttpServer(net, www, HTTP_PORT, 'hello');
  writeFileSync(join(www, 'big.bin'), Buffer.alloc(3_000_000, 0x5a));
  await startBulkServer(net, net.serverV6, BULK_PORT, 3_000_000);
  await startBulkServer(net, net.serverV6, BULK_PORT_AGAIN, 3_000_000);
  await startBulkServer(net, net.serverV6, SLOW_PORT, 600_000);

  const capture = join(work, 'client.pcap');
  const tcpdump = await startTcpdump(net, net.clientNs, net.clientIf, capture, 'tcp');
  try {
    const curl = await net.exec(net.clientNs, ['curl', '-s', '-o', '/dev/null', '-w', '%{size_download}', `http://${net.serverV4}:${HTTP_PORT}/big.bin`], { timeoutMs: 60_000 });
    assert.equal(curl.stdout.trim(), '3000000', `curl: ${curl.stderr}`);
    for (const port of [BULK_PORT, BULK_PORT_AGAIN]) assert.equal(await fetchBulk(net, net.serverV6, port), 3_000_000);
    // A 4 KiB receive buffer that is not read for 0.5 s, then read slowly: zero windows.
    assert.equal(await fetchBulk(net, net.serverV6, SLOW_PORT, ['--rcvbuf', '4096', '--pause', '0.5', '--slow-bytes', '100000', '--slow-delay', '0.005']), 600_000);
  } finally {
    await tcpdump.stop();
  }

  const edited = join(work, 'edited.pcap');
  editCapture(capture, edited, HTTP_PORT);
  for (const [input, dir] of [
    [capture, datadir],
    [edited, editedDatadir],
  ]) {
    const daemon = await startTestDaemon([input], dir);
    await daemon.captureEnded();
    await daemon.stop();
  }

  const r = await inspectCli(['--json', datadir]);
  assert.equal(r.code, 0, r.stderr);
  summaries = r.stdout.trim().split('\n').map((line) => JSON.parse(line) as FlowSummary);
});

/**
 * The capture as a capture point that misses, reorders and repeats packets
 * would have recorded it: of the server's data segments to `port`, a few are
 * dropped (lost, then ACKed unseen), a few pairs swapped (out of order,
 * 1 µs apart) and one repeated long after its ACK (a spurious retransmission).
 */
function editCapture(input: string, output: string, port: number): void {
  const pcap = parsePcap(readFileSync(input));
  const scale = pcap.magic === 0xa1b2c3d4 ? 1000 : 1;
  const decoded = new DecodedPacket();
  const segment = new Segment();
  const records: PcapRecord[] = pcap.records.map((r) => ({ seconds: r.seconds, nanoseconds: r.nanoseconds * scale, frame: r.data }));
  const seqs: number[] = [];
  const fromServer = records.map((r) => {
    const ok = readSegment(r.frame, 0, r.frame.length, pcap.linkType, decoded, segment) && segment.seglen > 0 && r.frame.readUInt16BE(decoded.tcpOffset) === port;
    seqs.push(ok ? segment.seq : -1);
    return ok;
  });
  const data = records.flatMap((_, i) => (fromServer[i] ? [i] : []));
  // Pairs of back-to-back segments of the server, in sequence: swapping them reorders new data.
  const pairs = data.filter((i) => fromServer[i + 1] && seqs[i + 1] > seqs[i] && seqs[i + 1] - seqs[i] < 65536);
  const drop = new Set([data[300], data[900], data[1500]]);
  const swapAt = new Set([pairs[Math.floor(pairs.length * 0.3)], pairs[Math.floor(pairs.length * 0.5)], pairs[Math.floor(pairs.length * 0.7)]]);
  const out: PcapRecord[] = [];
  for (let i = 0; i < records.length; i++) {
    if (drop.has(i)) continue;
    if (swapAt.has(i) && !drop.has(i + 1)) {
      out.push({ ...records[i], frame: records[i + 1].frame });
      const ns = records[i].nanoseconds + 1000;
      out.push({ seconds: records[i].seconds + Math.floor(ns / 1e9), nanoseconds: ns % 1e9, frame: records[i].frame });
      i++;
      continue;
    }
    out.push(records[i]);
    // A segment sent once, in sequence (the first of a back-to-back pair), repeated near the end, long after its ACK.
    if (i === data[data.length - 50]) out.push({ ...records[i], frame: records[pairs[Math.floor(pairs.length * 0.1)]].frame });
  }
  writePcapRecords(output, out, pcap.linkType);
}

after(async () => {
  await net?.destroy();
  // PH_KEEP_INSPECT=1 keeps the captures and flow files for a look with tshark.
  if (process.env.PH_KEEP_INSPECT === '1') process.stderr.write(`kept ${work}\n`);
  else rmSync(work, { recursive: true, force: true });
});

/** The summary of the flow to the given server port. */
function flowTo(port: number): FlowSummary {
  const s = summaries.find((f) => f.server_port === port);
  assert.ok(s, `a flow to port ${port} among ${summaries.map((f) => f.server_port).join(', ')}`);
  return s;
}

const COUNTERS = [
  ['retransmitted_segments', 'tcp.analysis.retransmission'],
  ['fast_retransmissions', 'tcp.analysis.fast_retransmission'],
  ['spurious_retransmissions', 'tcp.analysis.spurious_retransmission'],
  ['out_of_order_segments', 'tcp.analysis.out_of_order'],
  ['lost_segment_gaps', 'tcp.analysis.lost_segment'],
  ['acks_of_unseen_segments', 'tcp.analysis.ack_lost_segment'],
  ['duplicate_acks', 'tcp.analysis.duplicate_ack'],
  ['zero_window', 'tcp.analysis.zero_window'],
  ['zero_window_probes', 'tcp.analysis.zero_window_probe'],
  ['window_full', 'tcp.analysis.window_full'],
] as const;

interface TsharkCounts {
  packets: [number, number];
  ipBytes: [number, number];
  payloadBytes: [number, number];
  flags: Record<string, [number, number]>;
  initialRttMs: number | null;
}

/** tshark's view of one flow file, per direction (0: from the client). */
async function tsharkCounts(s: FlowSummary): Promise<TsharkCounts> {
  const fields = ['ip.src', 'ipv6.src', 'tcp.srcport', 'ip.len', 'ipv6.plen', 'tcp.len', 'tcp.analysis.initial_rtt', ...COUNTERS.map(([, f]) => f)];
  const argv = ['tshark', '-n', '-r', s.file, '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])];
  const r = await execHost(argv, { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const counts: TsharkCounts = { packets: [0, 0], ipBytes: [0, 0], payloadBytes: [0, 0], flags: {}, initialRttMs: null };
  for (const [, f] of COUNTERS) counts.flags[f] = [0, 0];
  for (const line of r.stdout.trim().split('\n')) {
    const v = line.split('|');
    const d = (v[0] || v[1]) === s.client_ip && Number(v[2]) === s.client_port ? 0 : 1;
    counts.packets[d]++;
    counts.ipBytes[d] += v[3] !== '' ? Number(v[3]) : Number(v[4]) + 40;
    counts.payloadBytes[d] += Number(v[5]);
    if (v[6] !== '') counts.initialRttMs = Number(v[6]) * 1000;
    COUNTERS.forEach(([, f], i) => {
      if (v[7 + i] !== '') counts.flags[f][d]++;
    });
  }
  return counts;
}

/** Asserts every counter per direction; returns "counter c2s/s2c" lines for the log. */
async function assertAgreesWithTshark(s: FlowSummary): Promise<string[]> {
  const t = await tsharkCounts(s);
  const values = s as unknown as Record<string, number>;
  assert.deepEqual([s.c2s_packets, s.s2c_packets], t.packets, 'packets per direction');
  assert.deepEqual([s.c2s_ip_bytes, s.s2c_ip_bytes], t.ipBytes, 'IP bytes per direction');
  assert.deepEqual([s.c2s_payload_bytes, s.s2c_payload_bytes], t.payloadBytes, 'payload bytes per direction');
  const lines: string[] = [];
  for (const [field, tsharkField] of COUNTERS) {
    const ours = [values[`c2s_${field}`], values[`s2c_${field}`]];
    assert.deepEqual(ours, t.flags[tsharkField], `${field} per direction (c2s, s2c) against ${tsharkField}`);
    lines.push(`${field} ${ours.join('/')}`);
  }
  assert.ok(t.initialRttMs !== null && s.handshake_rtt_ms !== null, `a handshake RTT: tshark ${t.initialRttMs} ms, ours ${s.handshake_rtt_ms} ms, in ${s.file}`);
  assert.ok(Math.abs(s.handshake_rtt_ms - t.initialRttMs) < 0.001, `handshake RTT ${s.handshake_rtt_ms} ms, tshark ${t.initialRttMs} ms`);
  return lines;
}

test('IPv4 download with loss (curl from http.server): every counter equals tshark per direction', async (t) => {
  const s = flowTo(HTTP_PORT);
  assert.equal(s.ip_version, 4);
  assert.equal(s.client_ip, net.clientV4);
  assert.equal(s.roles_from_syn, true);
  t.diagnostic(`${linkShaping}: ${(await assertAgreesWithTshark(s)).join(', ')}`);
  // The scenario must have produced what is compared, or the agreement proves little.
  assert.ok(s.s2c_retransmitted_segments > 0, 'the lossy link made the server retransmit');
  assert.ok(s.c2s_duplicate_acks > 0, 'the client sent duplicate ACKs');
  assert.ok(s.c2s_sack_blocks > 0, 'the client sent SACK blocks');
  assert.ok(s.s2c_unique_bytes >= 3_000_000, 'the whole file went to the client');
  assert.ok(s.s2c_rtt_samples > 0 && s.s2c_rtt_min_ms! <= s.s2c_rtt_median_ms! && s.s2c_rtt_median_ms! <= s.s2c_rtt_max_ms!, 'RTT samples of the download');
});

test('IPv6 downloads with loss (python peer): every counter equals tshark per direction', async (t) => {
  const flows = [flowTo(BULK_PORT), flowTo(BULK_PORT_AGAIN)];
  for (const s of flows) {
    assert.equal(s.ip_version, 6);
    assert.equal(s.server_ip, net.serverV6);
    t.diagnostic(`${linkShaping}, server port ${s.server_port}: ${(await assertAgreesWithTshark(s)).join(', ')}`);
    assert.ok(s.s2c_retransmitted_segments > 0, 'the lossy link made the server retransmit');
    assert.equal(s.timestamps && s.window_scaling && s.sack_permitted, true, 'Linux negotiates timestamps, window scaling and SACK');
    assert.equal(s.s2c_rtt_source, 'timestamps');
  }
  assert.ok(flows.some((s) => s.c2s_duplicate_acks > 0), 'the client sent duplicate ACKs in one of the downloads');
});

test('IPv6 receiver that stops reading: zero windows and window-full segments as tshark counts them', async (t) => {
  const s = flowTo(SLOW_PORT);
  t.diagnostic((await assertAgreesWithTshark(s)).join(', '));
  assert.ok(s.c2s_zero_window > 0, 'the client advertised a zero window');
  assert.ok(s.s2c_window_full > 0, 'the server filled the window');
  assert.equal(s.first_fin_from, 'server');
});

test('a capture that missed, reordered and repeated segments: lost, ACKed-unseen, out-of-order and spurious as tshark counts them', async (t) => {
  const r = await inspectCli(['--json', editedDatadir]);
  assert.equal(r.code, 0, r.stderr);
  const s = (r.stdout.trim().split('\n').map((line) => JSON.parse(line) as FlowSummary)).find((f) => f.server_port === HTTP_PORT);
  assert.ok(s);
  t.diagnostic((await assertAgreesWithTshark(s)).join(', '));
  assert.ok(s.s2c_lost_segment_gaps >= 3, 'segments missing from the capture');
  assert.ok(s.c2s_acks_of_unseen_segments > 0, 'ACKs of segments never captured');
  assert.ok(s.s2c_out_of_order_segments > 0, 'out-of-order segments');
  assert.ok(s.s2c_spurious_retransmissions > 0, 'a spurious retransmission');
});

test('the table has a header and one aligned row per flow file; a directory is walked at any depth', async () => {
  const files = walkFiles(datadir).filter((f) => f.endsWith('.pcap.gz'));
  assert.equal(summaries.length, files.length, 'one JSON line per file in the datadir');
  assert.deepEqual(summaries.map((s) => s.file).sort(), files.sort());
  const r = await inspectCli([datadir]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, files.length + 1);
  assert.match(lines[0], /^FLOW +CLIENT +SERVER +START/);
  const clientColumn = lines[0].indexOf('CLIENT');
  for (const s of summaries) {
    const row = lines.find((l) => l.startsWith(s.uuid));
    assert.ok(row, `a row for ${s.uuid}`);
    const client = s.ip_version === 6 ? `[${s.client_ip}]:${s.client_port}` : `${s.client_ip}:${s.client_port}`;
    assert.equal(row.indexOf(client), clientColumn, 'the client column is aligned');
  }
});

test('a flow file cut short is summarized as far as it reads, flagged, and the run exits 1', async () => {
  const dir = join(work, 'damaged', '2026', '12');
  mkdirSync(dir, { recursive: true });
  const whole = flowTo(BULK_PORT);
  const bytes = readFileSync(whole.file);
  writeFileSync(join(dir, 'cut.pcap.gz'), bytes.subarray(0, Math.floor(bytes.length / 2)));
  copyFileSync(flowTo(HTTP_PORT).file, join(dir, 'whole.pcap.gz'));
  const r = await inspectCli(['--json', join(work, 'damaged')]);
  assert.equal(r.code, 1);
  const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as FlowSummary);
  const cut = rows.find((s) => s.uuid === 'cut')!;
  assert.equal(cut.complete, false);
  assert.match(cut.read_problem ?? '', /^gzip/);
  assert.ok(cut.packets > 0 && cut.packets < whole.packets, `${cut.packets} of ${whole.packets} packets read`);
  assert.equal(rows.find((s) => s.uuid === 'whole')?.complete, true);
  assert.match(r.stderr, /cut\.pcap\.gz: gzip/);
});

/**
 * The file as the Go original writes it: the same pcap (nanosecond magic, the
 * flow's header length as snaplen) in ONE gzip member from another writer
 * (Go's compress/gzip streams a flow into a single member; the daemon writes
 * one member per chunk). Python's gzip stands in for Go's.
 */
async function asGoOriginalWrites(daemonFile: string, goFile: string): Promise<void> {
  const script = 'import gzip,sys; data=gzip.open(sys.argv[1]).read(); f=open(sys.argv[2],"wb"); g=gzip.GzipFile(fileobj=f,mode="wb",mtime=0); g.write(data); g.close(); f.close()';
  const r = await execHost(['python3', '-c', script, daemonFile, goFile]);
  assert.equal(r.code, 0, r.stderr);
}

/** Gzip members in a file: each starts with 1f 8b 08 where the previous one's trailer ended (counted by python's zlib). */
async function gzipMembers(file: string): Promise<number> {
  const script = 'import zlib,sys\nb=open(sys.argv[1],"rb").read(); n=0\nwhile b:\n d=zlib.decompressobj(31); d.decompress(b); b=d.unused_data; n+=1\nprint(n)';
  const r = await execHost(['python3', '-c', script, file]);
  assert.equal(r.code, 0, r.stderr);
  return Number(r.stdout.trim());
}

test('a file as the Go original writes it (one gzip member) gives the same summary, plot and index row as the daemon\'s', async () => {
  const daemonFile = flowTo(HTTP_PORT).file;
  const dir = join(work, 'go-original', '2026', '12', '02');
  mkdirSync(dir, { recursive: true });
  const goFile = join(dir, `${flowTo(HTTP_PORT).uuid}.pcap.gz`);
  await asGoOriginalWrites(daemonFile, goFile);
  assert.ok((await gzipMembers(daemonFile)) > 1, 'the daemon wrote this flow in several members');
  assert.equal(await gzipMembers(goFile), 1, 'the Go-style file is one member');

  const ours = await inspectCli(['--json', daemonFile]);
  const go = await inspectCli(['--json', goFile]);
  assert.equal(go.code, 0, go.stderr);
  const withoutFile = (line: string) => ({ ...(JSON.parse(line) as FlowSummary), file: '' });
  assert.deepEqual(withoutFile(go.stdout.trim()), withoutFile(ours.stdout.trim()));

  const bin = join(REPO, 'bin/packet-headers.js');
  const svgs = [join(work, 'ours.svg'), join(work, 'go.svg')];
  for (const [file, svg] of [[daemonFile, svgs[0]], [goFile, svgs[1]]]) {
    const r = await execHost(['node', bin, 'plot', file, '-o', svg], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
  }
  assert.equal(readFileSync(svgs[1], 'utf8'), readFileSync(svgs[0], 'utf8'), 'the same graph');

  const db = join(work, 'go.sqlite');
  const update = await execHost(['node', bin, 'index', join(work, 'go-original'), '--db', db], { timeoutMs: 60_000 });
  assert.equal(update.code, 0, update.stderr);
  const index = await execHost(['node', bin, 'index', join(work, 'go-original'), '--db', db, '--query', 'SELECT uuid, packets, s2c_retransmitted_segments FROM flows', '--json'], { timeoutMs: 60_000 });
  assert.equal(index.code, 0, index.stderr);
  const s = flowTo(HTTP_PORT);
  assert.deepEqual(JSON.parse(index.stdout.trim()), { uuid: s.uuid, packets: s.packets, s2c_retransmitted_segments: s.s2c_retransmitted_segments });
});
