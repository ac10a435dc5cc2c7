// Write errors as an operator reads them: a full disk fails every flow, and a
// line per flow would bury everything else in the log. The first failure of
// each kind is logged at once; later ones within a minute are counted and
// summed up in one line when the minute is over. Every failure is counted in
// pcap_saver_errors_total{reason} regardless.
import { errorWords } from '../errors.js';
import type { WriteErrorReason } from './flowfile.js';

/** At most one line per reason per this many ms. */
export const WRITE_ERROR_LOG_INTERVAL_MS = 60_000;

interface Pending {
  loggedAt: number;
  /** Failures since the last line, and the latest of them. */
  more: number;
  latestPath: string;
  latestError: string;
}

export class WriteErrorLog {
  private readonly byReason = new Map<WriteErrorReason, Pending>();
  private readonly log: (line: string) => void;

  constructor(log: (line: string) => void) {
    this.log = log;
  }

  report(reason: WriteErrorReason, path: string, error: unknown, nowMs: number): void {
    const pending = this.byReason.get(reason);
    const words = errorWords(error);
    if (pending === undefined || nowMs - pending.loggedAt >= WRITE_ERROR_LOG_INTERVAL_MS) {
      const earlier = pending !== undefined && pending.more > 0 ? ` (and ${pending.more} more since the last such line)` : '';
      this.log(`cannot write ${path}: ${words}; this flow is lost${earlier}`);
      this.byReason.set(reason, { loggedAt: nowMs, more: 0, latestPath: '', latestError: '' });
      return;
    }
    pending.more++;
    pending.latestPath = path;
    pending.latestError = words;
  }

  /** Writes the summary line of each reason whose minute is over; call it from a periodic tick. */
  flush(nowMs: number): void {
    for (const [reason, pending] of this.byReason) {
      if (nowMs - pending.loggedAt < WRITE_ERROR_LOG_INTERVAL_MS) continue;
      if (pending.more > 0) {
        this.log(`${pending.more} more flows could not be written (${reason}) in the last minute; latest ${pending.latestPath}: ${pending.latestError}`);
      }
      this.byReason.delete(reason);
    }
  }
}
