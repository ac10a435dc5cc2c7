// Every metric of the daemon in one place. Names of the original Go service
// are kept so existing dashboards keep working.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const UNCONVENTIONAL_DEFAULT_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** How often the event loop's delay is sampled (nodejs_eventloop_lag_* metrics). */
const EVENT_LOOP_SAMPLE_MS = 100;

export class Metrics {
  readonly registry: Registry;
  readonly missedPackets: Counter<'saverstate'>;
  readonly missedUuids: Counter<'saverstate'>;
  readonly saverStarts: Counter;
  readonly saverStops: Counter;
  readonly saverErrors: Counter<'reason'>;
  readonly saverStates: Gauge<'state'>;
  readonly saverSkipped: Counter;
  readonly namedWithoutPackets: Counter;
  readonly filesWritten: Counter;
  readonly packetsSaved: Counter;
  readonly badPackets: Counter;
  readonly badPacketsByReason: Counter<'reason'>;
  readonly gcLatency: Histogram;
  readonly uuids: Counter;
  readonly saversGarbageCollected: Counter;
  readonly saversActive: Gauge;
  readonly connectionsRemembered: Gauge;
  readonly ignored: Counter<'reason'>;
  readonly badEvents: Counter<'reason'>;
  readonly internalErrors: Counter;
  readonly eventSocketConnected: Gauge;
  readonly interfacesWithCaptures: Gauge;
  readonly captureBatches: Counter<'interface'>;
  readonly skippedInterfaces: Counter<'interface'>;
  readonly compressionPending: Gauge;
  readonly memoryTrims: Counter;
  readonly tupleReuses: Counter;
  readonly flowsRenamed: Counter;
  readonly kernelSockets: Gauge;
  readonly kernelUuids: Counter<'how'>;
  readonly kernelLookups: Counter;
  readonly kernelLookupMisses: Counter;
  readonly kernelPollDuration: Histogram;
  readonly kernelErrors: Counter<'reason'>;
  readonly maxHeap: Gauge;
  readonly existingFiles: Counter<'action'>;
  readonly leftoversRemoved: Counter;
  readonly stagedPublished: Counter;
  readonly indexedFiles: Counter<'result'>;

