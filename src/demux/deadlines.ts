// Flows in the order they started. Every flow waits the same time for its UUID
// and captures for the same duration, so deadlines expire in start order and a
// FIFO replaces a timer per flow.
import type { Flow } from './flow.js';

export class DeadlineQueue {
  private items: Flow[] = [];
  private head = 0;
  private readonly delayMs: number;

  constructor(delayMs: number) {
    this.delayMs = delayMs;
  }

  push(flow: Flow): void {
    this.items.push(flow);
  }

  /** Removes and returns the oldest flow whose deadline is at or before now, or null. */
  popExpired(now: number): Flow | null {
    if (this.head === this.items.length) return null;
    const flow = this.items[this.head];
    if (flow.startedAt + this.delayMs > now) return null;
    this.items[this.head] = undefined as unknown as Flow;
    this.head++;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return flow;
  }
}
