// The TCP peer (test/helpers/tcp_peer.py) as traffic for tests: an echo server
// started in a namespace that reports each accepted connection (with its
// SO_COOKIE), a client run to completion, and a reachability check.
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestNetwork } from './netns.js';
import { childDone, LineCollector, terminateGroup, waitForExit } from './processes.js';
import { waitFor } from './wait.js';

function pythonPath(): string {
  if (process.env.PH_PYTHON) return process.env.PH_PYTHON;
  for (const p of ['/usr/bin/python3', '/usr/local/bin/python3']) if (existsSync(p)) return p;
  return 'python3';
}

function findTcpPeer(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, 'tcp_peer.py'), resolve(here, '../../../test/helpers/tcp_peer.py')];
  return candidates.find((p) => existsSync(p)) ?? candidates[1];
}

/** Absolute path of the TCP peer program. */
export const TCP_PEER_PATH: string = findTcpPeer();
/** argv prefix that runs the TCP peer program: [python3, TCP_PEER_PATH]. */
export const TCP_PEER_ARGV: readonly string[] = [pythonPath(), TCP_PEER_PATH];

export interface HostPort {
  host: string;
  port: number;
}

export interface PeerEndpoints {
  local: string;
  lport: number;
  remote: string;
  rport: number;
  /** SO_COOKIE, 16 upper-case hex digits. */
  cookie: string;
}

export interface AcceptEvent extends PeerEndpoints {
  event: 'accept';
}

export interface ClosedEvent extends PeerEndpoints {
  event: 'closed';
  bytes: number;
  error: string | null;
}

export interface TcpServer {
  readonly process: ChildProcess;
  /** Bound addresses (with the real port when 0 was asked for). */
  readonly listening: HostPort[];
  /** Every JSON event printed so far. */
  events(): Array<Record<string, unknown>>;
  accepts(): AcceptEvent[];
  closes(): ClosedEvent[];
  /** SIGTERM, wait (bounded) for exit. */
  stop(): Promise<void>;
}

function parseJsonLines(lines: readonly string[]): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const l of lines) {
    if (!l.trim()) continue;
    try {
      out.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      /* not ours */
    }
  }
  return out;
}

function hostPortArg(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/** Starts the TCP peer's echo server in ns on every address given (port 0 = any free port). */
export async function startTcpServer(
  net: TestNetwork,
  ns: string,
  listen: readonly HostPort[],
  opts: { idleTimeoutS?: number; maxLifetimeS?: number; startTimeoutMs?: number; closeAfterBytes?: number } = {},
): Promise<TcpServer> {
  const argv = [...TCP_PEER_ARGV, 'server'];
  for (const hp of listen) argv.push('--listen', hostPortArg(hp));
  if (opts.idleTimeoutS !== undefined) argv.push('--idle-timeout', String(opts.idleTimeoutS));
  argv.push('--max-lifetime', String(opts.maxLifetimeS ?? 300));
  if (opts.closeAfterBytes !== undefined) argv.push('--close-after', String(opts.closeAfterBytes));
  const child = net.spawn(ns, argv);
  const out = new LineCollector(child.stdout);
  const err = new LineCollector(child.stderr);
  const events = () => parseJsonLines(out.lines);
  let listening: HostPort[];
  try {
    const ev = await waitFor(
      () => {
        if (childDone(child)) throw new Error(`server exited: ${err.text()}`);
        return events().find((e) => e.event === 'listening');
      },
      opts.startTimeoutMs ?? 10_000,
      `tcp_peer server listening in ${ns}`,
      20,
    );
    listening = ev.addrs as HostPort[];
  } catch (e) {
    await terminateGroup(child, 1000);
    throw new Error(`${(e as Error).message}\nstderr: ${err.text()}`);
  }
  return {
    process: child,
    listening,
    events,
    accepts: () => events().filter((e) => e.event === 'accept') as unknown as AcceptEvent[],
    closes: () => events().filter((e) => e.event === 'closed') as unknown as ClosedEvent[],
    stop: async () => {
      if (!childDone(child)) {
        try {
          process.kill(child.pid!, 'SIGTERM');
        } catch {
          /* gone */
        }
      }
      if (!(await waitForExit(child, 5000))) await terminateGroup(child, 1000);
    },
  };
}

export interface TcpClientOptions {
  connect: HostPort;
  /** Connections to make (default 1). */
  count?: number;
  /** How many at a time (default 1: sequential). */
  concurrency?: number;
  /** Payload bytes per connection (default 1024). */
  size?: number;
  /** Payload is this string repeated (default "packet-headers-test/"). */
  marker?: string;
  /** Seconds to wait after the echo before closing (default 0). */
  delayCloseS?: number;
  /** Close with RST (SO_LINGER 0) instead of FIN. */
  rst?: boolean;
  /** Per-connection timeout in seconds (default 10). */
  timeoutS?: number;
  /** Local address to bind to. */
  bind?: string;
  /** Send with IPv4 options (4 bytes) or an IPv6 destination-options header (8 bytes). */
  ipOptions?: boolean;
}

export interface ClientConnection extends Partial<PeerEndpoints> {
  event: 'connection';
  index: number;
  ok: boolean;
  bytesSent: number;
  bytesReceived: number;
  error: string | null;
}

export interface ClientSummary {
  event: 'summary';
  attempted: number;
  ok: number;
  failed: number;
  bytesSent: number;
  bytesReceived: number;
  errors: string[];
}

export interface TcpClientResult {
  code: number | null;
  connections: ClientConnection[];
  /** null when the client died before printing it. */
  summary: ClientSummary | null;
  stderr: string;
}

/** Runs the TCP peer client in ns to completion (bounded by its own timeouts). */
export async function runTcpClient(net: TestNetwork, ns: string, opts: TcpClientOptions): Promise<TcpClientResult> {
  const count = opts.count ?? 1;
  const timeoutS = opts.timeoutS ?? 10;
  const argv = [...TCP_PEER_ARGV, 'client', '--connect', hostPortArg(opts.connect), '--count', String(count)];
  argv.push('--concurrency', String(opts.concurrency ?? 1), '--size', String(opts.size ?? 1024), '--timeout', String(timeoutS));
  if (opts.marker !== undefined) argv.push('--marker', opts.marker);
  if (opts.delayCloseS !== undefined) argv.push('--delay-close', String(opts.delayCloseS));
  if (opts.rst) argv.push('--rst');
  if (opts.bind) argv.push('--bind', opts.bind);
  if (opts.ipOptions) argv.push('--ip-options');
  const r = await net.exec(ns, argv, { timeoutMs: (timeoutS * count + 15) * 1000 });
  const events = parseJsonLines(r.stdout.split('\n'));
  return {
    code: r.code,
    connections: events.filter((e) => e.event === 'connection') as unknown as ClientConnection[],
    summary: (events.find((e) => e.event === 'summary') as unknown as ClientSummary | undefined) ?? null,
    stderr: r.stderr,
  };
}

/** True when a TCP connection from fromNs to host:port works (a ping without ping). */
export async function tcpReachable(net: TestNetwork, fromNs: string, to: HostPort, timeoutS = 3): Promise<boolean> {
  const r = await runTcpClient(net, fromNs, { connect: to, count: 1, size: 16, timeoutS });
  return r.code === 0 && r.summary?.ok === 1;
}
