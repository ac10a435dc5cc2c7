// Typed face of the native capture addon (native/capture.cc). The addon owns
// everything that touches libpcap; this module only loads it and describes it.
import { createRequire } from 'node:module';

/**
 * A batch is one Buffer holding consecutive records, each:
 *   u32 LE seconds, u32 LE nanoseconds, u32 LE caplen, u32 LE origlen, then caplen bytes.
 * No padding between records. Timestamps are always nanosecond resolution.
 */
export const RECORD_HEADER_BYTES = 16;

export interface CaptureOptions {
  /** Live capture on this interface ... */
  device?: string;
  /** ... or read this pcap file (offline). Exactly one of device/file. */
  file?: string;
  /** Bytes kept of each packet (pcap snaplen). */
  snaplen: number;
  /** Kernel ring buffer size in bytes (live only). */
  bufferSize?: number;
  /** pcap read timeout in milliseconds (live only); batches are handed over at least this often. */
  timeoutMs?: number;
  /** BPF filter expression; empty string for none. */
  filter: string;
}

export interface CaptureStats {
  /** Packets received by the filter (pcap_stats ps_recv). */
  received: number;
  /** Packets dropped by the kernel for lack of buffer space (ps_drop). */
  dropped: number;
  /** Packets dropped by the interface or driver (ps_ifdrop). */
  ifDropped: number;
}

export interface NativeCapture {
  /** The LINKTYPE_ value of this handle, as it belongs in a pcap file header. */
  readonly linkType: number;
  /** Starts the capture thread. onBatch gets each batch on the JS thread; onEnd is called exactly once
   *  after the last batch: error null at end of file or after stop(), else libpcap's message. */
  start(onBatch: (batch: Buffer) => void, onEnd: (error: string | null) => void): void;
  /** Asks the capture thread to finish; already captured packets are still delivered before onEnd. */
  stop(): void;
  /** Latest libpcap counters (sampled by the capture thread about once a second and at the end). */
  stats(): CaptureStats;
}

export interface InterfaceInfo {
  name: string;
  up: boolean;
  running: boolean;
  loopback: boolean;
  /** Textual IPv4 and IPv6 addresses of the interface. */
  addresses: string[];
}

export interface NativeAddon {
  Capture: new (options: CaptureOptions) => NativeCapture;
  /** pcap_findalldevs, without pseudo devices such as "any". */
  listInterfaces(): InterfaceInfo[];
  /** glibc malloc_trim(0): gives freed heap memory back to the OS. Returns whether memory was released. */
  mallocTrim(): boolean;
  /** pcap_lib_version() */
  libVersion(): string;
}

let loaded: NativeAddon | undefined;

export function loadAddon(): NativeAddon {
  if (loaded === undefined) {
    const require = createRequire(import.meta.url);
    loaded = require('../../../build/Release/packet_headers_capture.node') as NativeAddon;
  }
  return loaded;
}
