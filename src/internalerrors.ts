// A bug in packet-headers that throws while a batch or a flow event is
// handled. Thrown from a native callback, it would reach no handler: Node only
// warns (DEP0168) and the batch's packets are gone without a trace. Here it
// is counted (pcap_internal_errors_total) and logged with its stack, the
// 1st, 10th, 100th... time, and the daemon goes on with the next batch.
import type { Counter } from 'prom-client';

export class InternalErrors {
  private readonly log: (line: string) => void;
  private readonly counter: Counter;
  private count = 0;

  constructor(log: (line: string) => void, counter: Counter) {
    this.log = log;
    this.counter = counter;
  }

  /** Runs `work`; what it throws is counted and logged, never thrown on. */
  guard(what: string, work: () => void): void {
    try {
      work();
    } catch (error) {
      this.counter.inc();
      const n = ++this.count;
      if (10 ** Math.floor(Math.log10(n)) !== n) return;
      const stack = error instanceof Error ? (error.stack ?? error.message) : String(error);
      this.log(`internal error while ${what} (${n} so far, pcap_internal_errors_total; what it was handling may be lost): ${stack}`);
    }
  }
}
