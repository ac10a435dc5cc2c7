// The benchmark's options, from its command line or the environment.
//
// --quick (BENCH_QUICK=1) shrinks every size; --no-live (BENCH_NO_LIVE=1)
// skips the live phase; --packets N, --flows N, --memory-flows A,B, --runs N
// (offline repetitions, median reported), --seed N, --rates A,B,…,top (live
// sweep, packets per second), --sustained-packets N (the sustained live run
// at top speed, a capture of its own; 0 skips it), --no-write (do not touch
// bench/results.json and docs/performance.md), --from-results (rewrite
// docs/performance.md from bench/results.json), --perf DIR (BENCH_PERF; each live daemon
// runs with --perf-basic-prof and `perf record` samples it while its replay
// runs, into DIR/live-N-RATE.data: where its CPU goes, by thread and symbol),
// --sender pcapsend|tcpreplay (BENCH_SENDER; what sends the sustained run:
// pcapsend, bench/pcapsend.c, by default), --sweep-sender pcapsend|tcpreplay
// (BENCH_SWEEP_SENDER; what sends the rate sweep: tcpreplay by default, see
// bench/live.ts),
// --rps (BENCH_RPS=1; the capture interface's receive processing, RPS, on
// core 1 with the capture instead of core 0 with the sender, where the veth
// runs it by default), --phases offline,live,memory (BENCH_PHASES; the phases to run, all by
// default: a run of fewer writes nothing, as with --no-write). --rates none
// runs no sweep (the sustained run only, with --phases live). BENCH_DAEMON=PATH
// measures another checkout's bin/packet-headers.js (A/B in one sitting).
// --capture-threads N (BENCH_CAPTURE_THREADS): the live daemon's -capturethreads,
// given only when not 1 (an older daemon has no such flag).
function flag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}
function option(name: string, env: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  if (at >= 0 && at + 1 < process.argv.length) return process.argv[at + 1];
  return process.env[env];
}

const quick = flag('quick') || process.env.BENCH_QUICK === '1';

/** A live sending rate: packets per second, or as fast as the sender goes. */
export type Rate = number | 'top';

/** What sends the live phase's packets: tcpreplay, or the benchmark's own TX_RING sender (bench/pcapsend.c). */
export type Sender = 'tcpreplay' | 'pcapsend';

function parseSender(name: string, text: string): Sender {
  if (text !== 'tcpreplay' && text !== 'pcapsend') throw new Error(`--${name}: "${text}" is neither pcapsend nor tcpreplay`);
  return text;
}

const PHASES = ['offline', 'live', 'memory'] as const;
export type Phase = (typeof PHASES)[number];

function parsePhases(text: string): Phase[] {
  return text.split(',').map((p) => {
    const phase = PHASES.find((x) => x === p.trim());
    if (phase === undefined) throw new Error(`--phases: "${p}" is not one of ${PHASES.join(', ')}`);
    return phase;
  });
}

function parseRates(text: string): Rate[] {
  if (text.trim() === 'none') return [];
  return text.split(',').map((r) => {
    if (r.trim() === 'top') return 'top';
    const n = Number(r);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--rates: "${r}" is neither a packet rate nor "top"`);
    return n;
  });
}

const phases = parsePhases(option('phases', 'BENCH_PHASES') ?? PHASES.join(','));

export const config = {
  quick,
  seed: Number(option('seed', 'BENCH_SEED') ?? 20240404),
  packets: Number(option('packets', 'BENCH_PACKETS') ?? (quick ? 200_000 : 2_000_000)),
  flows: Number(option('flows', 'BENCH_FLOWS') ?? (quick ? 400 : 4_000)),
  v6Fraction: 0.25,
  memoryFlows: (option('memory-flows', 'BENCH_MEMORY_FLOWS') ?? (quick ? '2000,10000' : '10000,100000')).split(',').map(Number),
  runs: Number(option('runs', 'BENCH_RUNS') ?? (quick ? 1 : 3)),
  live: !(flag('no-live') || process.env.BENCH_NO_LIVE === '1') && phases.includes('live'),
  rates: parseRates(option('rates', 'BENCH_RATES') ?? (quick ? '100000,top' : '40000,100000,300000,top')),
  sustainedPackets: Number(option('sustained-packets', 'BENCH_SUSTAINED_PACKETS') ?? (quick ? 0 : 10_000_000)),
  sender: parseSender('sender', option('sender', 'BENCH_SENDER') ?? 'pcapsend'),
  sweepSender: parseSender('sweep-sender', option('sweep-sender', 'BENCH_SWEEP_SENDER') ?? 'tcpreplay'),
  rps: flag('rps') || process.env.BENCH_RPS === '1',
  captureThreads: Number(option('capture-threads', 'BENCH_CAPTURE_THREADS') ?? 1),
  phases,
  write: !flag('no-write') && PHASES.every((p) => phases.includes(p)),
  fromResults: flag('from-results'),
  perfDir: option('perf', 'BENCH_PERF') ?? null,
};
export type BenchConfig = typeof config;
