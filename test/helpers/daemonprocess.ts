// The daemon under test as a process: bin/packet-headers.js started in a test
// network's namespace (tracked by the network, so its destroy() ends it if a
// test fails first), its stderr collected line by line, its exit code awaited.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { TestNetwork } from './netns.js';
import { LineCollector } from './processes.js';
import { waitFor } from './wait.js';

/** The repository's root (this file runs as dist/test/helpers/daemonprocess.js). */
export const REPO = join(import.meta.dirname, '../../..');
/** The daemon's command. */
export const DAEMON_BIN = join(REPO, 'bin/packet-headers.js');

export interface DaemonProcess {
  readonly child: ChildProcess;
  readonly stderr: LineCollector;
  /** The exit code once the daemon has exited (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `node bin/packet-headers.js ...args` in namespace ns of net, after
 * the wrapper's argv if one is given (e.g. setpriv, strace). Does not wait.
 */
export function spawnDaemon(net: TestNetwork, ns: string, args: readonly string[], wrapper: readonly string[] = []): DaemonProcess {
  const child = net.spawn(ns, [...wrapper, process.execPath, DAEMON_BIN, ...args]);
  const stderr = new LineCollector(child.stderr);
  child.stdout?.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    stderr,
    exited,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Waits (bounded) for the daemon's "capturing on" line; fails with its log if it exited instead. */
export async function waitUntilCapturing(daemon: DaemonProcess, timeoutMs = 15_000): Promise<void> {
  const { child, stderr } = daemon;
  await waitFor(() => stderr.lines.some((l) => l.includes('capturing on')) || child.exitCode !== null, timeoutMs, 'daemon capturing');
  assert.equal(child.exitCode, null, `daemon exited early: ${stderr.text()}`);
}

/** spawnDaemon, then waitUntilCapturing. */
export async function startCapturingDaemon(net: TestNetwork, ns: string, args: readonly string[], timeoutMs = 15_000): Promise<DaemonProcess> {
  const daemon = spawnDaemon(net, ns, args);
  await waitUntilCapturing(daemon, timeoutMs);
  return daemon;
}
