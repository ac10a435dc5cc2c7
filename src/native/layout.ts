// Every number that the native addon and the TypeScript side must agree on:
// the layout of what crosses between them (batches, descriptions, tallies,
// events, socket records) and the values both give meaning to (decode
// statuses, flow states, anonymize bits, link types). Its C++ twin is
// native/layout.h; the addon exports its own values as `layout`, and
// loadAddon() (./addon.ts) compares the two once and refuses an addon built
// from other sources. This module imports nothing: everything may import it.

// ---- Capture batches (native/README.md, Batch format) ----

/**
 * A capture record's header: u32 LE seconds, u32 LE nanoseconds, u32 LE
 * caplen, u32 LE origlen; then caplen bytes of frame. No padding between
 * records. Timestamps are always nanosecond resolution.
 */
export const RECORD_HEADER_BYTES = 16;

// ---- Record descriptions (native/decode.cc, src/decode/describe.ts) ----

/** Int32 words of one record description. */
export const DESCRIPTION_WORDS = 18;
/** Description word: the record's offset in the batch. */
export const D_RECORD = 0;
/** Description word: the decode status (DECODE_OK or a BAD_* status); the words after it mean something only for DECODE_OK. */
export const D_STATUS = 1;
/** Description word: the TCP header's offset in the frame. */
export const D_TCP_OFFSET = 2;
/** Description word: the TCP header's length in bytes. */
export const D_TCP_HEADER_LENGTH = 3;
/** Description word: FLAG_* bits. */
export const D_FLAGS = 4;
/** Description word: the TCP sequence number. */
export const D_SEQ = 5;
/** Description word: the source address's offset in the frame. */
export const D_SRC_ADDRESS = 6;
/** Description word: the destination address's offset in the frame. */
export const D_DST_ADDRESS = 7;
/** Description words D_KEY..D_KEY+8: the flow key (src/decode/flowkey.ts). */
export const D_KEY = 8;
/** Description word: the flow key's hash (hashFlowKey). */
export const D_HASH = 17;

/** D_FLAGS bit: the packet travels from the key's endpoint B to A. */
export const FLAG_SWAPPED = 1;
/** D_FLAGS bit: an IPv6 packet. */
export const FLAG_IPV6 = 2;
/** D_FLAGS bit: SYN without ACK, a connection-opening SYN. */
export const FLAG_OPENING_SYN = 4;
/** D_FLAGS bit: the segment carries FIN (the connection is ending). */
export const FLAG_FIN = 8;
/** D_FLAGS bit: the segment carries RST. */
export const FLAG_RST = 16;

// ---- Decode statuses (src/decode/packet.ts names them) ----

/** A TCP segment. */
export const DECODE_OK = 0;
/** The frame ends before its headers do. */
export const BAD_TRUNCATED = 1;
/** A link type the decoder does not know. */
export const BAD_LINKTYPE = 2;
/** Not an IPv4 or IPv6 packet. */
export const BAD_NOT_IP = 3;
/** A malformed IP header. */
export const BAD_IP_HEADER = 4;
/** IP, but not TCP. */
export const BAD_NOT_TCP = 5;
/** An IP fragment other than the first. */
export const BAD_FRAGMENT = 6;
/** A malformed TCP header. */
export const BAD_TCP_HEADER = 7;
/** How many statuses there are (DECODE_OK included). */
export const DECODE_STATUS_COUNT = 8;

// ---- Link types: LINKTYPE_ values (as in pcap file headers) the decoders understand ----

/** BSD loopback: 4-byte address family in host byte order. */
export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
/** Bare IPv4 or IPv6 (tun devices). */
export const LINKTYPE_RAW = 101;
/** OpenBSD loopback: address family in network byte order. */
export const LINKTYPE_LOOP = 108;
/** Linux cooked capture v1 (16-byte header). */
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
/** Linux cooked capture v2 (20-byte header). */
export const LINKTYPE_LINUX_SLL2 = 276;

// ---- Flow states (the flow store's routes take packets in the first two) ----

