// Typed face of the whole native addon (native/, built from binding.gyp):
// capture, socket diagnostics, the flow store and the module functions. The
// addon owns everything that touches libpcap, netlink and the flows' files;
// this module only loads it, checks that it was built from the sources beside
// it (the constants of ./layout.ts), and describes it. Like ./layout.ts it
// imports nothing from the rest of src/.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { layoutMismatches } from './layout.js';

// A batch is one Buffer holding consecutive records, each a RECORD_HEADER_BYTES
// header (./layout.ts) and its caplen bytes of frame.

export interface CaptureOptions {
  /** Live capture on this interface ... */
  device?: string;
  /** ... or read this pcap file (offline) ... */
  file?: string;
  /**
   * ... or read these files as one capture, merged by packet timestamp (ties:
   * the file given first), as mergecap does. Exactly one of device/file/files.
   */
  files?: string[];
  /** What error messages call each of `files` (default: the path). */
  names?: string[];
  /** Bytes kept of each packet (pcap snaplen). */
  snaplen: number;
  /** Kernel ring buffer size in bytes (live only). */
  bufferSize?: number;
  /** pcap read timeout in milliseconds (live only); batches are handed over at least this often. */
  timeoutMs?: number;
  /** BPF filter expression; empty string for none. */
  filter: string;
  /**
   * Live only: 'new' starts a PACKET_FANOUT group spreading the interface's
   * packets over several captures by a symmetric flow hash; a number joins
   * that group (the first capture's fanoutGroup).
   */
  fanout?: 'new' | number;
}

export interface CaptureStats {
  /** Packets received by the filter (pcap_stats ps_recv). */
  received: number;
  /** Packets dropped by the kernel for lack of buffer space (ps_drop). */
  dropped: number;
  /** Packets dropped by the interface or driver (ps_ifdrop). */
  ifDropped: number;
}

/** How one offline input ended. */
export interface InputEnd {
  /** Packets read from it (that passed the filter). */
  packets: number;
  /** null: read to its end (or until stop()); else libpcap's message (a truncated or damaged file). */
  error: string | null;
}

export interface NativeCapture {
  /** The LINKTYPE_ value of this handle, as it belongs in a pcap file header (offline: of the first file). */
  readonly linkType: number;
  /** Offline: each file's LINKTYPE_ value. Live: [linkType]. */
  readonly linkTypes: number[];
  /** The PACKET_FANOUT group of a live capture opened with `fanout`, -1 none. */
  readonly fanoutGroup: number;
  /**
   * Starts the capture thread. onBatch gets each batch on the JS thread: its
   * records fill the first `recordsBytes` bytes, then come zero padding to a
   * multiple of 4 and one description per record (src/decode/describe.ts,
   * splitAddonBatch). All records of a batch have the link type `linkType`.
   * With several files, `inputs` says which file each record came from: pairs
   * (index of the first record of a run, index of the file), one per run of
   * records from one file. onEnd is called exactly once after the last batch:
   * error null at end of file or after stop(), else libpcap's message (offline:
   * of the first file that failed); offline, `inputs` says how each file ended.
   * With `store` (live captures only), the capture thread routes every record
   * into it itself, and onBatch is called without a batch when flows started
   * there (NativeFlowStore.takeNewFlows).
   */
  start(onBatch: (batch: Buffer, recordsBytes: number, linkType: number, inputs?: Int32Array) => void, onEnd: (error: string | null, inputs?: InputEnd[]) => void): void;
  start(
    onBatch: (batch: Buffer | undefined, recordsBytes: number, linkType: number, inputs?: Int32Array) => void,
    onEnd: (error: string | null, inputs?: InputEnd[]) => void,
    store: NativeFlowStore | undefined,
  ): void;
  /** Asks the capture thread to finish; already captured packets are still delivered before onEnd. */
  stop(): void;
  /** Latest libpcap counters (read by the capture thread after every dispatch and at the end). */
  stats(): CaptureStats;
  /** Offline: packets read so far from each file. Live: [stats().received]. */
  inputPackets(): number[];
  /**
   * Makes the capture thread wait before handing over its next batch, until
   * release() or stop() (or 100 ms at most). Batches already queued are still
   * delivered; once they are, the event loop gets its turn.
   */
  hold(): void;
  release(): void;
}

export interface InterfaceInfo {
  name: string;
  up: boolean;
  running: boolean;
  loopback: boolean;
  /** Textual IPv4 and IPv6 addresses of the interface. */
  addresses: string[];
}

