// Flows by key. Keys hash to a 30-bit number; flows whose keys share a hash
// are chained through Flow.nextInBucket and told apart word by word.
import { KEY_WORDS, type FlowKey } from '../decode/flowkey.js';
import type { Flow } from './flow.js';

export class FlowTable {
  private readonly buckets = new Map<number, Flow>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  find(hash: number, key: FlowKey): Flow | null {
    for (let flow = this.buckets.get(hash) ?? null; flow !== null; flow = flow.nextInBucket) {
      const known = flow.key;
      let i = 0;
      while (i < KEY_WORDS && known[i] === key[i]) i++;
      if (i === KEY_WORDS) return flow;
    }
    return null;
  }

  insert(flow: Flow): void {
    flow.nextInBucket = this.buckets.get(flow.hash) ?? null;
    this.buckets.set(flow.hash, flow);
    this.count++;
  }

  remove(flow: Flow): void {
    let previous: Flow | null = null;
    for (let current = this.buckets.get(flow.hash) ?? null; current !== null; current = current.nextInBucket) {
      if (current === flow) {
        if (previous === null) {
          if (flow.nextInBucket === null) this.buckets.delete(flow.hash);
          else this.buckets.set(flow.hash, flow.nextInBucket);
        } else {
          previous.nextInBucket = flow.nextInBucket;
        }
        flow.nextInBucket = null;
        this.count--;
        return;
      }
      previous = current;
    }
  }

  /** A snapshot of every flow, safe to modify the table while walking it. */
  all(): Flow[] {
    const flows: Flow[] = [];
    for (const head of this.buckets.values()) {
      for (let flow: Flow | null = head; flow !== null; flow = flow.nextInBucket) flows.push(flow);
    }
    return flows;
  }
}
