// A long run under steady churn of real connections, to show that nothing
// grows with time: the daemon (built-in flow source, M-Lab's -flowtimeout)
// captures in one namespace while the other keeps making short HTTP
// connections (curl, one new connection per request to python's http.server)
// and a few long rate-limited downloads; an "uploader" deletes finished files
// as M-Lab's pusher does. Every 30 s the daemon's RSS, open file descriptors
// and flows tracked (their mean over those 30 s) are sampled. After the warm-up each of them must stay
// within 10 % of its median over the rest of the run.
//
//   node dist/hardening/soak.js [minutes=30] [requests-per-second=40] [long-flows=4]
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestNetwork, type TestNetwork } from '../test/helpers/netns.js';
import { LineCollector } from '../test/helpers/processes.js';
import { waitFor } from '../test/helpers/wait.js';
import { metricSum, scrapeMetrics } from '../test/helpers/scrape.js';

const repo = join(import.meta.dirname, '../..');
const minutes = Number(process.argv[2] ?? 30);
const requestsPerSecond = Number(process.argv[3] ?? 40);
const longFlows = Number(process.argv[4] ?? 4);
const SAMPLE_MS = 30_000;
const FLOW_READ_MS = 2_000;
/** Samples before this share of the run are warm-up: flows reach their steady number, the heap its working size. */
const WARM_UP_SHARE = 0.2;
const TOLERANCE = 0.1;
const HTTP_PORT = 8080;
const BULK_PORT = 8081;

interface Sample {
  atS: number;
  rssMiB: number;
  /** V8's heap in use and memory held outside it (Buffers, the addon's allocations V8 knows of): which side RSS grows on. */
  heapUsedMiB: number;
  externalMiB: number;
  fds: number;
  flowsTracked: number;
  filesWritten: number;
  packetsSaved: number;
  kernelDrops: number;
  kernelSockets: number;
}

function rssOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1] ?? 0) / 1024;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Deletes the finished files under dir, as an uploader would after shipping them; returns how many. */
function upload(dir: string): number {
  let shipped = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.pcap.gz') || entry.name.startsWith('.')) continue;
    const path = join(entry.parentPath, entry.name);
    if (statSync(path).size === 0) continue;
    rmSync(path, { force: true });
    shipped++;
  }
  return shipped;
}