export interface NativeSocketWatch {
  /**
   * Starts the watch thread: onBatch gets the records of TCP sockets the kernel
   * destroyed, and how many times reports were lost since the last batch
   * (receive-buffer overruns). The watch does not keep the process alive.
   */
  start(onBatch: (records: Buffer, overruns: number) => void): void;
  /** Ends the thread; idempotent. */
  stop(): void;
}

export interface NativeAddon {
  Capture: new (options: CaptureOptions) => NativeCapture;
  /** pcap_findalldevs, without pseudo devices such as "any". */
  listInterfaces(): InterfaceInfo[];
  /** glibc malloc_trim(0): gives freed heap memory back to the OS. Returns whether memory was released. */
  mallocTrim(): boolean;
  /** Raises the soft limit on open files to the hard one; [soft, hard] as they are now, -1 unlimited. */
  raiseOpenFileLimit(): [number, number];
  /** pcap_lib_version() */
  libVersion(): string;
  /**
   * A stream file an earlier run left in the staging directory, cut to its
   * last complete gzip member and moved to `to` (or the first free numbered
   * name beside it); removed when it holds no complete member. Returns
   * [-1 removed | 0 as `to` | N as <UUID>.N.pcap.gz, bytes cut off its end].
   * Blocking; throws on a system error.
   */
  publishStaged(from: string, to: string, dirMode: number): [number, number];
  /** Every TCP socket of this network namespace (IPv4 and IPv6, all states), as records; runs off the JS thread. */
  sockDiagDump(): Promise<Buffer>;
  /**
   * Exact lookups of 4-tuples (a Buffer of SOCKET_QUERY_BYTES queries), each tried with A
   * and then B as the local end; one record per query, all zero when not found. Listeners never match.
   */
  sockDiagLookup(queries: Buffer): Promise<Buffer>;
  /** Joins the kernel's TCP socket-destroy netlink groups; throws when that is refused. */
  SocketWatch: new () => NativeSocketWatch;
  /** Per-flow record chunks, their compression and their files, on threads of the store (src/saver/flowstore.ts). */
  FlowStore: new (options: NativeFlowStoreOptions, onEvents: () => void) => NativeFlowStore;
  /** The constants of native/layout.h, named as in ./layout.ts LAYOUT; absent in builds older than it. */
  readonly layout?: Readonly<Record<string, number>>;
}

export interface NativeFlowStoreOptions {
  /** Threads that compress and write (1..64); each file is pinned to one. */
  threads: number;
  /** libdeflate level, 0..12. */
  level: number;
  /** Raw bytes per gzip member. */
  chunkBytes: number;
  fileMode: number;
  dirMode: number;
  /** 1 (default): fdatasync each file before its rename, fsync its directory after; 0: neither. */
  sync?: number;
  /** Where files are written before they appear in the datadir's tree (src/saver/staging.ts); '' or absent: none. */
  stagingDir?: string;
  /** 1: stream mode (flushStreams). */
  stream?: number;
}

/**
 * The native flow store. Slots are files being filled; every method that
 * takes a slot throws a RangeError for a slot that is not open.
 */
