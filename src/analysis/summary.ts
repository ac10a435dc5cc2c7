// The one place where the fields of a flow summary are named: `inspect --json`
// writes them in this order, docs/inspect-schema.md describes them (a unit
// test checks that it lists every one), and other tools (the index) make their
// columns from FLOW_SUMMARY_FIELDS. Renaming or removing a field breaks
// whoever loaded earlier output: add fields, do not change them.

/** Column types, chosen so that jq, DuckDB and BigQuery read NDJSON as is. */
export type FieldType =
  | 'string'
  | 'integer' // a JSON number without fraction, fits a signed 64-bit integer
  | 'float' // a JSON number
  | 'boolean'
  | 'timestamp'; // an RFC 3339 string in UTC with microseconds, "2026-12-02T07:46:11.123456Z"

export interface FieldSpec {
  readonly name: string;
  readonly type: FieldType;
  /** Unit of a number ('' when it is a count or has none). */
  readonly unit: string;
  /** True when the value can be null (not seen, not applicable). */
  readonly nullable: boolean;
  readonly description: string;
}

/** Every per-direction field exists twice, prefixed by the direction the counted packets travel. */
export const DIRECTIONS = ['c2s', 's2c'] as const;
export type Direction = (typeof DIRECTIONS)[number];

export const FLOW_FIELDS = [
  { name: 'uuid', type: 'string', unit: '', nullable: false, description: "The flow's UUID: the file name without .pcap.gz or .pcap, and without the time that a connection's later files add to it (docs/output.md)." },
  { name: 'file', type: 'string', unit: '', nullable: false, description: 'The file read, as named on the command line or found in a directory.' },
  { name: 'complete', type: 'boolean', unit: '', nullable: false, description: 'True when the file was read to its end; false when it is cut short or damaged (see read_problem).' },
  { name: 'read_problem', type: 'string', unit: '', nullable: true, description: 'Why the reading stopped early (gzip data cut, record cut, damaged record...), null when complete.' },
  { name: 'link_type', type: 'integer', unit: '', nullable: true, description: 'LINKTYPE_ value of the pcap file header; null when the header could not be read.' },
  { name: 'ip_version', type: 'integer', unit: '', nullable: true, description: '4 or 6; null when no TCP packet was read.' },
  { name: 'client_ip', type: 'string', unit: '', nullable: true, description: 'Address of the client (the sender of the SYN; without a SYN, the sender of the first packet), as stored (possibly anonymized).' },
  { name: 'client_port', type: 'integer', unit: '', nullable: true, description: 'TCP port of the client.' },
  { name: 'server_ip', type: 'string', unit: '', nullable: true, description: 'Address of the server, as stored.' },
  { name: 'server_port', type: 'integer', unit: '', nullable: true, description: 'TCP port of the server.' },
  { name: 'roles_from_syn', type: 'boolean', unit: '', nullable: false, description: 'True when client and server are known from a SYN or SYN-ACK as first packet; false when the first packet is neither and its sender is taken for the client.' },
  { name: 'first_packet_time', type: 'timestamp', unit: '', nullable: true, description: 'Time of the first TCP packet of the flow.' },
  { name: 'last_packet_time', type: 'timestamp', unit: '', nullable: true, description: 'Time of the last TCP packet of the flow.' },
  { name: 'duration_s', type: 'float', unit: 's', nullable: false, description: 'last_packet_time - first_packet_time (0 for fewer than two packets).' },
  { name: 'packets', type: 'integer', unit: '', nullable: false, description: 'TCP packets of the flow, both directions.' },
  { name: 'other_records', type: 'integer', unit: '', nullable: false, description: 'Records that are not TCP packets of this flow (not TCP, malformed, or of another flow).' },
  { name: 'syn_time', type: 'timestamp', unit: '', nullable: true, description: "Time of the client's first SYN." },
  { name: 'synack_time', type: 'timestamp', unit: '', nullable: true, description: "Time of the server's first SYN-ACK (after the SYN)." },
  { name: 'handshake_ack_time', type: 'timestamp', unit: '', nullable: true, description: "Time of the client's first ACK after the SYN-ACK (completes the handshake)." },
  { name: 'handshake_rtt_ms', type: 'float', unit: 'ms', nullable: true, description: "From the last SYN before it to the first ACK (without SYN) after it: the whole handshake, as tshark's tcp.analysis.initial_rtt." },
  { name: 'syn_to_synack_ms', type: 'float', unit: 'ms', nullable: true, description: 'synack_time - the last SYN before it: the round trip from the capture point to the server.' },
  { name: 'synack_to_ack_ms', type: 'float', unit: 'ms', nullable: true, description: 'handshake_ack_time - synack_time: the round trip from the capture point to the client.' },
  { name: 'syn_retransmissions', type: 'integer', unit: '', nullable: false, description: 'SYNs of the client after its first one (same sequence number).' },
  { name: 'window_scaling', type: 'boolean', unit: '', nullable: false, description: 'Window scaling in use: both SYN and SYN-ACK carried the option.' },
  { name: 'sack_permitted', type: 'boolean', unit: '', nullable: false, description: 'SACK in use: both SYN and SYN-ACK carried SACK-permitted.' },
  { name: 'timestamps', type: 'boolean', unit: '', nullable: false, description: 'TCP timestamps in use: both SYN and SYN-ACK carried the option.' },
  { name: 'ecn', type: 'boolean', unit: '', nullable: false, description: 'ECN negotiated (RFC 3168): SYN with ECE and CWR, SYN-ACK with ECE and without CWR.' },
  { name: 'first_fin_from', type: 'string', unit: '', nullable: true, description: "'client' or 'server': who sent the first FIN; null when none was seen." },
  { name: 'first_rst_from', type: 'string', unit: '', nullable: true, description: "'client' or 'server': who sent the first RST; null when none was seen." },
] as const satisfies readonly FieldSpec[];