async function main(): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'ph-soak-'));
  const endAt = Date.now() + minutes * 60_000;
  let net: TestNetwork | undefined;
  try {
    net = await createTestNetwork();
    const n = net;
    const datadir = join(work, 'data');
    const site = join(work, 'site');
    mkdirSync(site);
    writeFileSync(join(site, 'index.html'), '<html><body>soak</body></html>\n'.repeat(40));
    // Served as zeros; a long download of it at --limit-rate lasts minutes.
    writeFileSync(join(site, 'big'), '');
    truncateSync(join(site, 'big'), 2_000_000_000);

    const daemon = n.spawn(n.serverNs, [
      process.execPath, join(repo, 'bin/packet-headers.js'),
      '-interface', n.serverIf, '-datadir', datadir, '-flowtimeout', '5s',
      '-prometheusx.listen-address', '127.0.0.1:9990',
    ]);
    const stderr = new LineCollector(daemon.stderr);
    const exited = new Promise<number | null>((resolve) => daemon.on('exit', (code) => resolve(code)));
    await waitFor(() => stderr.lines.some((l) => l.includes('capturing on')), 15_000, 'daemon capturing');
    // Two servers: http.server can wedge a worker when a rate-limited download is cut off, and that must not stop the short flows.
    // Their request logs are not read: a full pipe would stop them.
    const quiet = { stdio: ['ignore', 'ignore', 'ignore'] as const };
    n.spawn(n.serverNs, ['python3', '-m', 'http.server', '--bind', n.serverV4, '--directory', site, String(HTTP_PORT)], { stdio: [...quiet.stdio] });
    n.spawn(n.serverNs, ['python3', '-m', 'http.server', '--bind', n.serverV4, '--directory', site, String(BULK_PORT)], { stdio: [...quiet.stdio] });
    await waitFor(async () => (await n.exec(n.clientNs, ['curl', '-s', '-o', '/dev/null', `http://${n.serverV4}:${HTTP_PORT}/`])).code === 0, 10_000, 'http server');

    // Short flows: one curl per batch of requests, each request a new
    // connection (http.server speaks HTTP/1.0 and closes after each answer).
    let running = true;
    const remainingS = () => Math.max(1, Math.floor((endAt - Date.now()) / 1000));
    const shortLoad = (async () => {
      while (running && Date.now() < endAt) {
        const count = Math.min(remainingS(), 300) * requestsPerSecond;
        const r = await n.exec(n.clientNs, ['curl', '-s', '-o', '/dev/null', '--rate', `${requestsPerSecond}/s`, `http://${n.serverV4}:${HTTP_PORT}/index.html?n=[1-${count}]`], {
          timeoutMs: 400_000,
        });
        if (r.code !== 0) console.log(`short-flow curl exited ${r.code}: ${r.stderr.trim()}`);
      }
    })();
    const longLoad = Array.from({ length: longFlows }, async () => {
      while (running && Date.now() < endAt) {
        // Each download lasts up to 2 minutes, then a new connection starts.
        await n.exec(n.clientNs, ['curl', '-s', '-o', '/dev/null', '--limit-rate', '100k', '--max-time', String(Math.min(120, remainingS())), `http://${n.serverV4}:${BULK_PORT}/big`], {
          timeoutMs: 130_000,
        });
      }
    });

    const samples: Sample[] = [];
    let shipped = 0;
    const started = Date.now();
    while (Date.now() < endAt) {
      // Flows tracked moves with every sweep (-flowtimeout): its mean over
      // the period is the figure, read every FLOW_READ_MS.
      const periodEnd = Math.min(Date.now() + SAMPLE_MS, endAt);
      const flowReadings: number[] = [];
      while (Date.now() < periodEnd) {
        await new Promise((r) => setTimeout(r, Math.min(FLOW_READ_MS, Math.max(0, periodEnd - Date.now()))));
        flowReadings.push(metricSum(await scrapeMetrics(n), /^pcap_demuxer_savers_active /));
      }
      shipped += upload(datadir);
      const text = await scrapeMetrics(n);
      const sample: Sample = {
        atS: Math.round((Date.now() - started) / 1000),
        rssMiB: Math.round(rssOf(daemon.pid!) * 10) / 10,
        heapUsedMiB: Math.round(metricSum(text, /^nodejs_heap_size_used_bytes /) / 104857.6) / 10,
        externalMiB: Math.round(metricSum(text, /^nodejs_external_memory_bytes /) / 104857.6) / 10,
        fds: readdirSync(`/proc/${daemon.pid!}/fd`).length,
        flowsTracked: Math.round(flowReadings.reduce((a, b) => a + b, 0) / Math.max(1, flowReadings.length)),
        filesWritten: metricSum(text, /^pcap_saver_files_written_total /),
        packetsSaved: metricSum(text, /^pcap_saver_packets_total /),
        kernelDrops: metricSum(text, /^pcap_kernel_dropped_packets_total/),
        kernelSockets: metricSum(text, /^pcap_kernelsource_sockets_seen /),
      };
      samples.push(sample);
      console.log(JSON.stringify(sample));
    }
    running = false;
    await Promise.all([shortLoad, ...longLoad]);
    daemon.kill('SIGTERM');
    const code = await exited;
    shipped += upload(datadir);

    const steady = samples.slice(Math.ceil(samples.length * WARM_UP_SHARE));
    const verdicts = (['rssMiB', 'fds', 'flowsTracked'] as const).map((field) => {
      const values = steady.map((s) => s[field]);
      const mid = median(values);
      const worst = Math.max(...values.map((v) => Math.abs(v - mid) / Math.max(mid, 1)));
      return { field, median: mid, min: Math.min(...values), max: Math.max(...values), worstDeviation: Math.round(worst * 1000) / 10, flat: worst <= TOLERANCE };
    });
    const last = samples[samples.length - 1];
    const report = { minutes, requestsPerSecond, longFlows, samples: samples.length, filesShipped: shipped, filesWritten: last?.filesWritten, packetsSaved: last?.packetsSaved, kernelDrops: last?.kernelDrops, exitCode: code, verdicts };
    console.log(JSON.stringify(report, null, 2));
    return steady.length >= 2 && verdicts.every((v) => v.flat) && code === 0 ? 0 : 1;
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
