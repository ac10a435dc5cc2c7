// Integration-test harness: a pair of network namespaces joined by a veth pair,
// tracked child processes, a TCP peer (test/helpers/tcp_peer.py), tcpdump and
// tshark helpers.
//
// Everything created here is registered in a process-wide registry and torn down
// by TestNetwork.destroy(); whatever is still registered when the process exits
// (uncaught error, process.exit, SIGINT/SIGTERM/SIGHUP) is removed synchronously
// by an 'exit' handler: tracked process groups get SIGKILL, namespaces are deleted.
// Namespaces left by a test process that died without running handlers (SIGKILL)
// are swept by the next createTestNetwork() of any process (see sweepStaleTestNetworks).
//
// Needs root, iproute2, python3, tcpdump and tshark. ethtool is used when present
// to turn TSO/GSO/GRO off; otherwise tcp_peer.py does it with the legacy ioctls.
import { spawn as nodeSpawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// ------------------------------------------------------------------ types

export interface ExecOptions {
  /** Kill the process group with SIGKILL after this long; default 15000 ms. */
  timeoutMs?: number;
  /** Written to stdin, which is then closed (stdin is empty otherwise). */
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Reject unless the command exits with code 0 (default false). */
  check?: boolean;
}

export interface ExecResult {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Default ['ignore', 'pipe', 'pipe']: consume or destroy piped output yourself. */
  stdio?: StdioOptions;
}

export interface TestNetwork {
  /** Unique id of this network, e.g. "ph-1234-a1b2c3". */
  readonly id: string;
  readonly serverNs: string;
  readonly clientNs: string;
  /** veth end inside serverNs / clientNs. */
  readonly serverIf: string;
  readonly clientIf: string;
  readonly serverV4: string;
  readonly clientV4: string;
  readonly v4PrefixLen: number;
  readonly serverV6: string;
  readonly clientV6: string;
  readonly v6PrefixLen: number;
  /** True when TSO, GSO and GRO were verified off on both veth ends. */
  readonly offloadsDisabled: boolean;
  /** How offloads were handled: 'ethtool', 'ioctl' (tcp_peer.py) or 'none'. */
  readonly offloadMethod: 'ethtool' | 'ioctl' | 'none';
  readonly destroyed: boolean;
  /** Runs argv in namespace ns (ip netns exec) in its own process group, tracked while it runs. */
  exec(ns: string, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Starts argv in namespace ns, detached in its own process group (pgid = pid), tracked until destroy(). */
  spawn(ns: string, argv: readonly string[], opts?: SpawnOptions): ChildProcess;
  /** Processes spawned by spawn()/exec() that destroy() will (or did) terminate. */
  trackedProcesses(): ChildProcess[];
  /** Terminates tracked process groups (SIGTERM, SIGKILL after a bounded wait), deletes both namespaces. Idempotent. */
  destroy(): Promise<void>;
}

// ------------------------------------------------------------------ small utilities

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls predicate every intervalMs until it returns a truthy value (which is
 * returned), or throws `timed out after ...ms waiting for <what>`. A predicate
 * that throws is treated as "not yet"; its last error is put in the message.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  timeoutMs: number,
  what: string,
  intervalMs = 50,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await predicate();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      lastError = e;
    }
    const left = deadline - Date.now();
    if (left <= 0) break;
    await sleep(Math.min(intervalMs, left));
  }
  const why = lastError ? ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})` : '';
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${why}`);
}

/** /proc/PID/stat fields after the command name: [state, ppid, pgrp, ...]. */
function procStat(pid: number | string): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** True while some process of process group pgid exists (zombies count as gone). */
export function processGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const f = procStat(name);
    if (f && Number(f[2]) === pgid && f[0] !== 'Z' && f[0] !== 'X') return true;
  }
  return false;
}

/** True while process pid exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  const f = procStat(pid);
  return f !== null && f[0] !== 'Z' && f[0] !== 'X';
}

/** Names of the network namespaces that exist now (`ip netns list`). */
export function listNamespaces(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip netns list failed: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((n): n is string => !!n);
}

function commandExists(name: string): boolean {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin']);
  return dirs.some((d) => d && existsSync(`${d}/${name}`));
}

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