/** Fields of one direction, without the prefix; each counts or describes the packets travelling that way. */
export const DIRECTION_FIELDS = [
  { name: 'packets', type: 'integer', unit: '', nullable: false, description: 'TCP packets.' },
  { name: 'ip_bytes', type: 'integer', unit: 'bytes', nullable: false, description: 'Sum of the IP lengths (IPv4 total length, IPv6 payload length + 40): the bytes on the wire above the link layer, payload included although it is not stored.' },
  { name: 'payload_bytes', type: 'integer', unit: 'bytes', nullable: false, description: 'Sum of the TCP segment lengths (IP length - IP headers - TCP header), retransmissions included.' },
  { name: 'data_segments', type: 'integer', unit: '', nullable: false, description: 'Packets with a TCP segment length above 0.' },
  { name: 'unique_bytes', type: 'integer', unit: 'bytes', nullable: false, description: 'Sequence space covered (highest sequence sent - initial sequence number, SYN and FIN not counted): the bytes delivered once.' },
  { name: 'mss', type: 'integer', unit: 'bytes', nullable: true, description: 'MSS option of the SYN (client) or SYN-ACK (server); null when absent or not seen.' },
  { name: 'window_scale', type: 'integer', unit: '', nullable: true, description: 'Window scale shift of the SYN or SYN-ACK; null when absent or not seen.' },
  { name: 'sack_permitted_option', type: 'boolean', unit: '', nullable: false, description: 'The SYN or SYN-ACK carried SACK-permitted.' },
  { name: 'timestamps_option', type: 'boolean', unit: '', nullable: false, description: 'The SYN or SYN-ACK carried a timestamp option.' },
  { name: 'fin_packets', type: 'integer', unit: '', nullable: false, description: 'Packets with FIN.' },
  { name: 'rst_packets', type: 'integer', unit: '', nullable: false, description: 'Packets with RST.' },
  { name: 'retransmitted_segments', type: 'integer', unit: '', nullable: false, description: "Segments tshark flags tcp.analysis.retransmission, fast_retransmission or spurious_retransmission (each counted once)." },
  { name: 'retransmitted_bytes', type: 'integer', unit: 'bytes', nullable: false, description: 'Sum of the segment lengths of those segments.' },
  { name: 'fast_retransmissions', type: 'integer', unit: '', nullable: false, description: 'Of them, tcp.analysis.fast_retransmission: sent after two or more duplicate ACKs asked for it.' },
  { name: 'spurious_retransmissions', type: 'integer', unit: '', nullable: false, description: 'Of them, tcp.analysis.spurious_retransmission: data the receiver had already acknowledged.' },
  { name: 'out_of_order_segments', type: 'integer', unit: '', nullable: false, description: 'tcp.analysis.out_of_order: a segment that fills a gap soon (within the RTT) after a later one.' },
  { name: 'lost_segment_gaps', type: 'integer', unit: '', nullable: false, description: 'tcp.analysis.lost_segment: segments that start beyond the next expected sequence number (a gap: a segment before them was not captured).' },
  { name: 'acks_of_unseen_segments', type: 'integer', unit: '', nullable: false, description: 'tcp.analysis.ack_lost_segment: ACKs that acknowledge data of the other direction that was never captured.' },
  { name: 'duplicate_acks', type: 'integer', unit: '', nullable: false, description: 'tcp.analysis.duplicate_ack: pure ACKs repeating the previous ACK number and window.' },
  { name: 'zero_window', type: 'integer', unit: '', nullable: false, description: 'tcp.analysis.zero_window: packets advertising a receive window of 0 (SYN, FIN and RST excepted).' },
  { name: 'zero_window_probes', type: 'integer', unit: '', nullable: false, description: 'tcp.analysis.zero_window_probe: one-byte segments sent into a zero window.' },
  { name: 'window_full', type: 'integer', unit: '', nullable: false, description: "tcp.analysis.window_full: segments that fill the other side's advertised window exactly." },
  { name: 'sack_packets', type: 'integer', unit: '', nullable: false, description: 'Packets carrying a SACK option.' },
  { name: 'sack_blocks', type: 'integer', unit: '', nullable: false, description: 'SACK blocks in those packets (each block counted in every packet that carries it).' },
  { name: 'ecn_ce_packets', type: 'integer', unit: '', nullable: false, description: 'Packets whose IP header says Congestion Experienced.' },
  { name: 'ttl_min', type: 'integer', unit: '', nullable: true, description: 'Lowest IPv4 TTL or IPv6 hop limit.' },
  { name: 'ttl_max', type: 'integer', unit: '', nullable: true, description: 'Highest IPv4 TTL or IPv6 hop limit.' },
  { name: 'ttl_changes', type: 'integer', unit: '', nullable: false, description: 'Packets whose TTL or hop limit differs from the previous packet of the direction.' },
  { name: 'rtt_source', type: 'string', unit: '', nullable: true, description: "How the RTT samples of data sent this way were taken: 'timestamps' (the first echo of a data segment's TSval in the other side's TSecr) whenever there is such a sample, otherwise 'ack' (a data segment and the ACK of exactly its end, none for data sent twice: Karn's rule); null without samples." },
  { name: 'rtt_samples', type: 'integer', unit: '', nullable: false, description: 'RTT samples of data sent this way: from the capture point to the receiver and back.' },
  { name: 'rtt_min_ms', type: 'float', unit: 'ms', nullable: true, description: 'Smallest RTT sample.' },
  { name: 'rtt_median_ms', type: 'float', unit: 'ms', nullable: true, description: 'Median RTT sample (the mean of the two middle ones for an even count).' },
  { name: 'rtt_max_ms', type: 'float', unit: 'ms', nullable: true, description: 'Largest RTT sample.' },
] as const satisfies readonly FieldSpec[];