export interface NativeFlowStore {
  /** Packet-time mode: route() calls onTick() (held weakly) when packet time reaches clock[1], before the record that reached it. */
  setTick(onTick: () => void): void;
  /** No flow is started while maxFlows (0: no limit) are open, or while memory in use is above maxMemoryBytes. */
  setLimits(maxFlows: number, maxMemoryBytes: number): void;
  /** Memory in use now; with `sample`, the store also reads it itself every 256 flows it starts. */
  setMemoryInUse(bytes: number, sample: boolean): void;
  /** Local addresses (4 key words each): every other address of a flow is masked; null: none is. */
  setAnonymization(localAddresses: Int32Array | null): void;
  /**
   * Routes a batch's records, in order, to their flows' files: cut to the
   * flow's header length (a file's first record is preceded by the pcap file
   * header, whose snaplen that is), every byte after the TCP header zero, the
   * addresses the route anonymizes masked; a FIN or RST compresses a chunk of
   * 16 KiB or more at once. A record of no flow, or a SYN opening a new
   * connection on a flow's 4-tuple, starts a flow within the limits
   * (takeNewFlows). Tallies (takeTallies): [TALLY_SAVED] saved,
   * [TALLY_MISSED + state] not wanted by a flow in that state, [TALLY_BAD +
   * status] not decoded, [TALLY_REFUSED + REFUSED_*] of flows not started.
   * clock, packet-time mode: [0] now (ms), [1] next tick, [2] tick interval,
   * moved by each record.
   */
  route(batch: Uint8Array, described: Int32Array, linkType: number, clock: Float64Array | null): void;
  /**
   * A flow for a key that has none, with its file: [route, slot, serial], or
   * [-1 - REFUSED_*]. headerLength 0: fixed by the first packet; anonymize -1:
   * by the addresses (setAnonymization), else ANONYMIZE_A | ANONYMIZE_B bits.
   */
  openFlow(key: Int32Array, hash: number, headerLength: number, anonymize: number): number[];
  /** The route of the key's flow, -1 none. */
  findFlow(key: Int32Array, hash: number): number;
  /** Flows route() started since the last call, and ends of flows whose 4-tuple a new connection took: NEWFLOW_WORDS each (./layout.ts). */
  takeNewFlows(): Float64Array;
  /** Adds the tallies since the last call to `into` (TALLY_WORDS) and zeroes them. */
  takeTallies(into: Float64Array): void;
  /** The route's flow state (SaverState): UuidWait and Saving take packets. */
  setFlowState(route: number, state: number): void;
  /** The flow is gone: its packets are unknown again. */
  endFlow(route: number): void;
  /** [packets seen, packets saved] of the route. */
  flowCounts(route: number): [number, number, number];
  /** By route, 1 where a packet was seen since the last call; clears them. */
  takeSeen(): Uint8Array;
  /** Stream mode: seals the chunks of the routes that stored records while saving since the last call. */
  flushStreams(): void;
  /** Names the slot's file; with `stream`, members are written to `writePath` from now on, moved to `path` at the end. */
  target(slot: number, path: string, stream: boolean, writePath: string): void;
  /** Completes the file and closes the slot; a finished event follows. */
  finish(slot: number): void;
  /** Drops the file and closes the slot. */
  discard(slot: number): void;
  /**
   * Events since the last call, EVENT_WORDS words each (./layout.ts): kind,
   * the file's serial, then two words of the kind: EVENT_FINISHED, a
   * FINISHED_* result; EVENT_FAILED, the STAGE_* and the errno;
   * EVENT_NUMBERED (the file's name was taken), N of the name
   * <UUID>.N.pcap.gz used instead. `onEvents` is called when there are some.
   */
  takeEvents(): Int32Array;
  /** Jobs queued or running. */
  pending(): number;
  /** Ends the threads after their current job; queued jobs are dropped. Idempotent. */
  close(): void;
  /**
   * For an exit at once: the threads stop after their current job (so no
   * temporary file of theirs is left), without being joined; waits at most
   * `waitMs`. True if every thread stopped in time. The store takes no more calls.
   */
  abort(waitMs: number): boolean;
}

let loaded: NativeAddon | undefined;

/**
 * PACKET_HEADERS_ADDON, when set, is the path of another build of the addon to
 * load instead of the release one: the sanitizer build
 * (scripts/build-sanitize.sh) that the native fuzz run drives.
 */
export const ADDON_PATH_ENV = 'PACKET_HEADERS_ADDON';

/** The package's root: dist/src/native/ is three levels below it. */
const PACKAGE_ROOT = join(import.meta.dirname, '../../..');

/**
 * The addon: a local build (build/Release, made by scripts/setup.sh or by
 * the package's install script) or else the prebuilt one shipped in the npm
 * package (prebuilds/linux-x64/), as node-gyp-build finds them. Throws when
 * its layout differs from ./layout.ts (checkAddonLayout).
 */
export function loadAddon(): NativeAddon {
  if (loaded === undefined) {
    const require = createRequire(import.meta.url);
    const alternative = process.env[ADDON_PATH_ENV];
    let path: string;
    if (alternative !== undefined && alternative !== '') {
      path = require.resolve(alternative);
    } else {
      const nodeGypBuild = require('node-gyp-build') as { resolve(root: string): string };
      path = nodeGypBuild.resolve(PACKAGE_ROOT);
    }
    const addon = require(path) as NativeAddon;
    checkAddonLayout(addon, path);
    loaded = addon;
  }
  return loaded;
}

/**
 * Throws unless the addon's `layout` equals ./layout.ts LAYOUT: an addon
 * built from other sources than this TypeScript (an old build/Release after a
 * pull, a stale prebuild) would misread every batch, tally and event.
 */
export function checkAddonLayout(addon: Pick<NativeAddon, 'layout'>, path: string): void {
  const mismatches = layoutMismatches(addon.layout);
  if (mismatches.length === 0) return;
  throw new Error(
    `the native addon ${path} was built from other sources: ${mismatches.join('; ')}; rebuild it (npm run build:native)`,
  );
}
