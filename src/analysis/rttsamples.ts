// Growable stores for the RTT bookkeeping: a FIFO of (key, time) pairs for
// segments awaiting their ACK or echo, and a list of samples with min, median
// and max. Typed arrays, so a million packets allocate a few buffers, not a
// million objects.

/** Entries whose storage clear() keeps; a bigger store is given back. */
const KEEP_ON_CLEAR = 4096;

/** FIFO of (key, time, tainted) triples; keys are 32-bit sequence or timestamp values. */
export class PendingQueue {
  private keys = new Float64Array(64);
  private times = new Float64Array(64);
  private tainted = new Uint8Array(64);
  private head = 0;
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(key: number, time: number): void {
    if (this.count === this.keys.length) this.grow();
    const i = (this.head + this.count) & (this.keys.length - 1);
    this.keys[i] = key;
    this.times[i] = time;
    this.tainted[i] = 0;
    this.count++;
  }

  /** Key, time and taint of the oldest entry (valid while length > 0). */
  firstKey(): number {
    return this.keys[this.head];
  }
  firstTime(): number {
    return this.times[this.head];
  }
  firstTainted(): boolean {
    return this.tainted[this.head] !== 0;
  }
  shift(): void {
    this.head = (this.head + 1) & (this.keys.length - 1);
    this.count--;
  }
  /** Key of the newest entry (valid while length > 0). */
  lastKey(): number {
    return this.keys[(this.head + this.count - 1) & (this.keys.length - 1)];
  }

  /** Marks every entry whose key is after `from` (serial order): their data was sent again. */
  taintAfter(from: number): void {
    const mask = this.keys.length - 1;
    for (let n = 0; n < this.count; n++) {
      const i = (this.head + n) & mask;
      if (((this.keys[i] - from) | 0) > 0) this.tainted[i] = 1;
    }
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
    // A long flow may have grown the queue; the next flow starts small again.
    if (this.keys.length > KEEP_ON_CLEAR) {
      this.keys = new Float64Array(64);
      this.times = new Float64Array(64);
      this.tainted = new Uint8Array(64);
    }
  }

  private grow(): void {
    const size = this.keys.length * 2;
    const keys = new Float64Array(size);
    const times = new Float64Array(size);
    const tainted = new Uint8Array(size);
    const mask = this.keys.length - 1;
    for (let n = 0; n < this.count; n++) {
      const i = (this.head + n) & mask;
      keys[n] = this.keys[i];
      times[n] = this.times[i];
      tainted[n] = this.tainted[i];
    }
    this.keys = keys;
    this.times = times;
    this.tainted = tainted;
    this.head = 0;
  }
}

/** RTT samples in nanoseconds. */
export class SampleList {
  private values = new Float64Array(16);
  length = 0;

  push(value: number): void {
    if (this.length === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.length++] = value;
  }

  clear(): void {
    this.length = 0;
    if (this.values.length > KEEP_ON_CLEAR) this.values = new Float64Array(16);
  }

  /** Min, median (mean of the middle two for an even count) and max; null when empty. */
  stats(): { min: number; median: number; max: number } | null {
    if (this.length === 0) return null;
    const sorted = this.values.subarray(0, this.length).slice().sort();
    const mid = this.length >> 1;
    const median = this.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    return { min: sorted[0], median, max: sorted[this.length - 1] };
  }
}
