// Flow events as the rest of the daemon sees them, whatever their source
// (tcp-info's eventsocket, or a built-in kernel source).
import type { FlowKey } from '../decode/flowkey.js';

/** A TCP flow was opened; the daemon should save its packets under `uuid`. */
export interface FlowOpenEvent {
  kind: 'open';
  /** Safe single path component (see isSafeUuid). */
  uuid: string;
  /** Event time, epoch milliseconds (UTC). */
  timestampMs: number;
  /** Direction-independent key of the flow's 4-tuple. */
  key: FlowKey;
  /** The kernel's socket cookie, when the source supplied one. */
  cookie?: bigint;
  /** Built-in source: how the socket was found and its TCP state then, for logs about odd namings. */
  foundBy?: string;
  /**
   * The connection existed before this run started: an earlier run may have
   * written (and an uploader shipped) its file, so this run's file of it gets
   * a name of its own (src/demux/connections.ts continuationName).
   */
  continued?: boolean;
  /** The 4-tuple as the source named it, for logs. */
  srcIP: string;
  srcPort: number;
  dstIP: string;
  dstPort: number;
}

/** A TCP flow was closed. The daemon owes nothing for it; `key` is null when the source gave no usable ID. */
export interface FlowCloseEvent {
  kind: 'close';
  uuid: string;
  timestampMs: number;
  key: FlowKey | null;
}

export type FlowEvent = FlowOpenEvent | FlowCloseEvent;

/**
 * Why a line was rejected. These are stable strings: they become Prometheus
 * label values.
 */
export const BAD_EVENT_REASONS = [
  'json', // not JSON, not valid UTF-8, or not an object
  'event', // missing or unknown Event number
  'uuid', // missing or not a string
  'unsafe_uuid', // not a safe single path component
  'timestamp', // missing or unparseable
  'id', // missing or wrong shape for Open
  'port', // not an integer 0..65535
  'address', // not a valid IPv4/IPv6 address
  'toolong', // line longer than the limit
] as const;

export type BadEventReason = (typeof BAD_EVENT_REASONS)[number];

export type ParseResult = { ok: true; event: FlowEvent } | { ok: false; reason: BadEventReason };
