// `npm run bench`: generates a capture, then runs the phases and reports.
//
//   1. Pipeline ceiling (offline, bench/offline.ts).
//   2. Live capture: a sweep of sending rates and a sustained run, each beside
//      tcpdump (bench/live.ts).
//   3. Memory: 10,000 and 100,000 concurrent short flows (bench/memory.ts).
//
// Options: bench/options.ts (--phases runs some of them only). Needs root for
// phase 2 (namespaces); installs tcpreplay with apt-get when it is missing and
// builds its own sender (bench/pcapsend.c) when that is. Everything it creates
// (namespaces, processes, files under os.tmpdir()) is removed at the end, also
// on failure or Ctrl-C.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { createTestNetwork, type TestNetwork } from '../test/helpers/netns.js';
import { cleanupSync, diskRoot, ensurePcapsend, ensureTcpreplay, fmt, log, repo, work } from './common.js';
import { generate } from './gen.js';
import { livePhase, type LiveResult } from './live.js';
import { memoryPhase } from './memory.js';
import { offlinePhase, type OfflineResult } from './offline.js';
import { config } from './options.js';
import { performanceDoc, report, targets, writePerformanceDoc, type Results } from './report.js';

async function main(): Promise<number> {
  if (config.fromResults) {
    // Rewrites docs/performance.md from bench/results.json (after a change of its wording).
    const results = JSON.parse(readFileSync(join(repo, 'bench/results.json'), 'utf8')) as Results;
    const text = report(results);
    process.stdout.write(`${text}\n`);
    writePerformanceDoc(performanceDoc(results, text));
    return 0;
  }
  log(`work directory ${work}; ${JSON.stringify(config)}`);
  let net: TestNetwork | null = null;
  let liveSkipped: string | null = config.live ? null : 'disabled (--no-live)';
  if (liveSkipped === null && process.getuid?.() !== 0) liveSkipped = 'needs root';
  const senders = new Set([config.sweepSender, config.sender]);
  if (liveSkipped === null && config.rates.length === 0 && config.sustainedPackets <= 0) liveSkipped = 'nothing to send (--rates none, --sustained-packets 0)';
  if (liveSkipped === null && senders.has('tcpreplay')) liveSkipped = ensureTcpreplay();
  if (liveSkipped === null && senders.has('pcapsend')) liveSkipped = ensurePcapsend();
  try {
    if (liveSkipped === null) {
      try {
        net = await createTestNetwork();
      } catch (error) {
        liveSkipped = `no network namespaces: ${(error as Error).message.split('\n')[0]}`;
      }
    }
    const serverV4 = net?.serverV4 ?? '10.200.0.1';
    const serverV6 = net?.serverV6 ?? 'fd00:200::1';

    log(`generating ${fmt(config.packets)} packets over ${fmt(config.flows)} flows (seed ${config.seed})`);
    const genStarted = performance.now();
    const fullPcap = join(work, 'gen.pcap');
    const snapPcap = join(work, 'gen-256.pcap');
    const events = join(work, 'gen.jsonl');
    const common = { v6Fraction: config.v6Fraction, serverV4, serverV6 };
    const gen = generate({ ...common, pcapPath: net !== null && config.rates.length > 0 ? fullPcap : undefined, snapPcapPath: snapPcap, eventsPath: events, packets: config.packets, flows: config.flows, seed: config.seed });
    const genSeconds = (performance.now() - genStarted) / 1000;
    log(`generated in ${fmt(genSeconds, 1)} s: ${fmt(gen.pureAcks)} pure ACKs, ${fmt(gen.fullSize)} full-size, ${fmt(gen.midSize)} mid-size, ${fmt(gen.control)} SYN/FIN; ${fmt(gen.v6Flows)} IPv6 flows`);

    // The generated files are still being written back: let the disk settle before measuring.
    spawnSync('sync');
    let offline: OfflineResult | { skipped: string } = { skipped: 'not run (--phases)' };
    if (config.phases.includes('offline')) {
      log('phase 1: offline pipeline ceiling');
      offline = await offlinePhase(snapPcap, events, gen);
    }

    let live: LiveResult | { skipped: string };
    if (net !== null) {
      log('phase 2: live capture');
      let sustained: Parameters<typeof livePhase>[1]['sustained'] = null;
      if (config.sustainedPackets > 0) {
        const flows = Math.max(config.flows, Math.round(config.sustainedPackets / 500));
        log(`generating the sustained run's ${fmt(config.sustainedPackets)} packets over ${fmt(flows)} flows`);
        const pcap = join(work, 'sustained-256.pcap');
        const sustainedEvents = join(work, 'sustained.jsonl');
        generate({ ...common, snapPcapPath: pcap, eventsPath: sustainedEvents, packets: config.sustainedPackets, flows, seed: config.seed + 1, uuidPrefix: 'sustained' });
        sustained = { pcap, events: sustainedEvents, flows };
      }
      try {
        live = await livePhase(net, { pcap: fullPcap, events, flows: gen.flows, sustained }, config.rates);
      } catch (error) {
        log(`live phase failed: ${(error as Error).stack ?? String(error)}`);
        live = { skipped: `failed: ${(error as Error).message.split('\n')[0]}` };
      }
      if (sustained !== null) rmSync(sustained.pcap, { force: true });
      await net.destroy();
      net = null;
    } else {
      live = { skipped: liveSkipped ?? 'unavailable' };
    }
    rmSync(fullPcap, { force: true });
    rmSync(snapPcap, { force: true });

    let memory: Awaited<ReturnType<typeof memoryPhase>> = [];
    if (config.phases.includes('memory')) {
      log('phase 3: memory');
      memory = await memoryPhase(serverV4, serverV6);
    }

    const partial: Omit<Results, 'targets'> = {
      date: new Date().toISOString(),
      command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '?', memoryGiB: Math.round(totalmem() / 1024 ** 3), kernel: release(), node: process.version, datadirFs: `${diskRoot().fs}; pipeline ceiling and live daemons on ${'skipped' in offline ? ('skipped' in live ? '?' : (live.outputFs ?? '?')) : offline.outputFs}` },
      config,
      generated: { ...gen, seconds: genSeconds },
      offline,
      live,
      memory,
    };
    const results: Results = { ...partial, targets: targets(partial) };
    const text = report(results);
    process.stdout.write(`${text}\n`);
    if (config.write) {
      mkdirSync(join(repo, 'bench'), { recursive: true });
      writeFileSync(join(repo, 'bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);
      writePerformanceDoc(performanceDoc(results, text));
      log('wrote bench/results.json and docs/performance.md');
    }
    return 0;
  } finally {
    if (net !== null) await net.destroy().catch((e: unknown) => log(`network cleanup: ${String(e)}`));
  }
}

main().then(
  (code) => {
    cleanupSync();
    process.exit(code);
  },
  (error: unknown) => {
    log(`failed: ${(error as Error).stack ?? String(error)}`);
    cleanupSync();
    process.exit(1);
  },
);
