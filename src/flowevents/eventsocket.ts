// Client of tcp-info's eventsocket: connects to a unix stream socket, reads
// newline-delimited JSON events and hands them on, reconnecting with
// exponential backoff for as long as it runs.
import type * as net from 'node:net';
import { directConnect, type Connector } from './connector.js';
import { parseEventLine } from './eventline.js';
import type { EmitFlowEvent, FlowSource } from './flowsource.js';
import type { BadEventReason } from './types.js';

export const DEFAULT_INITIAL_BACKOFF_MS = 100;
export const DEFAULT_MAX_BACKOFF_MS = 5000;
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024;

/** Connect failures in a row between two "still cannot connect" log lines. */
const FAILURE_LOG_EVERY = 10;

const LF = 0x0a;
const CR = 0x0d;

// Invalid UTF-8 makes a line bad (reason `json`) instead of becoming U+FFFD in a UUID.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Splits a byte stream into lines on `\n`. Holds at most `maxLineBytes` of a
 * partial line: a line that grows beyond that is reported once through
 * `onTooLong` and its bytes are dropped up to and including the next newline.
 * Lines are handed on without their `\n`; the limit counts every other byte.
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private pendingBytes = 0;
  private discarding = false;

  constructor(
    private readonly maxLineBytes: number,
    private readonly onLine: (line: Buffer) => void,
    private readonly onTooLong: () => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(LF, start);
      if (nl < 0) break;
      if (this.discarding) {
        this.discarding = false;
      } else {
        const length = this.pendingBytes + (nl - start);
        if (length > this.maxLineBytes) {
          this.onTooLong();
        } else {
          const tail = chunk.subarray(start, nl);
          const line = this.parts.length === 0 ? tail : Buffer.concat([...this.parts, tail], length);
          this.parts = [];
          this.pendingBytes = 0;
          this.onLine(line); // state is already clean should it throw
        }
      }
      this.parts = [];
      this.pendingBytes = 0;
      start = nl + 1;
    }
    if (start >= chunk.length || this.discarding) return;
    const rest = chunk.length - start;
    if (this.pendingBytes + rest > this.maxLineBytes) {
      this.onTooLong();
      this.discarding = true;
      this.parts = [];
      this.pendingBytes = 0;
      return;
    }
    // Copy a tail so that a small partial line does not pin a large read buffer.
    this.parts.push(start === 0 ? chunk : Buffer.from(chunk.subarray(start)));
    this.pendingBytes += rest;
  }

  /** Bytes of the partial line currently held. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /** Forgets any partial line (as at a disconnect). */
  reset(): void {
    this.parts = [];
    this.pendingBytes = 0;
    this.discarding = false;
  }
}

export interface EventSocketClientOptions {
  /** Path of tcp-info's eventsocket (a unix stream socket). */
  path: string;
  onBadLine(reason: BadEventReason): void;
  onConnectedChange(connected: boolean): void;
  log(message: string): void;
  /** First reconnect delay, and the delay after a connection is lost; default 100. */
  initialBackoffMs?: number;
  /** Ceiling of the doubling reconnect delay; default 5000. */
  maxBackoffMs?: number;
  /** Longest accepted line in bytes, without its newline; default 64 KiB. */
  maxLineBytes?: number;
  /** Makes each connection; default a direct connect (the connect helper under -user). */
  connector?: Connector;
}

/**
 * Reads flow events from a unix socket (a FlowSource). start() connects; a
 * lost connection or a failed connect is retried with exponential backoff
 * (reset by a successful connection) until stop(). Never throws out of
 * socket callbacks; timers are unref'd.
 */
export class EventSocketClient implements FlowSource {
  private readonly opts: EventSocketClientOptions;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxLineBytes: number;
  private readonly connector: Connector;
  private backoffMs: number;
  private socket: net.Socket | null = null;
  private timer: NodeJS.Timeout | null = null;
  private emit: EmitFlowEvent | null = null;
  private closed = false;
  private connected = false;
  /** Failed connect attempts since the last successful connection. */
  private failures = 0;
  private attempts = 0;

