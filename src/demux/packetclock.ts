// Offline time. Reading a file, the time is that of the packet being
// processed, so deadlines (UUID wait, capture duration, flow timeout) expire
// as packet time passes them, however fast the machine reads. The clock never
// goes back: a packet stamped a little earlier than the one before it (the
// order in which a capturing host's CPUs stamped them) does not move
// deadlines already passed. Several -read files are merged by timestamp
// before they get here (native/offline_merge.cc), so one file's packets never
// push the clock past another's.

/** Deadlines are checked whenever packet time has advanced this much since the last check. */
export const PACKET_TIME_TICK_MS = 100;

export class PacketClock {
  /**
   * [0] now, [1] when deadlines are next checked, [2] PACKET_TIME_TICK_MS:
   * moved per record by the flow store's route() (native/router.cc) as by
   * advance(), so a batch is routed without a call per record.
   */
  readonly state = new Float64Array([0, -Infinity, PACKET_TIME_TICK_MS]);

  /** Milliseconds since the epoch: the latest packet time seen (0 before the first packet). */
  now(): number {
    return this.state[0];
  }

  /**
   * Moves the clock to a packet's time, if later. Returns true when deadlines
   * are due to be checked: at the first packet, then each time the clock has
   * advanced PACKET_TIME_TICK_MS since the previous check.
   */
  advance(seconds: number, nanoseconds: number): boolean {
    const state = this.state;
    const t = seconds * 1000 + nanoseconds / 1e6;
    if (t > state[0]) state[0] = t;
    if (state[0] < state[1]) return false;
    state[1] = state[0] + PACKET_TIME_TICK_MS;
    return true;
  }
}
