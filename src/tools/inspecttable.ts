// The people's view of flow summaries: one row per flow, columns aligned.
// Rows are aligned in batches, so that a directory of a million flows is
// printed as it is read; widths only grow from one batch to the next.
import type { FlowSummary } from '../analysis/summary.js';

const COLUMNS = ['FLOW', 'CLIENT', 'SERVER', 'START (UTC)', 'SECONDS', 'PACKETS c>s/s>c', 'IP BYTES c>s/s>c', 'HANDSHAKE', 'RETRANS', 'DUPACK', 'OUT-OF-ORDER', 'UNSEEN', 'ZERO-WIN', 'RTT min/median/max', 'END', 'NOTE'];
/** Columns of numbers, right-aligned. */
const NUMERIC = new Set(['SECONDS', 'PACKETS c>s/s>c', 'IP BYTES c>s/s>c', 'HANDSHAKE', 'RETRANS', 'DUPACK', 'OUT-OF-ORDER', 'UNSEEN', 'ZERO-WIN']);

function endpoint(ip: string | null, port: number | null): string {
  if (ip === null) return '-';
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** 1234567 → "1.23M": three significant digits are enough to compare flows by eye. */
export function compactCount(n: number): string {
  if (n < 1000) return String(n);
  const units = ['k', 'M', 'G', 'T'];
  let value = n;
  let unit = -1;
  while (value >= 999.5 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toPrecision(3)}${units[unit]}`;
}

function pair(a: number, b: number, compact = false): string {
  return compact ? `${compactCount(a)}/${compactCount(b)}` : `${a}/${b}`;
}

function millis(value: number | null): string {
  if (value === null) return '-';
  // Three significant digits: 0.0342, 1.25, 20.3, 153.
  return value >= 100 ? value.toFixed(0) : String(Number(value.toPrecision(3)));
}

function ending(s: FlowSummary): string {
  const parts: string[] = [];
  if (s.first_fin_from !== null) parts.push(`FIN ${s.first_fin_from}`);
  if (s.first_rst_from !== null) parts.push(`RST ${s.first_rst_from}`);
  return parts.length === 0 ? '-' : parts.join(', ');
}

function rttCell(s: FlowSummary): string {
  // The direction that carried more data is the one whose RTT a reader wants.
  const d = s.s2c_payload_bytes >= s.c2s_payload_bytes ? 's2c' : 'c2s';
  const min = d === 's2c' ? s.s2c_rtt_min_ms : s.c2s_rtt_min_ms;
  if (min === null) return '-';
  const median = d === 's2c' ? s.s2c_rtt_median_ms : s.c2s_rtt_median_ms;
  const max = d === 's2c' ? s.s2c_rtt_max_ms : s.c2s_rtt_max_ms;
  return `${millis(min)}/${millis(median)}/${millis(max)} ms ${d === 's2c' ? 's>c' : 'c>s'}`;
}

export function tableRow(s: FlowSummary): string[] {
  const start = s.first_packet_time === null ? '-' : s.first_packet_time.replace('T', ' ').slice(0, 23);
  return [
    s.uuid,
    endpoint(s.client_ip, s.client_port),
    endpoint(s.server_ip, s.server_port),
    start,
    s.duration_s.toFixed(3),
    pair(s.c2s_packets, s.s2c_packets),
    pair(s.c2s_ip_bytes, s.s2c_ip_bytes, true),
    s.handshake_rtt_ms === null ? '-' : `${millis(s.handshake_rtt_ms)} ms`,
    pair(s.c2s_retransmitted_segments, s.s2c_retransmitted_segments),
    pair(s.c2s_duplicate_acks, s.s2c_duplicate_acks),
    pair(s.c2s_out_of_order_segments, s.s2c_out_of_order_segments),
    pair(s.c2s_lost_segment_gaps, s.s2c_lost_segment_gaps),
    pair(s.c2s_zero_window, s.s2c_zero_window),
    rttCell(s),
    ending(s),
    s.complete ? '' : `CUT (${s.read_problem ?? ''})`,
  ];
}

export class TableWriter {
  private readonly widths = COLUMNS.map((c) => c.length);
  private rows: string[][] = [];
  private headerDone = false;

  constructor(private readonly write: (text: string) => Promise<void>, private readonly batch = 100) {}

  /** Adds a row; a promise only when a batch is written (a promise per row costs more than the row). */
  add(summary: FlowSummary): Promise<void> | undefined {
    this.rows.push(tableRow(summary));
    return this.rows.length >= this.batch ? this.flush() : undefined;
  }

  async flush(): Promise<void> {
    for (const row of this.rows) row.forEach((cell, i) => (this.widths[i] = Math.max(this.widths[i], cell.length)));
    let text = '';
    if (!this.headerDone) {
      text += this.line(COLUMNS);
      this.headerDone = true;
    }
    for (const row of this.rows) text += this.line(row);
    this.rows = [];
    if (text !== '') await this.write(text);
  }

  private line(cells: readonly string[]): string {
    const padded = cells.map((cell, i) => (NUMERIC.has(COLUMNS[i]) ? cell.padStart(this.widths[i]) : cell.padEnd(this.widths[i])));
    return `${padded.join('  ').trimEnd()}\n`;
  }
}
