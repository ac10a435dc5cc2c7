// Runs one libpcap capture per interface (or one for all -read files, merged
// by timestamp in the addon). A live capture's thread routes every record into
// the flow store itself and tells when flows started there; offline, each
// batch of records, with their descriptions, goes to the consumer with the
// link type it was read with (the demuxer routes it in packet time).
import { Counter, type Registry } from 'prom-client';
import { splitAddonBatch } from '../decode/describe.js';
import { isSupportedLinkType } from '../decode/linktype.js';
import type { CaptureOptions, CaptureStats, InputEnd, NativeAddon, NativeCapture, NativeFlowStore } from '../native/addon.js';
import { BatchInputs } from './batchinputs.js';

export interface CaptureSource {
  /** Interface name or file path, for logs and metric labels. */
  name: string;
  options: CaptureOptions;
  /** Live: capture threads on the interface, its packets spread over them by flow (default 1). */
  threads?: number;
}

/**
 * `described` holds one description per record of `records` (src/decode/describe.ts);
 * `inputs`, for several merged files, which file each record came from.
 */
export type BatchConsumer = (records: Buffer, linkType: number, source: string, described: Int32Array, inputs?: BatchInputs) => void;

/** Where live captures route their records: the store, and who takes the flows started there (by capture name). */
export interface LiveRouting {
  store: NativeFlowStore;
  onFlowsStarted(source: string): void;
}

/** How one file of an offline capture ended. */
export interface FileEnd extends InputEnd {
  name: string;
}

interface Running {
  name: string;
  capture: NativeCapture;
  /** Offline: the files, as the addon numbers them. */
  files: string[] | null;
  ended: Promise<string | null>;
  fileEnds: FileEnd[];
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

  /** Interfaces (or offline captures) running: several capture threads on one interface count once. */
  get size(): number {
    return new Set(this.running.map((r) => r.name)).size;
  }

  /**
   * Opens every source (throwing the first failure after closing what was
   * opened), skips those (or, offline, the files) whose link type the
   * decoder does not know, and starts the rest. Live captures route into
   * `routing` when given; offline batches always go to `consume`.
   */
  start(addon: NativeAddon, sources: readonly CaptureSource[], consume: BatchConsumer, onSkipped: (name: string) => void, routing?: LiveRouting): void {
    const opened: Array<{ name: string; capture: NativeCapture; files: string[] | null }> = [];
    try {
      for (const source of sources) {
        const open = this.open(addon, source, onSkipped);
        if (open === null) continue;
        opened.push(open);
        // More threads on one interface: captures joined in the first one's fanout group.
        for (let i = 1; i < (source.threads ?? 1) && open.files === null; i++) {
          opened.push({ ...open, capture: new addon.Capture({ ...source.options, fanout: open.capture.fanoutGroup }) });
        }
      }
    } catch (error) {
      for (const { capture } of opened) capture.stop();
      throw error;
    }
    for (const { name, capture, files } of opened) {
      const linkType = capture.linkType;
      const running: Running = { name, capture, files, ended: Promise.resolve(null), fileEnds: [] };
      running.ended = new Promise<string | null>((resolve) => {
        const routed = files === null ? routing : undefined;
        capture.start(
          (batch, recordsBytes, batchLinkType, inputs) => {
            if (batch === undefined) {
              routing?.onFlowsStarted(name);
              return;
            }
            const { records, described } = splitAddonBatch(batch, recordsBytes);
            const from = inputs === undefined || files === null ? undefined : new BatchInputs(files, inputs);
            consume(records, batchLinkType ?? linkType, name, described, from);
            this.yieldWhenSliceIsLong(capture);
          },
          (error, inputs) => {
            if (inputs !== undefined && files !== null) {
              // Offline: each file's end is reported by whoever reads them (fileEnds()).
              running.fileEnds = inputs.map((end, i) => ({ name: files[i], ...end }));
            } else if (error !== null) {
              this.log(`capture on ${name} ended: ${error}`);
            }
            resolve(error);
          },
          routed?.store,
        );
      });
      this.running.push(running);
    }
  }

  /** Opens one source; offline, without the files of a link type that cannot be decoded. Null when nothing is left. */
  private open(addon: NativeAddon, source: CaptureSource, onSkipped: (name: string) => void): { name: string; capture: NativeCapture; files: string[] | null } | null {
    const skip = (name: string, linkType: number) => {
      this.log(`skipping ${name}: link type ${linkType} cannot be decoded`);
      onSkipped(name);
    };
    const threads = source.options.device !== undefined && (source.threads ?? 1) > 1;
    const capture = new addon.Capture(threads ? { ...source.options, fanout: 'new' } : source.options);
    const { files } = source.options;
    if (files === undefined) {
      const file = source.options.file;
      if (isSupportedLinkType(capture.linkType)) return { name: source.name, capture, files: file === undefined ? null : [source.name] };
      skip(source.name, capture.linkType);
      capture.stop(); // never started: releases the handle
      return null;
    }
    const names = source.options.names ?? files;
    const linkTypes = capture.linkTypes;
    if (linkTypes.every(isSupportedLinkType)) return { name: source.name, capture, files: [...names] };
    capture.stop();
    const keep = linkTypes.map(isSupportedLinkType);
    linkTypes.forEach((linkType, i) => {
      if (!keep[i]) skip(names[i], linkType);
    });
    if (!keep.includes(true)) return null;
    const options: CaptureOptions = { ...source.options, files: files.filter((_, i) => keep[i]), names: names.filter((_, i) => keep[i]) };
    return { name: source.name, capture: new addon.Capture(options), files: options.names ?? null };
  }

  /** Offline: how each file ended (read to its end, or the error it stopped at), once ended() has resolved. */
  fileEnds(): FileEnd[] {
    return this.running.flatMap((r) => r.fileEnds);
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

  /** Packets the kernel dropped on every live capture so far (libpcap ps_drop). */
  kernelDrops(): number {
    let dropped = 0;
    for (const r of this.running) if (r.files === null) dropped += r.capture.stats().dropped;
    return dropped;
  }

  /** Kernel counters per interface, exported on scrape. */
  registerMetrics(registry: Registry): void {
    const running = this.running;
    // Offline, each file is a label of its own, as when each had its capture.
    const labelled = (r: Running): Array<[string, CaptureStats]> =>
      r.files === null
        ? [[r.name, r.capture.stats()]]
        : r.capture.inputPackets().map((received, i) => [r.files?.[i] ?? r.name, { received, dropped: 0, ifDropped: 0 }]);
    const counter = (name: string, help: string, pick: (s: CaptureStats) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['interface'],
        registers: [registry],
        collect() {
          this.reset();
          for (const r of running) for (const [label, stats] of labelled(r)) this.labels(label).inc(pick(stats));
        },
      });
    counter('pcap_kernel_received_packets_total', 'Packets that passed the capture filter (libpcap ps_recv).', (s) => s.received);
    counter('pcap_kernel_dropped_packets_total', 'Packets the kernel dropped for lack of buffer space (libpcap ps_drop).', (s) => s.dropped);
    counter('pcap_interface_dropped_packets_total', 'Packets dropped by the interface or its driver (libpcap ps_ifdrop).', (s) => s.ifDropped);
  }
}
