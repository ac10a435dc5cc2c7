// The state of one TCP flow, from its first packet or UUID to its file, as
// the demuxer decides it. Its packets never pass through here: the flow store
// (which holds the flow table) routes them (native/router.cc RouteBatch, native/routes.h) to the flow's
// file, cut to the flow's header length, their payload zeroed and their
// addresses anonymized, and keeps the per-packet facts (packets seen and
// saved, the opening SYN, seen since the last sweep) on the flow's route.
import type { FlowKey } from '../decode/flowkey.js';
import { SaverState } from '../native/layout.js';
import type { FlowFile } from '../saver/flowfile.js';
import type { NamedConnection } from './connections.js';

/** Label values of pcap_saver_states and pcap_missed_*_total{saverstate}, indexed by SaverState (src/native/layout.ts). */
export const SAVER_STATE_NAMES = ['uuidwait', 'saving', 'discardingpackets', 'filewritten', 'closed'] as const;

export class Flow {
  readonly key: FlowKey;
  readonly hash: number;
  /** Changed through the demuxer only, which tells the flow store. */
  state: SaverState = SaverState.UuidWait;
  readonly startedAt: number;
  uuid: string | null = null;
  /** The event that gave the UUID: which end of the connection its socket was. */
  namedBy: { srcIP: string; srcPort: number; dstIP: string; dstPort: number; foundBy?: string } | null = null;
  readonly file: FlowFile;
  /** The flow's route in the flow store, from its start until it is closed. */
  route = -1;
  /** The named connection whose packets it holds, while the demuxer remembers it. */
  connection: NamedConnection<Flow> | null = null;
  /** A later flow of its connection: its capture ends with the connection's, not its own start's. */
  continuation = false;

  constructor(key: FlowKey, hash: number, startedAt: number, file: FlowFile) {
    this.key = key;
    this.hash = hash;
    this.startedAt = startedAt;
    this.file = file;
  }

  /** Drops stored records (the flow will never be written). */
  dropBuffered(): void {
    this.file.discard();
  }
}
