// A SYN flood inside two test namespaces: 100,000 SYNs from distinct source
// ports while one real connection is made. New flows must be shed for
// -maxheap and counted (pcap_demuxer_ignored_total{reason="maxheap"} > 0),
// memory must stay under -maxheap, and the real connection must be saved whole.
//
//   node dist/hardening/synflood.js [syns=100000] [maxheap=256MB]
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeTcpInfo } from '../test/helpers/faketcpinfo.js';
import { readPcapWithTshark, startTcpdump } from '../test/helpers/captures.js';
import { createTestNetwork, type TestNetwork } from '../test/helpers/netns.js';
import { LineCollector } from '../test/helpers/processes.js';
import { runTcpClient, startTcpServer, TCP_PEER_ARGV } from '../test/helpers/tcppeer.js';
import { waitFor } from '../test/helpers/wait.js';
import { metricSum, scrapeMetrics } from '../test/helpers/scrape.js';

const repo = join(import.meta.dirname, '../..');
const syns = Number(process.argv[2] ?? 100_000);
const maxHeap = process.argv[3] ?? '256MB';
const maxHeapBytes = Number(maxHeap.replace(/MB$/, '')) * 1e6;

/** The process's peak RSS so far (VmHWM), bytes: exact, where scrapes every 100 ms can miss a peak. */
function peakRssOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
  return Number(line?.split(/\s+/)[1] ?? 0) * 1024;
}

async function main(): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'ph-synflood-'));
  let net: TestNetwork | undefined;
  try {
    net = await createTestNetwork();
    const n = net;
    const tcpinfo = new FakeTcpInfo(work);
    await tcpinfo.listen();
    const datadir = join(work, 'data');
    const tcpdump = await startTcpdump(n, n.serverNs, n.serverIf, join(work, 'real.pcap'), 'tcp port 9000');
    const daemon = n.spawn(n.serverNs, [
      process.execPath, join(repo, 'bin/packet-headers.js'),
      '-interface', n.serverIf, '-datadir', datadir, '-tcpinfo.eventsocket', tcpinfo.path,
      '-prometheusx.listen-address', '127.0.0.1:9990', '-maxheap', maxHeap,
    ]);
    const stderr = new LineCollector(daemon.stderr);
    const exited = new Promise<number | null>((resolve) => daemon.on('exit', (code) => resolve(code)));
    await waitFor(() => stderr.lines.some((l) => l.includes('capturing on')), 15_000, 'daemon capturing');
    await waitFor(() => tcpinfo.connected > 0, 10_000, 'event socket');
    const server = await startTcpServer(n, n.serverNs, [{ host: n.serverV4, port: 9000 }]);
    let peakRss = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peakRss = Math.max(peakRss, metricSum(await scrapeMetrics(n), /^process_resident_memory_bytes /));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const flood = n.exec(n.clientNs, [...TCP_PEER_ARGV, 'synflood', '--src', n.clientV4, '--target', `${n.serverV4}:20000`, '--count', String(syns)], {
      timeoutMs: 120_000,
    });
    await new Promise((r) => setTimeout(r, 300));
    const announcer = setInterval(() => {
      for (const a of server.accepts()) tcpinfo.announce(a, `real_${a.cookie}`);
    }, 5);
    const real = await runTcpClient(n, n.clientNs, { connect: { host: n.serverV4, port: 9000 }, count: 1, size: 1_000_000, timeoutS: 30 });
    const floodResult = await flood;
    await new Promise((r) => setTimeout(r, 500));
    clearInterval(announcer);
    sampling = false;
    await sampler;
    const text = await scrapeMetrics(n);
    peakRss = Math.max(peakRss, metricSum(text, /^process_resident_memory_bytes /));
    // `ip netns exec` execs the daemon, so the child's pid is the daemon's.
    // Read before SIGTERM: shutdown writes every flow at once, which is not the flood's doing.
    const peakHwm = peakRssOf(daemon.pid!);
    daemon.kill('SIGTERM');
    const code = await exited;
    await tcpdump.stop();
    await server.stop();
    await tcpinfo.close();
    const files = readdirSync(datadir, { recursive: true }).map(String).filter((f) => f.endsWith('.pcap.gz'));
    const fields = ['tcp.seq_raw', 'tcp.ack_raw', 'tcp.flags', 'frame.len'];
    // The flood's source ports cover 9000 too: pick the real connection by its client port.
    const clientPort = real.connections[0]?.lport;
    const expected = (await readPcapWithTshark(join(work, 'real.pcap'), fields, `tcp.port == ${clientPort} && tcp.port == 9000`))
      .map((r) => r.join(' '))
      .sort();
    const got = files.length === 1 ? (await readPcapWithTshark(join(datadir, files[0]), fields)).map((r) => r.join(' ')).sort() : [];
    const report = {
      synsSent: JSON.parse(floodResult.stdout.trim().split('\n').pop() ?? '{}').sent,
      floodSeconds: JSON.parse(floodResult.stdout.trim().split('\n').pop() ?? '{}').seconds,
      flowsStarted: metricSum(text, /^pcap_saver_starts_total /),
      shedMaxheap: metricSum(text, /^pcap_demuxer_ignored_total\{reason="maxheap"\}/),
      uuidTimedOut: metricSum(text, /^pcap_saver_errors_total\{reason="uuidtimedout"\}/),
      kernelDrops: metricSum(text, /^pcap_kernel_dropped_packets_total/),
      peakRssMB: Math.round(peakHwm / 1e6),
      peakRssScrapedMB: Math.round(peakRss / 1e6),
      maxHeap,
      realConnectionOk: real.code === 0,
      realPacketsTcpdump: expected.length,
      realPacketsInFile: got.length,
      realFileComplete: JSON.stringify(got) === JSON.stringify(expected),
      exitCode: code,
    };
    console.log(JSON.stringify(report, null, 2));
    if (!report.realFileComplete) {
      const missing = [...expected];
      for (const row of got) missing.splice(missing.indexOf(row), 1);
      console.log(`in tcpdump's capture but not in the file: ${missing.join(' | ')}`);
    }
    // Shedding must have happened: a flood that never reached -maxheap proves nothing about it.
    const failures = [
      report.shedMaxheap > 0 ? '' : 'no packet was shed for maxheap',
      peakHwm < maxHeapBytes ? '' : `peak RSS ${report.peakRssMB} MB is not under -maxheap ${maxHeap}`,
      report.realFileComplete ? '' : 'the real connection is not complete in its file',
      report.realConnectionOk ? '' : 'the real connection failed',
      code === 0 ? '' : `exit ${code}`,
    ].filter((f) => f !== '');
    for (const f of failures) console.log(`FAILED: ${f}`);
    return failures.length === 0 ? 0 : 1;
  } finally {
    await net?.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