/** The state of a flow's saving, as the demuxer decides it (src/demux/flow.ts). */
export const enum SaverState {
  /** Packets are buffered until the UUID arrives. */
  UuidWait = 0,
  /** The UUID is known; packets go to the file. */
  Saving = 1,
  /** The UUID never came: packets are dropped until the flow times out. */
  Discarding = 2,
  /**
   * -captureduration is over and the file is written: later packets are not
   * wanted, and are dropped until the flow times out. Its own state, so that
   * no operator reads these flows as losing packets.
   */
  Written = 3,
  /** Removed from the flow table. */
  Closed = 4,
}
/** How many SaverStates there are. */
export const SAVER_STATE_COUNT = 5;

// ---- Flow store routes and tallies (src/saver/flowstore.ts) ----

/** Route anonymize bit: mask the address of the flow key's endpoint A (src/decode/flowkey.ts). */
export const ANONYMIZE_A = 1;
/** Route anonymize bit: mask the address of endpoint B. */
export const ANONYMIZE_B = 2;

/** Tally word (FlowStore.tallies): records saved. */
export const TALLY_SAVED = 0;
/** Then one tally word per SaverState: records of flows in it that were not wanted. */
export const TALLY_MISSED = 1;
/** Then one tally word per decode status: records that did not decode. */
export const TALLY_BAD = TALLY_MISSED + SAVER_STATE_COUNT;
/** Then one tally word per refusal (REFUSED_*): flows not started, a record of each dropped. */
export const TALLY_REFUSED = TALLY_BAD + DECODE_STATUS_COUNT;
/** Words of the tallies. */
export const TALLY_WORDS = TALLY_REFUSED + 2;
/** Why a flow was not started: -maxflows flows are open. */
export const REFUSED_MAXFLOWS = 0;
/** Why a flow was not started: memory in use is above the -maxheap shedding threshold. */
export const REFUSED_MAXHEAP = 1;

// ---- Flows the flow store started (NativeFlowStore.takeNewFlows), NEWFLOW_WORDS doubles each ----

/** Its route; -1 when none was started (refused, or only the end of the flow it replaces). */
export const NF_ROUTE = 0;
/** Its file's slot in the store, -1 none. */
export const NF_SLOT = 1;
/** Its file's serial (in the store's events). */
export const NF_SERIAL = 2;
/** The route of the flow whose 4-tuple a new connection's SYN took, -1 none. */
export const NF_REPLACED = 3;
/** 1 when its first packet is a connection-opening SYN. */
export const NF_OPENING = 4;
/** That packet's sequence number. */
export const NF_SEQ = 5;
/** That packet's timestamp: seconds. */
export const NF_SECONDS = 6;
/** That packet's timestamp: nanoseconds. */
export const NF_NANOSECONDS = 7;
/** That packet's record number in its batch. */
export const NF_RECORD = 8;
/** Packet time then (ms) in packet-time mode, else -1. */
export const NF_CLOCK = 9;
/** The key's hash. */
export const NF_HASH = 10;
/** The key's nine words. */
export const NF_KEY = 11;
/** Words per new flow. */
export const NEWFLOW_WORDS = NF_KEY + 9;

// ---- Flow store events (NativeFlowStore.takeEvents) ----

/** Words per event: kind, file serial, two kind-specific words (a, b). */
export const EVENT_WORDS = 4;
/** Event kind: a finish ended; a is a FINISHED_* result. */
export const EVENT_FINISHED = 0;
/** Event kind: the file failed; a is a STAGE_*, b the errno. */
export const EVENT_FAILED = 1;
/** Event kind: the file's name was taken; it was published as <UUID>.N.pcap.gz, a is N. */
export const EVENT_NUMBERED = 2;
/** Finish result: the file was written. */
export const FINISHED_WRITTEN = 0;
/** Finish result: nothing to write (no records, no name, or discarded). */
export const FINISHED_EMPTY = 1;
/** Finish result: the file failed (a failed event came first). */
export const FINISHED_FAILED = 2;
/** Failure stage: compressing a chunk. */
export const STAGE_COMPRESS = 0;
/** Failure stage: writing, syncing or naming the file. */
export const STAGE_WRITE = 1;

// ---- Socket diagnostics (native/sockdiag.cc) ----

