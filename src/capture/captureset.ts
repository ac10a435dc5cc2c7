// Runs one libpcap capture per interface (or per input file) and hands each
// batch of records, with their descriptions, to the consumer with the link
// type it was captured on.
import { Counter, type Registry } from 'prom-client';
import { splitAddonBatch } from '../decode/describe.js';
import { isSupportedLinkType } from '../decode/linktype.js';
import type { CaptureOptions, NativeAddon, NativeCapture } from './addon.js';

export interface CaptureSource {
  /** Interface name or file path, for logs and metric labels. */
  name: string;
  options: CaptureOptions;
}

/** `described` holds one description per record of `records` (src/decode/describe.ts). */
export type BatchConsumer = (records: Buffer, linkType: number, source: string, described: Int32Array) => void;

interface Running {
  name: string;
  capture: NativeCapture;
  ended: Promise<string | null>;
}

/**
 * How long batches may keep the JS thread from its event loop. Node delivers
 * queued batches back to back while the capture thread keeps the queue full
 * (a file is read faster than it is processed), which would starve timers,
 * signals, scrapes and the saver workers' replies for the whole read.
 */
const MAX_BATCH_SLICE_MS = 20;

export class CaptureSet {
  private readonly running: Running[] = [];
  private readonly log: (message: string) => void;
  /** When this event-loop turn's first batch came (-1: none yet this turn). */
  private sliceStartedAt = -1;
  private readonly held: NativeCapture[] = [];

  constructor(log: (message: string) => void) {
    this.log = log;
  }

  get size(): number {
    return this.running.length;
  }

  /**
   * Opens every source (throwing the first failure after closing what was
   * opened), skips those whose link type the decoder does not know, and
   * starts the rest.
   */
  start(addon: NativeAddon, sources: readonly CaptureSource[], consume: BatchConsumer, onSkipped: (name: string) => void): void {
    const opened: Array<{ name: string; capture: NativeCapture }> = [];
    for (const source of sources) {
      const capture = new addon.Capture(source.options);
      if (!isSupportedLinkType(capture.linkType)) {
        this.log(`skipping ${source.name}: link type ${capture.linkType} cannot be decoded`);
        onSkipped(source.name);
        // Started only to be stopped at once, so its handle is released.
        capture.start(() => {}, () => {});
        capture.stop();
        continue;
      }
      opened.push({ name: source.name, capture });
    }
    for (const { name, capture } of opened) {
      const linkType = capture.linkType;
      const ended = new Promise<string | null>((resolve) => {
        capture.start(
          (batch, recordsBytes) => {
            const { records, described } = splitAddonBatch(batch, recordsBytes);
            consume(records, linkType, name, described);
            this.yieldWhenSliceIsLong(capture);
          },
          (error) => {
            if (error !== null) this.log(`capture on ${name} ended: ${error}`);
            resolve(error);
          },
        );
      });
      this.running.push({ name, capture, ended });
    }
  }

  /**
   * Called after each batch. Past MAX_BATCH_SLICE_MS in one turn, the capture
   * is held, so the batches already queued are the last of this turn; the
   * check phase that follows (setImmediate) releases every held capture.
   */
  private yieldWhenSliceIsLong(capture: NativeCapture): void {
    const now = performance.now();
    if (this.sliceStartedAt < 0) {
      this.sliceStartedAt = now;
      setImmediate(this.endSlice);
    } else if (now - this.sliceStartedAt > MAX_BATCH_SLICE_MS && !this.held.includes(capture)) {
      capture.hold();
      this.held.push(capture);
    }
  }

  private readonly endSlice = (): void => {
    this.sliceStartedAt = -1;
    for (const capture of this.held.splice(0)) capture.release();
  };

  /** Resolves when every capture has delivered its last batch (offline sources: end of file). */
  async ended(): Promise<void> {
    await Promise.all(this.running.map((r) => r.ended));
  }

  async stop(): Promise<void> {
    for (const r of this.running) r.capture.stop();
    await this.ended();
  }

  /** Kernel counters per interface, exported on scrape. */
  registerMetrics(registry: Registry): void {
    const running = this.running;
    const counter = (name: string, help: string, pick: (s: ReturnType<NativeCapture['stats']>) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['interface'],
        registers: [registry],
        collect() {
          this.reset();
          for (const r of running) this.labels(r.name).inc(pick(r.capture.stats()));
        },
      });
    counter('pcap_kernel_received_packets_total', 'Packets that passed the capture filter (libpcap ps_recv).', (s) => s.received);
    counter('pcap_kernel_dropped_packets_total', 'Packets the kernel dropped for lack of buffer space (libpcap ps_drop).', (s) => s.dropped);
    counter('pcap_interface_dropped_packets_total', 'Packets dropped by the interface or its driver (libpcap ps_ifdrop).', (s) => s.ifDropped);
  }
}
