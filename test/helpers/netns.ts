// Network namespaces for integration tests: a pair of namespaces joined by a
// veth pair (createTestNetwork), with IPv4 and IPv6 addresses and offloads off,
// and the commands run and processes started inside them (TestNetwork.exec/spawn,
// tracked through ./processes.ts).
//
// Namespaces are registered in a process-wide registry and removed by
// TestNetwork.destroy(); whatever is still registered when the process exits
// (uncaught error, process.exit, SIGINT/SIGTERM/SIGHUP) is removed synchronously
// by the exit handler of ./processes.ts, after the tracked process groups got SIGKILL.
// Namespaces left by a test process that died without running handlers (SIGKILL)
// are swept by the next createTestNetwork() of any process (see sweepStaleTestNetworks).
//
// Needs root and iproute2. ethtool is used when present to turn TSO/GSO/GRO off;
// otherwise tcp_peer.py (python3) does it with the legacy ioctls.
import { spawn as nodeSpawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  cleanUpAtExit,
  execHost,
  processAlive,
  runTracked,
  terminateGroup,
  track,
  type ExecOptions,
  type ExecResult,
  type SpawnOptions,
} from './processes.js';
import { TCP_PEER_ARGV } from './tcppeer.js';
import { waitFor } from './wait.js';

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

// ------------------------------------------------------------------ process-wide registry

const NAME_PREFIX = 'ph-';
const NS_PATTERN = /^ph-(\d+)-[0-9a-f]+-(srv|cli)$/;

const liveNamespaces = new Set<string>();

function deleteLiveNamespaces(): void {
  for (const ns of liveNamespaces) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 10_000 });
  liveNamespaces.clear();
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

// ------------------------------------------------------------------ exec / spawn in a namespace

function startInNs(ns: string, argv: readonly string[], stdio: StdioOptions, env?: NodeJS.ProcessEnv, cwd?: string): ChildProcess {
  if (argv.length === 0) throw new Error('empty argv');
  return nodeSpawn('ip', ['netns', 'exec', ns, ...argv], { stdio, env: env ?? process.env, cwd, detached: true });
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
  cleanUpAtExit(deleteLiveNamespaces);
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
