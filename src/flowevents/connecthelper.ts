// The daemon's side of the connect helper (connecthelper-main.ts): started as
// root before the daemon drops its privileges, it connects to tcp-info's event
// socket on request and passes the connected socket back, so reconnects keep
// working after -user. Only the configured path can ever be connected.
import { fork, type ChildProcess } from 'node:child_process';
import type * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Log } from '../log.js';
import type { Connector } from './connector.js';

const HELPER_MAIN = fileURLToPath(new URL('./connecthelper-main.js', import.meta.url));
/** A connect to a unix socket answers at once; this only bounds a stuck helper. */
const ANSWER_TIMEOUT_MS = 10_000;

interface Waiting {
  resolve(socket: net.Socket): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export class ConnectHelper {
  private readonly child: ChildProcess;
  private readonly path: string;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private gone: string | null = null;
  private closing = false;

  /** Forks the helper; call it while still root. */
  constructor(path: string, log: Log) {
    this.path = path;
    this.child = fork(HELPER_MAIN, [path], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [], serialization: 'json' });
    this.child.on('message', (message: unknown, handle: unknown) => this.answer(message, handle));
    this.child.on('error', () => {}); // 'exit' follows and reports
    this.child.on('exit', (code, signal) => {
      this.gone = `the event socket helper exited (${signal ?? code})`;
      if (!this.closing) log(`${this.gone}: the event socket cannot be reconnected`);
      for (const [, w] of this.waiting) this.settle(w, () => w.reject(new Error(this.gone!)));
      this.waiting.clear();
    });
    // Neither the process nor its channel keeps the daemon alive.
    this.child.unref();
    this.child.channel?.unref();
  }

  /** The helper's process id. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  readonly connect: Connector = (path) => {
    if (path !== this.path) return Promise.reject(new Error(`the event socket helper connects to ${this.path} only`));
    if (this.gone !== null) return Promise.reject(new Error(this.gone));
    const id = this.nextId++;
    return new Promise<net.Socket>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        this.settle(w, () => reject(new Error('the event socket helper did not answer')));
      }, ANSWER_TIMEOUT_MS);
      const w: Waiting = { resolve, reject, timer };
      this.waiting.set(id, w);
      this.child.channel?.ref();
      this.child.send({ connect: id }, (error) => {
        if (error === null || !this.waiting.has(id)) return;
        this.waiting.delete(id);
        this.settle(w, () => reject(error));
      });
    });
  };

  /** Ends the helper (it exits when its channel closes). */
  close(): void {
    this.closing = true;
    if (this.child.connected) this.child.disconnect();
  }

  private answer(message: unknown, handle: unknown): void {
    const m = (typeof message === 'object' && message !== null ? message : {}) as { id?: unknown; error?: unknown };
    const w = typeof m.id === 'number' ? this.waiting.get(m.id) : undefined;
    const socket = handle as net.Socket | undefined;
    if (w === undefined) {
      socket?.destroy(); // an answer that came too late
      return;
    }
    this.waiting.delete(m.id as number);
    if (socket !== undefined && typeof socket.write === 'function') this.settle(w, () => w.resolve(socket));
    else this.settle(w, () => w.reject(new Error(typeof m.error === 'string' ? m.error : 'the event socket helper sent no socket')));
  }

  private settle(w: Waiting, how: () => void): void {
    clearTimeout(w.timer);
    if (this.waiting.size === 0) this.child.channel?.unref();
    how();
  }
}