// ------------------------------------------------------------------ process-wide registry

const NAME_PREFIX = 'ph-';
const NS_PATTERN = /^ph-(\d+)-[0-9a-f]+-(srv|cli)$/;

const liveNamespaces = new Set<string>();
const liveGroups = new Set<number>();
let handlersInstalled = false;

function emergencyCleanup(): void {
  for (const pgid of liveGroups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  liveGroups.clear();
  for (const ns of liveNamespaces) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 10_000 });
  liveNamespaces.clear();
}

function onFatalSignal(signal: NodeJS.Signals): void {
  emergencyCleanup();
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeListener(s, onFatalSignal);
  process.kill(process.pid, signal); // default action now: die of the same signal
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', emergencyCleanup);
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onFatalSignal);
}

function track(child: ChildProcess, owner: Set<ChildProcess> | null): void {
  const pid = child.pid;
  if (pid === undefined) return;
  liveGroups.add(pid);
  owner?.add(child);
  child.once('exit', () => {
    // The leader is gone; other members of its group may not be. Keep the group
    // registered until it is empty so the exit handler can still kill them.
    if (!processGroupAlive(pid)) liveGroups.delete(pid);
  });
}

/** Kills process group pgid: SIGTERM, then SIGKILL if still alive after graceMs. */
async function terminateGroup(child: ChildProcess, graceMs: number): Promise<void> {
  const pgid = child.pid;
  if (pgid === undefined) return;
  const leaderDone = () => child.exitCode !== null || child.signalCode !== null;
  if (!leaderDone() || processGroupAlive(pgid)) {
    try {
      process.kill(-pgid, 'SIGTERM');
    } catch {
      /* gone */
    }
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && (!leaderDone() || processGroupAlive(pgid))) await sleep(20);
    if (!leaderDone() || processGroupAlive(pgid)) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        /* gone */
      }
      const killDeadline = Date.now() + 2000;
      while (Date.now() < killDeadline && !leaderDone()) await sleep(10);
    }
  }
  liveGroups.delete(pgid);
}

/**
 * Deletes namespaces named like ours (ph-<pid>-<hex>-srv|cli) whose creating
 * process no longer exists: leftovers of a test process killed with SIGKILL.
 * Returns the names deleted.
 */
export function sweepStaleTestNetworks(): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = listNamespaces();
  } catch {
    return removed;
  }
  for (const ns of names) {
    const m = NS_PATTERN.exec(ns);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || processAlive(pid)) continue;
    const r = spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 10_000 });
    if (r.status === 0) removed.push(ns);
  }
  return removed;
}

// ------------------------------------------------------------------ exec / spawn

function startInNs(ns: string, argv: readonly string[], stdio: StdioOptions, env?: NodeJS.ProcessEnv, cwd?: string): ChildProcess {
  if (argv.length === 0) throw new Error('empty argv');
  return nodeSpawn('ip', ['netns', 'exec', ns, ...argv], { stdio, env: env ?? process.env, cwd, detached: true });
}