  constructor(opts: EventSocketClientOptions) {
    this.opts = opts;
    this.initialBackoffMs = Math.max(1, opts.initialBackoffMs ?? DEFAULT_INITIAL_BACKOFF_MS);
    this.maxBackoffMs = Math.max(this.initialBackoffMs, opts.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS);
    this.maxLineBytes = Math.max(1, opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
    this.connector = opts.connector ?? directConnect;
    this.backoffMs = this.initialBackoffMs;
  }

  /** True while a connection is established. */
  get isConnected(): boolean {
    return this.connected;
  }

  /** Connection attempts made so far, successful or not. */
  get connectAttempts(): number {
    return this.attempts;
  }

  /**
   * Connects, and keeps reconnecting until stop(); resolves at once (tcp-info
   * announces connections as they come). Calling it again does nothing.
   */
  start(emit: EmitFlowEvent): Promise<void> {
    if (this.emit === null && !this.closed) {
      this.emit = emit;
      this.connect();
    }
    return Promise.resolve();
  }

  /** Stops reconnecting and destroys the connection; resolves once the socket is closed. */
  stop(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const sock = this.socket;
    if (sock === null) return Promise.resolve();
    return new Promise<void>((resolve) => {
      sock.once('close', () => resolve());
      sock.destroy();
    });
  }

  private connect(): void {
    this.timer = null;
    if (this.closed) return;
    const { path } = this.opts;
    this.attempts++;
    let made: Promise<net.Socket>;
    try {
      made = this.connector(path);
    } catch (error) {
      made = Promise.reject(error);
    }
    made.then(
      (sock) => {
        if (this.closed) sock.destroy();
        else this.attach(sock);
      },
      (error: unknown) => {
        if (this.closed) return;
        this.failures++;
        const why = `: ${error instanceof Error ? error.message : String(error)}`;
        if (this.failures === 1) {
          this.safely('log', () => this.opts.log(`eventsocket: cannot connect to ${path}${why}; retrying`));
        } else if (this.failures % FAILURE_LOG_EVERY === 0) {
          this.safely('log', () => this.opts.log(`eventsocket: still cannot connect to ${path} after ${this.failures} attempts${why}`));
        }
        this.scheduleReconnect();
      },
    );
  }

  /** Reads a connected socket until it closes, then reconnects. */
  private attach(sock: net.Socket): void {
    const { path } = this.opts;
    this.socket = sock;
    let lastError: Error | null = null;
    // One splitter per connection: a partial line at a disconnect is dropped unparsed.
    const splitter = new LineSplitter(
      this.maxLineBytes,
      (line) => {
        if (this.socket === sock && !this.closed) this.handleLine(line);
      },
      () => {
        if (this.socket === sock && !this.closed) this.safely('onBadLine', () => this.opts.onBadLine('toolong'));
      },
    );
    sock.on('data', (chunk: Buffer) => splitter.push(chunk));
    sock.on('error', (err: Error) => {
      lastError = err; // 'close' follows and decides what to do
    });
    sock.on('close', () => {
      if (this.socket === sock) this.socket = null;
      splitter.reset();
      const why = lastError !== null ? `: ${lastError.message}` : '';
      this.connected = false;
      const how = this.closed ? ' (closing)' : '';
      this.safely('log', () => this.opts.log(`eventsocket: disconnected from ${path}${how}${why}`));
      this.safely('onConnectedChange', () => this.opts.onConnectedChange(false));
      this.scheduleReconnect();
    });
    this.connected = true;
    this.backoffMs = this.initialBackoffMs;
    const after = this.failures > 0 ? ` after ${this.failures} failed attempt(s)` : '';
    this.failures = 0;
    this.safely('log', () => this.opts.log(`eventsocket: connected to ${path}${after}`));
    this.safely('onConnectedChange', () => this.opts.onConnectedChange(true));
    sock.resume();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.timer !== null) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs);
    this.timer = setTimeout(() => this.connect(), delay);
    this.timer.unref();
  }

  private handleLine(raw: Buffer): void {
    const bytes = raw.length > 0 && raw[raw.length - 1] === CR ? raw.subarray(0, raw.length - 1) : raw;
    if (bytes.length === 0) return; // a blank line is no event
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      this.safely('onBadLine', () => this.opts.onBadLine('json'));
      return;
    }
    const r = parseEventLine(text);
    if (r.ok) {
      const event = r.event;
      this.safely('onEvent', () => this.emit?.(event));
    } else {
      const reason = r.reason;
      this.safely('onBadLine', () => this.opts.onBadLine(reason));
    }
  }

  /** Runs a callback; a throw is logged, never allowed to break the socket. */
  private safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (what === 'log') return;
      try {
        this.opts.log(`eventsocket: ${what} threw: ${err instanceof Error ? err.message : String(err)}`);
      } catch {
        // nothing left to report to
      }
    }
  }
}