type ValueOf<F extends FieldSpec> = (F['type'] extends 'string' | 'timestamp' ? string : F['type'] extends 'boolean' ? boolean : number) | (F['nullable'] extends true ? null : never);

/** The per-direction fields of one direction, without their prefix. */
export type DirectionRecord = { [F in (typeof DIRECTION_FIELDS)[number] as F['name']]: ValueOf<F> };

/** The summary's names of each direction's fields (`c2s_packets`, ...), in DIRECTION_FIELDS order. */
export const DIRECTION_KEYS: Readonly<Record<Direction, readonly string[]>> = {
  c2s: DIRECTION_FIELDS.map((f) => `c2s_${f.name}`),
  s2c: DIRECTION_FIELDS.map((f) => `s2c_${f.name}`),
};

/** The flow's own fields (all but the per-direction ones). */
export type FlowPart = { [F in (typeof FLOW_FIELDS)[number] as F['name']]: ValueOf<F> };
type DirectionPart = {
  [K in `${Direction}_${(typeof DIRECTION_FIELDS)[number]['name']}`]: K extends `${Direction}_${infer N}` ? ValueOf<Extract<(typeof DIRECTION_FIELDS)[number], { name: N }>> : never;
};

/** One flow's summary: exactly the fields of FLOW_SUMMARY_FIELDS. */
export type FlowSummary = FlowPart & DirectionPart;