  constructor(options: { processMetrics?: boolean } = {}) {
    const registry = new Registry();
    this.registry = registry;
    const registers = [registry];
    this.missedPackets = new Counter({
      name: 'pcap_missed_packets_total',
      help: "Packets captured and thrown away, by the state of the flow's saver.",
      labelNames: ['saverstate'],
      registers,
    });
    this.missedUuids = new Counter({
      name: 'pcap_missed_uuids_total',
      help: "UUIDs that arrived when the flow's saver could no longer use them, by saver state.",
      labelNames: ['saverstate'],
      registers,
    });
    this.saverStarts = new Counter({ name: 'pcap_saver_starts_total', help: 'Flow savers started.', registers });
    this.saverStops = new Counter({ name: 'pcap_saver_stops_total', help: 'Flow savers that have finished.', registers });
    this.saverErrors = new Counter({
      name: 'pcap_saver_errors_total',
      help: 'Flows not saved (or not completely saved) because of an error, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.saverStates = new Gauge({
      name: 'pcap_saver_states',
      help: 'Flows now in each state: uuidwait (waiting for the UUID), saving, discardingpackets (no UUID came), filewritten (-captureduration over, file written).',
      labelNames: ['state'],
      registers,
    });
    this.saverSkipped = new Counter({
      name: 'pcap_saver_skipped_total',
      help: 'Flows that had a UUID and packets, but ended without a file because no packet was left to save.',
      registers,
    });
    this.namedWithoutPackets = new Counter({
      name: 'pcap_saver_named_without_packets_total',
      help: 'Flows named by the flow source of which no packet was captured (sockets on interfaces not captured, such as lo, or idle ones): no file, nothing lost.',
      registers,
    });
    this.filesWritten = new Counter({ name: 'pcap_saver_files_written_total', help: 'Per-flow pcap files completed.', registers });
    this.packetsSaved = new Counter({ name: 'pcap_saver_packets_total', help: 'Packets buffered for saving (headers only).', registers });
    this.badPackets = new Counter({
      name: 'pcap_demuxer_bad_packets_total',
      help: 'Captured packets that were not decodable TCP over IPv4 or IPv6.',
      registers,
    });
    this.badPacketsByReason = new Counter({
      name: 'pcap_demuxer_bad_packets_by_reason_total',
      help: 'Captured packets that were not decodable TCP, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.gcLatency = new Histogram({
      name: 'pcap_demuxer_gc_latency_seconds',
      help: 'Time taken by each sweep that closes idle flows.',
      buckets: [1e-5, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1],
      registers,
    });
    this.uuids = new Counter({ name: 'pcap_demuxer_uuids_total', help: 'Open events (UUIDs) received.', registers });
    this.saversGarbageCollected = new Counter({
      name: 'pcap_demuxer_savers_garbage_collected_total',
      help: 'Flows closed because they had no packets for a whole flow timeout.',
      registers,
    });
    this.saversActive = new Gauge({ name: 'pcap_demuxer_savers_active', help: 'Flows currently tracked.', registers });
    this.connectionsRemembered = new Gauge({
      name: 'pcap_demuxer_connections_remembered',
      help: 'Named connections remembered beyond their flows (until -captureduration from their first flow, or a reported close): their packets after a quiet gap keep their UUID.',
      registers,
    });
    this.ignored = new Counter({
      name: 'pcap_demuxer_ignored_total',
      help: 'Packets of new flows that were not started (load shedding), by reason: maxflows or maxheap.',
      labelNames: ['reason'],
      registers,
    });
    this.internalErrors = new Counter({
      name: 'pcap_internal_errors_total',
      help: 'Batches of packets or flow events whose handling failed on a bug in packet-headers (logged with its stack); what they held may be lost.',
      registers,
    });
    this.badEvents = new Counter({
      name: 'pcap_tcpinfohandler_bad_events_total',
      help: 'Flow events that could not be used, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.eventSocketConnected = new Gauge({
      name: 'pcap_tcpinfohandler_connected',
      help: '1 while connected to the tcp-info event socket, else 0.',
      registers,
    });
    this.interfacesWithCaptures = new Gauge({
      name: 'pcap_muxer_interfaces_with_captures',
      help: 'Interfaces with a running capture.',
      registers,
    });
    this.captureBatches = new Counter({
      name: 'pcap_capture_batches_total',
      help: 'Batches of packets handed to the main thread by the capture threads (-read; a live capture routes its packets itself).',
      labelNames: ['interface'],
      registers,
    });
    this.skippedInterfaces = new Counter({
      name: 'pcap_muxer_skipped_interfaces_total',
      help: 'Interfaces not captured because their link type cannot be decoded.',
      labelNames: ['interface'],
      registers,
    });
    this.compressionPending = new Gauge({
      name: 'pcap_saver_compression_jobs_pending',
      help: 'Jobs (chunks to compress, files to write) queued or running on the flow store threads.',
      registers,
    });
    this.memoryTrims = new Counter({
      name: 'pcap_memory_trims_total',
      help: 'Times idle memory above -maxidleram was given back to the OS.',
      registers,
    });
    this.tupleReuses = new Counter({
      name: 'pcap_flows_tuple_reused_total',
      help: 'Flows ended because a new connection opened (SYN with another sequence number) on their 4-tuple.',
      registers,
    });
    this.flowsRenamed = new Counter({
      name: 'pcap_flows_renamed_total',
      help: 'Flows already named that got a different UUID without a new SYN on their 4-tuple (a split, or a new connection announced before its SYN).',
      registers,
    });
    this.kernelSockets = new Gauge({
      name: 'pcap_kernelsource_sockets_seen',
      help: 'TCP sockets that name a flow (listeners excluded) in the last poll of the kernel socket table.',
      registers,
    });
    this.kernelUuids = new Counter({
      name: 'pcap_kernelsource_uuids_assigned_total',
      help: 'Sockets announced with their UUID by the built-in flow source, by how they were found: poll, destroyed, lookup.',
      labelNames: ['how'],
      registers,
    });
    this.kernelLookups = new Counter({
      name: 'pcap_kernelsource_lookups_total',
      help: 'Exact socket lookups of the 4-tuple of a flow that had no UUID (each retry counts).',
      registers,
    });
    this.kernelLookupMisses = new Counter({
      name: 'pcap_kernelsource_lookup_misses_total',
      help: 'Flows whose 4-tuple no lookup found, after every retry (or that found the lookup queue full).',
      registers,
    });
    this.kernelPollDuration = new Histogram({
      name: 'pcap_kernelsource_poll_duration_seconds',
      help: 'Time of each poll of the kernel socket table, dump and diff.',
      buckets: [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1],
      registers,
    });
    this.kernelErrors = new Counter({
      name: 'pcap_kernelsource_errors_total',
      help: 'Failures of the built-in flow source, by reason: poll, lookup, overrun (socket-destroy reports lost).',
      labelNames: ['reason'],
      registers,
    });
    this.existingFiles = new Counter({
      name: 'pcap_saver_existing_files_total',
      help: "Flows whose file name was taken by an earlier writer's file: published under a numbered name beside it (action=separate); a published file is never written again.",
      labelNames: ['action'],
      registers,
    });
    this.indexedFiles = new Counter({
      name: 'pcap_index_files_total',
      help: 'With -index: files written, by what became of them in the index (indexed; failed: unreadable or the database refused; leftout: the index was too far behind).',
      labelNames: ['result'],
      registers,
    });
    this.leftoversRemoved = new Counter({
      name: 'pcap_saver_leftover_temporary_files_removed_total',
      help: 'Temporary files of earlier runs (interrupted writes) removed from the datadir and the staging directory at start-up.',
      registers,
    });
    this.stagedPublished = new Counter({
      name: 'pcap_saver_staged_files_published_total',
      help: 'Stream files an earlier run left in the staging directory (killed before their end), published into the datadir at start-up.',
      registers,
    });
    this.maxHeap = new Gauge({
      name: 'pcap_maxheap_bytes',
      help: 'The -maxheap setting: above this much memory in use, new flows are shed (alert on RSS near it).',
      registers,
    });
    if (options.processMetrics !== false) {
      // prom-client samples the event loop's delay every 10 ms by default: 100
      // wakeups a second, two thirds of an idle daemon's CPU (12 ms/s against
      // 4.5 ms/s at 100 ms). A lag worth an alert is longer than 100 ms anyway.
      collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
      // Gauges whose names end in _total, which Prometheus reserves for
      // counters (promtool check metrics flags them); the same counts are
      // exported per type as nodejs_active_handles and nodejs_active_requests.
      for (const name of UNCONVENTIONAL_DEFAULT_METRICS) registry.removeSingleMetric(name);
    }
  }
}
