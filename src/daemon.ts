// Wires the pipeline: capture → decode → demux → flow saver → file, with flow
// events feeding the demuxer and metrics beside. Flag parsing and signals
// live in cli.ts; this module only builds, runs and stops the pieces.
import { accessSync, constants as fsConstants, mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { availableParallelism, networkInterfaces } from 'node:os';
import { resolve } from 'node:path';
import { formatDuration } from './config/units.js';
import { loadAddon, type NativeAddon } from './native/addon.js';
import { CaptureSet, type CaptureSource } from './capture/captureset.js';
import { describeGzipFault, inputReports, type InputReport } from './capture/inputreport.js';
import { prepareOfflineInput, type OfflineInput } from './capture/offlinefile.js';
import { buildFilter, selectInterfaces, TCP_FILTER } from './capture/interfaces.js';
import { Demuxer, systemClock, type Clock } from './demux/demuxer.js';
import { errorWords, PacketHeadersError } from './errors.js';
import { InternalErrors } from './internalerrors.js';
import type { Config } from './config/config.js';
import type { Connector } from './flowevents/connector.js';
import { nameFromSources, type FlowSource } from './flowevents/flowsource.js';
import { pickFlowSources } from './flowevents/sources.js';
import { BAD_EVENT_REASONS } from './flowevents/types.js';
import type { Log } from './log.js';
import { Metrics } from './metrics/metrics.js';
import { boundPort, startMetricsServer } from './metrics/server.js';
import { Anonymizer } from './demux/anonymize.js';
import { DIR_MODE, WRITE_ERROR_REASONS } from './saver/flowfile.js';
import { defaultStoreThreads, FlowStore } from './saver/flowstore.js';
import { removeLeftoverTemporaries, type LeftoverCleanup } from './saver/leftovers.js';
import { OutputLayout, type DirectoryOwner } from './saver/outputlayout.js';
import { userIds } from './privileges.js';
import { chooseStagingDir, publishStagedLeftovers, removeStagingDir, saveNamedConnections, takeNamedConnections, type StagedLeftovers } from './saver/staging.js';
import { LiveIndex } from './index/liveindex.js';

export interface DaemonDeps {
  log: Log;
  addon?: NativeAddon;
  clock?: Clock;
  /** How the event socket is connected; default directly (cli.ts passes the connect helper's under -user). */
  eventSocketConnector?: Connector;
  /** What names the flows; default the sources the config calls for (src/flowevents/sources.ts). */
  flowSources?: FlowSource[];
  /** false: no metrics listener (tests); default true. */
  serveMetrics?: boolean;
  /** How often the one-line status is logged, ms (default 5 minutes). */
  statusLogMs?: number;
}

/** Capture tuning that the operator need not choose. */
const KERNEL_BUFFER_BYTES = 32 * 1024 * 1024;
const READ_TIMEOUT_MS = 50;
const TICK_MS = 100;
const IDLE_MEMORY_CHECK_MS = 10_000;
/** How often today's and tomorrow's directories are made sure of (ahead of midnight UTC). */
const DAY_DIRECTORIES_MS = 10 * 60_000;
/** How often the one-line status is logged. */
const STATUS_LOG_MS = 5 * 60_000;
/** About 1 MB of flow state between two RSS readings during a flood. */
/** What one capture can hold in batches queued for the JS thread (the addon's 16 batches of up to 1 MiB). */
const CAPTURE_QUEUE_BYTES = 16 * 1024 * 1024;

/**
 * -maxheap is a ceiling for RSS, so new flows are refused a little below it.
 * Memory keeps growing after shedding begins: the capture queues fill up
 * under a flood, the flows already started keep receiving packets (SYN-ACK
 * retransmissions), and garbage is freed only at the next collection. Under a
 * 100,000-SYN flood with one capture, RSS rose up to 12 MB past the point
 * where shedding began; the reserve is one full queue per capture plus 1/32.
 */
export function sheddingThreshold(maxHeapBytes: number, captures: number): number {
  return Math.max(0, maxHeapBytes - captures * CAPTURE_QUEUE_BYTES - maxHeapBytes / 32);
}

/** Capture threads per live interface (-capturethreads; 0 is one per core). */
function captureThreadsPerInterface(config: Config): number {
  return config.captureThreads === 0 ? availableParallelism() : config.captureThreads;
}

export class Daemon {
  readonly metrics: Metrics;
  readonly demuxer: Demuxer;
  private readonly config: Config;
  private readonly deps: DaemonDeps;
  private readonly captures: CaptureSet;
  private readonly internalErrors: InternalErrors;
  private readonly store: FlowStore;
  private readonly layout: OutputLayout;
  private stagingDir: string | null = null;
  /** The staging directory when this run made it (removed at the end if empty). */
  private madeStagingDir: string | null = null;
  private sources: FlowSource[] = [];
  private takingEvents = true;
  private liveIndex: LiveIndex | null = null;
  private metricsServer: Server | null = null;
  private readonly timers: NodeJS.Timeout[] = [];
  /** Offline: the -read files as prepared for libpcap, and those skipped for their link type. */
  private offlineInputs: OfflineInput[] = [];
  private readonly skippedInputs = new Set<string>();
  private stopping: Promise<void> | null = null;
  private lastStatus = { files: 0, packets: 0, drops: 0 };

  private constructor(config: Config, deps: DaemonDeps, anonymizer: Anonymizer, captures: number, stagingDir: string | null, owner: DirectoryOwner | null) {
    this.config = config;
    this.deps = deps;
    this.metrics = new Metrics();
    this.layout = new OutputLayout(config.datadir, stagingDir, owner);
    this.store = new FlowStore({
      // Offline, every file is read by one capture thread.
      threads: defaultStoreThreads(config.readFiles.length > 0 ? 1 : captureThreadsPerInterface(config)),
      stream: config.stream,
      stagingDir,
      onNumberedFile: (requested, path) => {
        // Rare (a -read re-run, two writers of one name): one line each.
        this.metrics.existingFiles.labels('separate').inc();
        deps.log(`${requested} exists: this flow's file is ${path} (a published file is never written again)`);
      },
    });
    this.captures = new CaptureSet(deps.log);
    this.internalErrors = new InternalErrors(deps.log, this.metrics.internalErrors);
    this.demuxer = new Demuxer(
      { ...config, maxHeapBytes: sheddingThreshold(config.maxHeapBytes, captures), packetTime: config.readFiles.length > 0 },
      {
        clock: deps.clock ?? systemClock,
        anonymizer,
        store: this.store,
        metrics: this.metrics,
        log: deps.log,
        nameFlow: (flow) => nameFromSources(this.sources, flow),
        onFileWritten: config.indexDatabase ? (path) => this.liveIndex?.add(path) : undefined,
        layout: this.layout,
      },
    );
    for (const reason of WRITE_ERROR_REASONS) this.metrics.saverErrors.labels(reason).inc(0);
    for (const reason of BAD_EVENT_REASONS) this.metrics.badEvents.labels(reason).inc(0);
    this.metrics.maxHeap.set(config.maxHeapBytes);
    this.metrics.existingFiles.labels('separate').inc(0);
  }

  /** Builds every piece and starts capturing; throws PacketHeadersError on start-up failures. */
  static async start(config: Config, deps: DaemonDeps): Promise<Daemon> {
    const addon = deps.addon ?? loadAddon();
    // Each stream file, and each file waiting for its sync, holds a descriptor.
    addon.raiseOpenFileLimit();
    const owner = directoryOwner(config.user);
    prepareDatadir(config.datadir);
    const staging = chooseStagingDir(config.datadir, config.stagingDir, owner);
    // Before anything is captured or written: this run's temporary names may be an earlier run's.
    const leftovers = removeLeftoverTemporaries(config.datadir);
    const staged = staging.dir === null ? null : publishStagedLeftovers(staging.dir, config.datadir, addon, deps.log);
    const available = addon.listInterfaces();
    const live = config.readFiles.length === 0;
    const selected = live ? selectInterfaces(config.interfaces, available) : [];
    // Every address of this host stays readable under netblock, not only those of captured interfaces.
    const localAddresses = [
      ...available.flatMap((i) => i.addresses),
      ...Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address)),
    ];
    // Offline, every file is read by one merged capture.
    const captureThreads = captureThreadsPerInterface(config);
    const captures = live ? selected.length * captureThreads : 1;
    const daemon = new Daemon(config, deps, new Anonymizer(config.anonymizeIP, localAddresses), captures, staging.dir, owner);
    daemon.reportLeftovers(leftovers, staged);
    daemon.stagingDir = staging.dir;
    if (staging.made) daemon.madeStagingDir = staging.dir;
    if (staging.problem !== null) {
      deps.log(
        `no staging directory (${staging.problem}): files are made in their day's directory, where an uploader watching ` +
          '-datadir also hears of unnamed files it cannot open; set -stagingdir to a writable directory on the same filesystem outside -datadir',
      );
    }
    try {
      if (deps.serveMetrics !== false) {
        daemon.metricsServer = await startMetricsServer(config.prometheusListenAddress, daemon.metrics.registry);
      }
      if (config.indexDatabase !== '') await daemon.startLiveIndex(config.indexDatabase);
      const namedBefore = staging.dir === null || !live ? [] : takeNamedConnections(staging.dir);
      daemon.sources =
        deps.flowSources ?? pickFlowSources(config, { addon, metrics: daemon.metrics, log: deps.log, connector: deps.eventSocketConnector, namedBefore });
      for (const source of daemon.sources) {
        await source.start((event) => {
          if (daemon.takingEvents) daemon.internalErrors.guard('handling a flow event', () => daemon.demuxer.handleEvent(event));
        });
      }
      const filter = live ? buildFilter(selected) : TCP_FILTER;
      let sources: CaptureSource[];
      if (live) {
        sources = selected.map((i) => ({
          name: i.name,
          options: { device: i.name, snaplen: config.maxHeaderSize, bufferSize: KERNEL_BUFFER_BYTES, timeoutMs: READ_TIMEOUT_MS, filter },
          threads: captureThreads,
        }));
      } else {
        daemon.offlineInputs = await Promise.all(config.readFiles.map((file) => prepareOfflineInput(file)));
        sources = [{ name: mergedSourceName(config.readFiles), options: { files: daemon.offlineInputs.map((i) => i.path), names: config.readFiles, snaplen: config.maxHeaderSize, filter } }];
      }
      // Before the first packet: an uploader hears of a file only in a directory it watched before the file came.
      if (live) daemon.layout.prepareAhead(Date.now());
      try {
        daemon.captures.start(
          addon,
          sources,
          (records, linkType, source, described, inputs) => {
            daemon.metrics.captureBatches.labels(source).inc();
            daemon.internalErrors.guard('handling a batch', () => daemon.demuxer.handleBatch(records, linkType, inputs ?? source, described));
          },
          (name) => {
            daemon.metrics.skippedInterfaces.labels(name).inc();
            if (!live) daemon.skippedInputs.add(name);
          },
          {
            store: daemon.store.nativeStore,
            onFlowsStarted: (source) => daemon.internalErrors.guard('taking on the flows a capture started', () => daemon.demuxer.takeStartedFlows(source)),
          },
        );
      } catch (error) {
        throw withGzipFault(error, daemon.offlineInputs);
      }
      daemon.captures.registerMetrics(daemon.metrics.registry);
      daemon.metrics.interfacesWithCaptures.set(live ? daemon.captures.size : 0);
      const perInterface = captureThreads > 1 ? ` (${captureThreads} capture threads each)` : '';
      if (live) deps.log(`capturing on ${sources.map((s) => s.name).join(', ') || '(no interface)'}${perInterface} with filter "${filter}"`);
      else deps.log(`reading ${config.readFiles.join(', ')} with filter "${filter}"`);
      const metricsAt = daemon.metricsServer === null ? '' : `; metrics at http://${metricsHost(config.prometheusListenAddress)}:${daemon.metricsPort}/metrics`;
      deps.log(`writing files to ${resolve(config.datadir)}/YYYY/MM/DD/${metricsAt}`);
      daemon.startTimers(addon);
    } catch (error) {
      await daemon.stop();
      throw error;
    }
    return daemon;
  }

  private reportLeftovers(cleanup: LeftoverCleanup, staged: StagedLeftovers | null): void {
    if (staged !== null) {
      this.metrics.stagedPublished.inc(staged.published);
      this.metrics.leftoversRemoved.inc(staged.removed);
      if (staged.published + staged.removed + staged.failed > 0) {
        this.deps.log(
          `staging directory: ${staged.published} stream file(s) of an earlier run published into ${this.config.datadir}, ` +
            `${staged.removed} removed (temporary, or without a complete gzip member)${staged.failed > 0 ? `, ${staged.failed} could not be handled` : ''}`,
        );
      }
    }
    this.metrics.leftoversRemoved.inc(cleanup.removed);
    if (cleanup.removed === 0 && cleanup.failed === 0) return;
    const failed = cleanup.failed > 0 ? ` (${cleanup.failed} could not be removed)` : '';
    this.deps.log(`removed ${cleanup.removed} temporary file(s) left by an earlier run from ${this.config.datadir} in ${cleanup.ms.toFixed(1)} ms${failed}`);
  }

  get metricsPort(): number | null {
    return this.metricsServer === null ? null : boundPort(this.metricsServer);
  }

  /** Resolves when every offline source has been read to its end. */
  captureEnded(): Promise<void> {
    return this.captures.ended();
  }

  /** Offline, once captureEnded() has resolved: each -read file, and why it was not read to its end if it was not. */
  inputReports(): InputReport[] {
    return inputReports(this.offlineInputs, this.captures.fileEnds(), this.skippedInputs);
  }

  /** Stops capturing, writes every flow that has its UUID, and closes everything. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.captures.stop();
      for (const timer of this.timers) clearInterval(timer);
      // From here no event starts or names a flow: every flow is being written.
      this.takingEvents = false;
      await this.demuxer.closeAll();
      for (const source of this.sources) await source.stop();
      this.store.close();
      // For the next run: which of the connections going on it may name from a time-wait socket.
      if (this.stagingDir !== null && this.config.readFiles.length === 0) saveNamedConnections(this.stagingDir, this.demuxer.rememberedConnections);
      if (this.madeStagingDir !== null) removeStagingDir(this.madeStagingDir);
      // After the last file is written: the index gets every one of them.
      await this.liveIndex?.close();
      if (this.metricsServer !== null) {
        const server = this.metricsServer;
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    })();
    return this.stopping;
  }

  /**
   * For an exit at once (a second signal): the flow store's threads finish
   * the write each is doing and stop, for at most `waitMs`. True when none
   * was still writing, so this run leaves no temporary file.
   */
  abortWrites(waitMs: number): boolean {
    return this.store.abort(waitMs);
  }

  /** -index: opens the database in the index thread; a database that cannot be used stops the start-up. */
  private async startLiveIndex(database: string): Promise<void> {
    const counter = this.metrics.indexedFiles;
    for (const result of ['indexed', 'failed', 'leftout']) counter.labels(result).inc(0);
    try {
      this.liveIndex = await LiveIndex.start(database, this.config.datadir, this.deps.log, {
        indexed: (n) => counter.labels('indexed').inc(n),
        failed: (n) => counter.labels('failed').inc(n),
        leftOut: (n) => counter.labels('leftout').inc(n),
      });
    } catch (error) {
      throw new PacketHeadersError('PH_ERR_INDEX', `cannot use "${database}" as -index: ${errorWords(error)}`);
    }
    this.deps.log(`indexing every file written in ${resolve(database)} (table flows)`);
  }

  /** Files written so far (for the shutdown line). */
  get filesWritten(): number {
    return this.demuxer.totals.filesWritten;
  }

  /** One line every statusLogMs, so that a quiet log still shows the daemon at work. */
  private logStatus(): void {
    const now = { files: this.demuxer.totals.filesWritten, packets: this.demuxer.totals.packetsSaved, drops: this.captures.kernelDrops() };
    const last = this.lastStatus;
    this.lastStatus = now;
    const every = formatDuration(this.deps.statusLogMs ?? STATUS_LOG_MS);
    this.deps.log(
      `status: ${this.demuxer.activeFlows} flows tracked; in the last ${every} ${now.files - last.files} files written, ` +
        `${now.packets - last.packets} packets saved, ${now.drops - last.drops} dropped by the kernel ` +
        `(since start: ${now.files}, ${now.packets}, ${now.drops})`,
    );
  }

  /**
   * Memory in use, as -maxheap sees it, for the flow store, which also reads
   * it itself every 256 flows it starts: a flood can start tens of thousands
   * of flows between two timer ticks.
   */
  private sampleMemory(): void {
    // Reading it opens a file: with every descriptor in use it fails, and the last sample stands.
    const rss = readOrNull(() => process.memoryUsage.rss());
    if (rss !== null) this.store.setMemoryInUse(rss, true);
  }

  private startTimers(addon: NativeAddon): void {
    this.sampleMemory();
    if (this.config.readFiles.length === 0) {
      this.timers.push(setInterval(() => this.layout.prepareAhead(Date.now()), DAY_DIRECTORIES_MS));
    }
    this.timers.push(
      setInterval(() => {
        this.sampleMemory();
        this.metrics.compressionPending.set(this.store.pending);
        // Live captures route by themselves: what they did reaches the metrics here too.
        this.internalErrors.guard('taking on the flows the captures started', () => this.demuxer.takeStartedFlows());
        this.demuxer.tick();
      }, TICK_MS),
      setInterval(() => this.logStatus(), this.deps.statusLogMs ?? STATUS_LOG_MS),
      setInterval(() => {
        // Memory the allocator holds but nothing uses: give it back past the limit.
        const usage = readOrNull(() => process.memoryUsage());
        if (usage !== null && usage.rss - usage.heapUsed - usage.external > this.config.maxIdleRamBytes && addon.mallocTrim()) {
          this.metrics.memoryTrims.inc();
        }
      }, IDLE_MEMORY_CHECK_MS),
    );
    for (const timer of this.timers) timer.unref();
  }
}

