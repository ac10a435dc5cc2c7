// What the plot draws, per direction of a flow, independent of how it was
// read: columns of numbers that grow as packets are read and the drawing
// code reads back in order. About 25 bytes per data segment and 24 per ACK:
// a flow of three million packets holds about 110 MB.

/** A growable column of doubles (or of bytes, for small codes). */
export class Column {
  private data: Float64Array | Uint8Array;
  length = 0;

  constructor(bytes = false, capacity = 1024) {
    this.data = bytes ? new Uint8Array(capacity) : new Float64Array(capacity);
  }

  push(value: number): void {
    if (this.length === this.data.length) {
      const grown = this.data instanceof Uint8Array ? new Uint8Array(this.data.length * 2) : new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = value;
  }

  at(i: number): number {
    return this.data[i];
  }

  max(): number {
    let m = -Infinity;
    for (let i = 0; i < this.length; i++) if (this.data[i] > m) m = this.data[i];
    return m;
  }
}

export const enum SegmentKind {
  New = 0,
  Retransmission = 1,
  OutOfOrder = 2,
}

/**
 * One direction's data and what the other end answered about it. Times are
 * seconds since the flow's first packet; sequence numbers are relative to
 * the direction's initial sequence number (its SYN, or its first segment).
 */
export class DirectionSeries {
  /** Who sends this direction's data, for titles ("server 10.0.0.1:80 → client 10.0.0.2:43210"). */
  label: string;
  readonly segmentTime = new Column();
  readonly segmentStart = new Column();
  readonly segmentEnd = new Column();
  /** SegmentKind of each segment. */
  readonly segmentKind = new Column(true);
  /** ACKs of this direction's data, sent by the other end. */
  readonly ackTime = new Column();
  readonly ackValue = new Column();
  /** ack + (window << scale): the highest sequence number the receiver accepts. */
  readonly windowEdge = new Column();
  readonly sackTime = new Column();
  readonly sackLeft = new Column();
  readonly sackRight = new Column();
  /** Times (and the ACK then) at which the receiver advertised a zero window. */
  readonly zeroWindowTime = new Column();
  readonly zeroWindowAck = new Column();
  /** Round-trip samples of this direction's data, ms. */
  readonly rttTime = new Column();
  readonly rttMs = new Column();
  /** Payload bytes sent for the first time (retransmissions excluded). */
  newBytes = 0;
  retransmissions = 0;

  constructor(label: string) {
    this.label = label;
  }

  addSegment(time: number, start: number, end: number, kind: SegmentKind): void {
    this.segmentTime.push(time);
    this.segmentStart.push(start);
    this.segmentEnd.push(end);
    this.segmentKind.push(kind);
    if (kind === SegmentKind.Retransmission) this.retransmissions++;
    else this.newBytes += end - start;
  }

  addAck(time: number, ack: number, windowEdge: number): void {
    this.ackTime.push(time);
    this.ackValue.push(ack);
    this.windowEdge.push(windowEdge);
  }

  addSack(time: number, left: number, right: number): void {
    this.sackTime.push(time);
    this.sackLeft.push(left);
    this.sackRight.push(right);
  }

  addZeroWindow(time: number, ack: number): void {
    this.zeroWindowTime.push(time);
    this.zeroWindowAck.push(ack);
  }

  addRtt(time: number, ms: number): void {
    this.rttTime.push(time);
    this.rttMs.push(ms);
  }
}

export interface FlowSeries {
  /** First line of the title: the file or UUID. */
  title: string;
  /** Second line: endpoints, start time, packets. */
  subtitle: string;
  /** Seconds from the first to the last packet. */
  duration: number;
  packets: number;
  /** [client → server, server → client]. */
  directions: [DirectionSeries, DirectionSeries];
}
