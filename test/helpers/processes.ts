// Processes a test starts, and their clean-up: every child started through
// here leads its own process group (pgid = pid), which is registered in a
// process-wide registry until it is empty. terminateGroup() ends a group
// (SIGTERM, then SIGKILL after a bounded wait); whatever is still registered
// when the process exits (uncaught error, process.exit, SIGINT/SIGTERM/SIGHUP)
// gets SIGKILL from an 'exit' handler, once cleanUpAtExit() has installed it.
// Also: running a command to completion (execHost), and collecting a child's
// output line by line (LineCollector).
import { spawn as nodeSpawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { sleep } from './wait.js';

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

// ------------------------------------------------------------------ process-wide registry

const liveGroups = new Set<number>();
/** Run at exit after the tracked groups are killed (e.g. namespace deletion). */
const exitCleanups = new Set<() => void>();
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
  for (const cleanup of exitCleanups) cleanup();
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

/**
 * Installs the exit and fatal-signal handlers (once) and has them run cleanup,
 * synchronously, after killing every tracked process group. Registering the
 * same function twice runs it once.
 */
export function cleanUpAtExit(cleanup: () => void): void {
  exitCleanups.add(cleanup);
  installHandlers();
}

/** Registers child's process group until it is empty; owner (if any) keeps the child for a later terminateGroup. */
export function track(child: ChildProcess, owner: Set<ChildProcess> | null): void {
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
export async function terminateGroup(child: ChildProcess, graceMs: number): Promise<void> {
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

// ------------------------------------------------------------------ running to completion

/**
 * Runs the child start() makes to completion, tracked while it runs, killed
 * (its group) after opts.timeoutMs. Members its group still has when it ends
 * are handed to owner, or killed when there is none.
 */
export function runTracked(
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

// ------------------------------------------------------------------ a child's output and exit

/** Collects the lines a child writes on one stream (tests poll them with waitFor). */
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

/** True once the child has exited (code or signal). */
export function childDone(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves true when the child exits within timeoutMs, false otherwise. */
export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (childDone(child)) return Promise.resolve(true);
  return new Promise((res) => {
    const timer = setTimeout(() => res(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      res(true);
    });
  });
}