/** What `read` returns, or null when it throws (process.memoryUsage() does when no descriptor is free). */
function readOrNull<T>(read: () => T): T | null {
  try {
    return read();
  } catch {
    return null;
  }
}

/** A start-up error about a gzipped input whose stream stopped short says so: that is why libpcap found nothing. */
function withGzipFault(error: unknown, inputs: readonly OfflineInput[]): unknown {
  const message = (error as Error | undefined)?.message;
  if (typeof message !== 'string') return error;
  const input = inputs.find((i) => i.gzipFault !== null && message.includes(`"${i.name}"`));
  if (input?.gzipFault == null) return error;
  (error as Error).message = `${message} (${describeGzipFault(input.gzipFault)})`;
  return error;
}

/** The metric label of the merged capture of the -read files. */
function mergedSourceName(files: readonly string[]): string {
  return files.length === 1 ? files[0] : `${files[0]} and ${files.length - 1} more`;
}

/** The host of a listen address as a URL shows it: ":9990" is every address, so this host's loopback. */
function metricsHost(address: string): string {
  const host = address.slice(0, address.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  if (host === '' || host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

/** -user's ids: the directories made while still root are given to them; an unknown user is reported when privileges are dropped. */
function directoryOwner(user: string): DirectoryOwner | null {
  if (user === '') return null;
  try {
    return userIds(user);
  } catch {
    return null;
  }
}

function prepareDatadir(datadir: string): void {
  try {
    mkdirSync(datadir, { recursive: true, mode: DIR_MODE });
    accessSync(datadir, fsConstants.W_OK);
  } catch (error) {
    throw new PacketHeadersError('PH_ERR_DATADIR', `cannot use "${datadir}" as -datadir: ${errorWords(error)}`);
  }
}
