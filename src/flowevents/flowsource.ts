// What names flows. Each source of flow events — tcp-info's event socket,
// the built-in kernel source, a -events file, the naming rule of -read
// without events — is a FlowSource; the daemon takes the ones sources.ts
// picks for its configuration, and the demuxer hears only their events.
import type { FlowKey } from '../decode/flowkey.js';
import type { FlowEvent, FlowOpenEvent } from './types.js';

/** A flow the demuxer started from a packet and has no name for. */
export interface UnnamedFlow {
  /** Its key; copy it to keep it. */
  key: FlowKey;
  hash: number;
  /** Its first packet is a connection-opening SYN. */
  opening: boolean;
  /** The interface or -read file its first packet came from. */
  input: string;
  /** Its first packet's time. */
  seconds: number;
  nanoseconds: number;
}

export type EmitFlowEvent = (event: FlowEvent) => void;

export interface FlowSource {
  /** Starts sending events to `emit`; resolves once what the source knows already is sent. */
  start(emit: EmitFlowEvent): Promise<void>;
  /**
   * A flow with no name yet: the Open event naming it, when the source can
   * tell at once; else null, and the source may still name it through emit
   * (a lookup that takes time).
   */
  nameFlow?(flow: UnnamedFlow): FlowOpenEvent | null;
  /** Sends nothing more; resolves once its sockets and timers are gone. */
  stop(): Promise<void>;
}

/** The first name any of `sources` gives `flow` at once. */
export function nameFromSources(sources: readonly FlowSource[], flow: UnnamedFlow): FlowOpenEvent | null {
  for (const source of sources) {
    const event = source.nameFlow?.(flow) ?? null;
    if (event !== null) return event;
  }
  return null;
}