function runTracked(
  start: (stdio: StdioOptions) => ChildProcess,
  label: string,
  opts: ExecOptions,
  owner: Set<ChildProcess> | null,
): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  return new Promise<ExecResult>((resolvePromise, reject) => {
    const child = start([opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe']);
    track(child, null);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    if (opts.input !== undefined) {
      child.stdin?.on('error', () => {});
      child.stdin?.end(opts.input);
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      if (child.pid !== undefined) liveGroups.delete(child.pid);
      reject(new Error(`${label}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      // A command may leave background members in its group: do not leak them.
      if (child.pid !== undefined && processGroupAlive(child.pid)) {
        if (owner) owner.add(child);
        else {
          try {
            process.kill(-child.pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
      } else if (child.pid !== undefined) liveGroups.delete(child.pid);
      const result: ExecResult = {
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      };
      if (opts.check && (code !== 0 || timedOut)) {
        reject(
          new Error(
            `${label} ${timedOut ? `timed out after ${timeoutMs}ms` : `exited with ${code ?? signal}`}\n` +
              `stdout: ${result.stdout.trim()}\nstderr: ${result.stderr.trim()}`,
          ),
        );
      } else resolvePromise(result);
    });
  });
}

/** Runs a command in the root namespace (same semantics as TestNetwork.exec). */
export function execHost(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  if (argv.length === 0) return Promise.reject(new Error('empty argv'));
  return runTracked(
    (stdio) => nodeSpawn(argv[0], argv.slice(1), { stdio, env: opts.env ?? process.env, cwd: opts.cwd, detached: true }),
    argv.join(' '),
    opts,
    null,
  );
}

// ------------------------------------------------------------------ the network

const usedSubnets = new Set<string>();

function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

function pickV4(): { server: string; client: string } {
  for (let i = 0; i < 100; i++) {
    const [a, b, c] = randomBytes(3);
    const base = c & 0xfc; // a /30: .base+1 and .base+2
    const key = `10.${a}.${b}.${base}`;
    if (usedSubnets.has(key)) continue;
    usedSubnets.add(key);
    return { server: `10.${a}.${b}.${base + 1}`, client: `10.${a}.${b}.${base + 2}` };
  }
  throw new Error('could not pick an unused IPv4 subnet');
}

function pickV6(): { server: string; client: string } {
  for (let i = 0; i < 100; i++) {
    // Non-zero groups without leading zeros: the canonical text form that `ip` prints.
    const groups = [0, 1, 2].map(() => ((randomBytes(2).readUInt16BE(0) % 0xffff) + 1).toString(16));
    const prefix = `fd00:${groups.join(':')}`;
    if (usedSubnets.has(prefix)) continue;
    usedSubnets.add(prefix);
    return { server: `${prefix}::1`, client: `${prefix}::2` };
  }
  throw new Error('could not pick an unused IPv6 subnet');
}

class Network implements TestNetwork {
  readonly id: string;
  readonly serverNs: string;
  readonly clientNs: string;
  readonly serverIf: string;
  readonly clientIf: string;
  readonly serverV4: string;
  readonly clientV4: string;
  readonly v4PrefixLen = 30;
  readonly serverV6: string;
  readonly clientV6: string;
  readonly v6PrefixLen = 64;
  offloadsDisabled = false;
  offloadMethod: 'ethtool' | 'ioctl' | 'none' = 'none';
  destroyed = false;
  private readonly children = new Set<ChildProcess>();
  private readonly ownNamespaces: string[] = [];
  private destroying: Promise<void> | null = null;

  constructor() {
    const tag = randomHex(3);
    this.id = `${NAME_PREFIX}${process.pid}-${tag}`;
    this.serverNs = `${this.id}-srv`;
    this.clientNs = `${this.id}-cli`;
    const ifTag = randomHex(4); // "ph" + 8 hex + "s|c": 11 chars <= 15
    this.serverIf = `ph${ifTag}s`;
    this.clientIf = `ph${ifTag}c`;
    const v4 = pickV4();
    const v6 = pickV6();
    this.serverV4 = v4.server;
    this.clientV4 = v4.client;
    this.serverV6 = v6.server;
    this.clientV6 = v6.client;
  }

  exec(ns: string, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    if (this.destroyed) return Promise.reject(new Error(`network ${this.id} is destroyed`));
    return runTracked(
      (stdio) => startInNs(ns, argv, stdio, opts.env, opts.cwd),
      `[${ns}] ${argv.join(' ')}`,
      opts,
      this.children,
    );
  }

  spawn(ns: string, argv: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    if (this.destroyed) throw new Error(`network ${this.id} is destroyed`);
    const child = startInNs(ns, argv, opts.stdio ?? ['ignore', 'pipe', 'pipe'], opts.env, opts.cwd);
    child.on('error', () => {}); // reported through 'exit'/'close'; never an uncaught error
    track(child, this.children);
    return child;
  }

  trackedProcesses(): ChildProcess[] {
    return [...this.children];
  }

  destroy(): Promise<void> {
    if (!this.destroying) this.destroying = this.doDestroy();
    return this.destroying;
  }

  private async doDestroy(): Promise<void> {
    this.destroyed = true;
    await Promise.all([...this.children].map((c) => terminateGroup(c, 3000)));
    const failures: string[] = [];
    for (const ns of this.ownNamespaces) {
      const r = spawnSync('ip', ['netns', 'del', ns], { encoding: 'utf8', timeout: 10_000 });
      if (r.status !== 0 && listNamespaces().includes(ns)) failures.push(`${ns}: ${r.stderr.trim()}`);
      else liveNamespaces.delete(ns);
    }
    if (failures.length) throw new Error(`could not delete namespaces: ${failures.join('; ')}`);
  }

  /** Builds the namespaces; on failure everything made so far is removed. */
  async setup(): Promise<void> {
    const ip = (args: string[]) => execHost(['ip', ...args], { check: true, timeoutMs: 10_000 });
    for (const ns of [this.serverNs, this.clientNs]) {
      liveNamespaces.add(ns); // registered first: the exit handler may run at any time
      this.ownNamespaces.push(ns);
      await ip(['netns', 'add', ns]);
    }
    // Created directly inside the namespaces: no name ever appears in the root namespace.
    await ip(['link', 'add', this.serverIf, 'netns', this.serverNs, 'type', 'veth', 'peer', 'name', this.clientIf, 'netns', this.clientNs]);
    const ends = [
      { ns: this.serverNs, ifname: this.serverIf, v4: this.serverV4, v6: this.serverV6 },
      { ns: this.clientNs, ifname: this.clientIf, v4: this.clientV4, v6: this.clientV6 },
    ];
    for (const e of ends) {
      // No DAD (link-local included) and no router solicitations: IPv6 is usable at once and captures stay quiet.
      await this.exec(e.ns, ['sh', '-c', `for k in accept_dad router_solicitations; do for d in default ${e.ifname}; do echo 0 > /proc/sys/net/ipv6/conf/$d/$k; done; done`], {
        check: true,
        timeoutMs: 10_000,
      });
      await ip(['-n', e.ns, 'link', 'set', 'lo', 'up']);
      await ip(['-n', e.ns, 'addr', 'add', `${e.v4}/${this.v4PrefixLen}`, 'dev', e.ifname]);
      await ip(['-n', e.ns, '-6', 'addr', 'add', `${e.v6}/${this.v6PrefixLen}`, 'dev', e.ifname, 'nodad']);
    }
    await this.disableOffloads();
    for (const e of ends) await ip(['-n', e.ns, 'link', 'set', e.ifname, 'up']);
    await waitFor(
      async () => {
        for (const e of ends) {
          const link = await execHost(['ip', '-n', e.ns, '-o', 'link', 'show', 'dev', e.ifname], { check: true });
          if (!/[<,]LOWER_UP[,>]/.test(link.stdout) || !/state UP/.test(link.stdout)) return false;
          const addrs = await execHost(['ip', '-n', e.ns, '-o', '-6', 'addr', 'show', 'dev', e.ifname], { check: true });
          if (!addrs.stdout.includes(`${e.v6}/`) || /tentative|dadfailed/.test(addrs.stdout)) return false;
        }
        return true;
      },
      10_000,
      `veth ${this.serverIf}/${this.clientIf} up with usable IPv6`,
    );
  }

  private async disableOffloads(): Promise<void> {
    const ends = [
      { ns: this.serverNs, ifname: this.serverIf },
      { ns: this.clientNs, ifname: this.clientIf },
    ];
    if (commandExists('ethtool')) {
      let ok = true;
      for (const e of ends) {
        const r = await this.exec(e.ns, ['ethtool', '-K', e.ifname, 'tso', 'off', 'gso', 'off', 'gro', 'off'], { timeoutMs: 10_000 });
        if (r.code !== 0) ok = false;
      }
      if (ok) {
        this.offloadMethod = 'ethtool';
        this.offloadsDisabled = true;
        return;
      }
    }
    let ok = true;
    for (const e of ends) {
      const r = await this.exec(e.ns, [...TCP_PEER_ARGV, 'set-offloads', '--iface', e.ifname], { timeoutMs: 10_000 });
      if (r.code !== 0) ok = false;
    }
    this.offloadMethod = ok ? 'ioctl' : 'none';
    this.offloadsDisabled = ok;
  }
}

/**
 * Creates two fresh namespaces (serverNs, clientNs) joined by a veth pair with
 * IPv4 (random 10.x.y.z/30) and IPv6 (random fd00:x:y:z::/64, nodad) addresses,
 * lo up in both, offloads off where possible. Call destroy() when done (also
 * done at process exit if forgotten).
 */
export async function createTestNetwork(): Promise<TestNetwork> {
  installHandlers();
  sweepStaleTestNetworks();
  const net = new Network();
  try {
    await net.setup();
  } catch (e) {
    await net.destroy().catch(() => {});
    throw e;
  }
  return net;
}

// ------------------------------------------------------------------ line-oriented output helper

/** Collects the lines a child writes on one stream; waitForLine polls them. */
export class LineCollector {
  readonly lines: string[] = [];
  private partial = '';
  constructor(stream: NodeJS.ReadableStream | null | undefined) {
    stream?.on('data', (chunk: Buffer | string) => {
      const text = this.partial + chunk.toString();
      const parts = text.split('\n');
      this.partial = parts.pop() ?? '';
      this.lines.push(...parts);
    });
    stream?.on('end', () => {
      if (this.partial) this.lines.push(this.partial);
      this.partial = '';
    });
  }
  text(): string {
    return this.lines.join('\n') + (this.partial ? `\n${this.partial}` : '');
  }
}

function childDone(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (childDone(child)) return Promise.resolve(true);
  return new Promise((res) => {
    const timer = setTimeout(() => res(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      res(true);
    });
  });
}

// ------------------------------------------------------------------ TCP peer

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

// ------------------------------------------------------------------ tcpdump / tshark

export interface Tcpdump {
  readonly process: ChildProcess;
  readonly file: string;
  /** SIGINT, then wait (bounded) for exit so the file is complete. Returns tcpdump's stderr. */
  stop(): Promise<string>;
}

/**
 * Runs `tcpdump -i IFACE -w OUTFILE -s 0 -U -nn FILTER` in ns (-Z root: it keeps
 * the right to write OUTFILE) and resolves once it prints "listening on".
 */
export async function startTcpdump(net: TestNetwork, ns: string, iface: string, outFile: string, filter = ''): Promise<Tcpdump> {
  // Immediate mode: without it, packets still in the kernel's current ring block
  // when tcpdump gets SIGINT never reach the file, and the reference is short.
  const argv = ['tcpdump', '-i', iface, '-w', outFile, '-s', '0', '-U', '--immediate-mode', '-nn', '-Z', 'root'];
  if (filter.trim()) argv.push(filter);
  const child = net.spawn(ns, argv);
  child.stdout?.resume();
  const err = new LineCollector(child.stderr);
  try {
    await waitFor(
      () => {
        if (err.text().includes('listening on')) return true;
        if (childDone(child)) throw new Error(`tcpdump exited (${child.exitCode ?? child.signalCode}): ${err.text()}`);
        return false;
      },
      10_000,
      `tcpdump listening on ${iface} in ${ns}`,
      20,
    );
  } catch (e) {
    await terminateGroup(child, 1000);
    throw e;
  }
  let stopping: Promise<string> | null = null;
  return {
    process: child,
    file: outFile,
    stop: () => {
      stopping ??= (async () => {
        if (!childDone(child)) {
          try {
            process.kill(child.pid!, 'SIGINT');
          } catch {
            /* gone */
          }
        }
        if (!(await waitForExit(child, 5000))) await terminateGroup(child, 1000);
        return err.text();
      })();
      return stopping;
    },
  };
}

/**
 * Reads a capture (.pcap, .pcapng, .pcap.gz) with tshark and returns one row
 * per packet with the values of `fields` in order. Several occurrences of one
 * field in a packet are joined with ';'.
 */
export async function readPcapWithTshark(file: string, fields: readonly string[], displayFilter?: string): Promise<string[][]> {
  if (fields.length === 0) throw new Error('no fields');
  const argv = ['tshark', '-n', '-r', file, '-T', 'fields', '-E', 'separator=,', '-E', 'aggregator=;', '-E', 'quote=n'];
  for (const f of fields) argv.push('-e', f);
  if (displayFilter) argv.push('-Y', displayFilter);
  const r = await execHost(argv, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`tshark -r ${file} failed (${r.code ?? r.signal}): ${r.stderr.trim()}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split(','));
}