/**
 * Socket-diagnostics records (sockDiagDump, sockDiagLookup, SocketWatch), SOCKET_RECORD_BYTES each:
 *   0 u32 LE cookie low | 4 u32 LE cookie high | 8 u16 LE local port | 10 u16 LE remote port |
 *   12 u8 TCP state | 13 u8 family (2 or 10; 0 = not found) |
 *   14 u8 inet_diag timer (3: a time-wait socket, even when its state is FIN_WAIT2) | 15 u8 zero |
 *   16 local address, 16 bytes | 32 remote address, 16 bytes
 * Addresses are in network byte order, IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d),
 * so each 4-byte group read big-endian is a flow-key word.
 */
export const SOCKET_RECORD_BYTES = 48;
/** A lookup query: address A (16 bytes) | address B (16 bytes) | u16 LE port A | u16 LE port B. */
export const SOCKET_QUERY_BYTES = 36;

/**
 * Every constant above by name, as the addon's `layout` object names them
 * (native/module.cc Layout): what loadAddon() compares.
 */
export const LAYOUT: Readonly<Record<string, number>> = {
  RECORD_HEADER_BYTES,
  DESCRIPTION_WORDS,
  D_RECORD,
  D_STATUS,
  D_TCP_OFFSET,
  D_TCP_HEADER_LENGTH,
  D_FLAGS,
  D_SEQ,
  D_SRC_ADDRESS,
  D_DST_ADDRESS,
  D_KEY,
  D_HASH,
  FLAG_SWAPPED,
  FLAG_IPV6,
  FLAG_OPENING_SYN,
  FLAG_FIN,
  FLAG_RST,
  DECODE_OK,
  BAD_TRUNCATED,
  BAD_LINKTYPE,
  BAD_NOT_IP,
  BAD_IP_HEADER,
  BAD_NOT_TCP,
  BAD_FRAGMENT,
  BAD_TCP_HEADER,
  DECODE_STATUS_COUNT,
  LINKTYPE_NULL,
  LINKTYPE_ETHERNET,
  LINKTYPE_RAW,
  LINKTYPE_LOOP,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  LINKTYPE_LINUX_SLL2,
  SAVER_STATE_UUID_WAIT: SaverState.UuidWait,
  SAVER_STATE_SAVING: SaverState.Saving,
  SAVER_STATE_COUNT,
  ANONYMIZE_A,
  ANONYMIZE_B,
  TALLY_SAVED,
  TALLY_MISSED,
  TALLY_BAD,
  TALLY_REFUSED,
  TALLY_WORDS,
  REFUSED_MAXFLOWS,
  REFUSED_MAXHEAP,
  NF_ROUTE,
  NF_SLOT,
  NF_SERIAL,
  NF_REPLACED,
  NF_OPENING,
  NF_SEQ,
  NF_SECONDS,
  NF_NANOSECONDS,
  NF_RECORD,
  NF_CLOCK,
  NF_HASH,
  NF_KEY,
  NEWFLOW_WORDS,
  EVENT_WORDS,
  EVENT_FINISHED,
  EVENT_FAILED,
  EVENT_NUMBERED,
  FINISHED_WRITTEN,
  FINISHED_EMPTY,
  FINISHED_FAILED,
  STAGE_COMPRESS,
  STAGE_WRITE,
  SOCKET_RECORD_BYTES,
  SOCKET_QUERY_BYTES,
};

/**
 * Where the addon's `layout` (unknown: an old build has none) differs from
 * LAYOUT: one line per constant, "NAME is <ours> here, <theirs> in the addon";
 * empty when they agree.
 */
export function layoutMismatches(addonLayout: unknown): string[] {
  if (typeof addonLayout !== 'object' || addonLayout === null) return ['it exports no layout (a build older than src/native/layout.ts)'];
  const theirs = addonLayout as Record<string, unknown>;
  const out: string[] = [];
  for (const [name, value] of Object.entries(LAYOUT)) {
    if (!Object.hasOwn(theirs, name)) out.push(`${name} is ${value} here, absent in the addon`);
    else if (theirs[name] !== value) out.push(`${name} is ${value} here, ${String(theirs[name])} in the addon`);
  }
  for (const name of Object.keys(theirs)) {
    if (!Object.hasOwn(LAYOUT, name)) out.push(`${name} is absent here, ${String(theirs[name])} in the addon`);
  }
  return out;
}