/** Every field of a summary, in output order: the flow's fields, then c2s_*, then s2c_*. */
export const FLOW_SUMMARY_FIELDS: readonly FieldSpec[] = [
  ...FLOW_FIELDS,
  ...DIRECTIONS.flatMap((d) => DIRECTION_FIELDS.map((f) => ({ ...f, name: `${d}_${f.name}`, description: `${d === 'c2s' ? 'Client to server' : 'Server to client'}: ${f.description}` }))),
];

/** `"name":` of every field in schema order, with the comma or brace before it. */
const FIELD_NAMES = FLOW_SUMMARY_FIELDS.map((field) => field.name);
const FIELD_PREFIXES = FIELD_NAMES.map((name, i) => `${i === 0 ? '{' : ','}${JSON.stringify(name)}:`);

/** The summary as one NDJSON line (fields in schema order, no newline). */
export function summaryJson(summary: FlowSummary): string {
  // What JSON.stringify of the fields in schema order gives, written field by
  // field: no object is built per line. Values are strings, numbers, booleans
  // and null; anything else (or a missing field) takes the general way.
  const values = summary as unknown as Record<string, unknown>;
  let line = '';
  for (let i = 0; i < FIELD_NAMES.length; i++) {
    const value = values[FIELD_NAMES[i]];
    let text: string;
    if (typeof value === 'number') text = Number.isFinite(value) ? String(value) : 'null';
    else if (typeof value === 'string') text = JSON.stringify(value);
    else if (typeof value === 'boolean') text = value ? 'true' : 'false';
    else if (value === null) text = 'null';
    else return summaryJsonGeneral(values);
    line += FIELD_PREFIXES[i] + text;
  }
  return `${line}}`;
}

function summaryJsonGeneral(values: Record<string, unknown>): string {
  const ordered: Record<string, unknown> = {};
  for (const field of FLOW_SUMMARY_FIELDS) ordered[field.name] = values[field.name];
  return JSON.stringify(ordered);
}

/** The last second formatted: the times of a flow mostly fall in the same second. */
let cachedSeconds = Number.NaN;
let cachedPrefix = '';

/** Nanoseconds since the epoch (as seconds + nanoseconds) as a schema timestamp. */
export function timestampText(seconds: number, nanoseconds: number): string {
  if (seconds !== cachedSeconds) {
    cachedPrefix = new Date(seconds * 1000).toISOString().slice(0, 19); // "YYYY-MM-DDTHH:MM:SS"
    cachedSeconds = seconds;
  }
  return `${cachedPrefix}.${String(Math.floor(nanoseconds / 1000)).padStart(6, '0')}Z`;
}
