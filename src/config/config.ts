// The packet-headers flag set: the original Go service's flags (same names,
// defaults and help), the flags this implementation adds, and the checks that
// span more than one flag. Every flag but -user may also come from an
// environment variable (see envVarName); the command line wins.
import { isIP } from 'node:net';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import {
  defineFlags,
  envVarName,
  flagError,
  formatUsage,
  parseFlags,
  type Environment,
  type FlagValues,
} from './goflag.js';
import { formatDuration } from './units.js';

export const ANONYMIZE_MODES = ['none', 'netblock'] as const;
export type AnonymizeMode = (typeof ANONYMIZE_MODES)[number];

/** libpcap's own ceiling on the snapshot length. */
export const MAX_SNAPLEN = 262_144;
/** The smallest IPv4 header plus the smallest TCP header. */
const MIN_HEADER_SIZE = 40;

const positive = (ms: number) => (ms > 0 ? undefined : 'must be greater than 0');
const nonNegative = (ms: number) => (ms >= 0 ? undefined : 'must not be negative');
const nonEmpty = (what: string) => (text: string) => (text === '' ? `${what} must not be empty` : undefined);

/**
 * The flag table. Keys are the Config field names; each row is one flag.
 * Durations are in milliseconds, sizes in bytes.
 */
export const FLAGS = defineFlags({
  anonymizeIP: {
    kind: 'enum',
    name: 'anonymize.ip',
    choices: ANONYMIZE_MODES,
    default: 'none',
    help: 'Valid values are "none" and "netblock".',
  },
  captureDurationMs: {
    kind: 'duration',
    name: 'captureduration',
    default: 30_000,
    help: 'Only save the first captureduration of each flow, to prevent long-lived flows from spamming the hard drive.',
    validate: positive,
  },
  captureThreads: {
    kind: 'int',
    name: 'capturethreads',
    default: 1,
    min: 0,
    max: 64,
    help:
      "Capture threads per interface, each routing the packets the kernel gives it (PACKET_FANOUT, by a symmetric flow hash: " +
      'both directions of a flow go to one thread). For links one core cannot keep up with; the files are the same. 0 means one per core. ' +
      'Each capture thread of an interface allows four more threads compressing and writing files (one per core at most).',
  },
  datadir: {
    kind: 'string',
    name: 'datadir',
    default: '.',
    help: 'The directory to which data is written',
    validate: nonEmpty('the data directory'),
  },
  eventsFile: {
    kind: 'string',
    name: 'events',
    default: '',
    help: 'With -read: a tcp-info JSONL event file naming the flows in the pcap files.',
  },
  flowTimeoutMs: {
    kind: 'duration',
    name: 'flowtimeout',
    default: 30_000,
    help: 'Once there have been no packets for a flow for at least flowtimeout, the flow can be assumed to be closed.',
    validate: positive,
  },
  indexDatabase: {
    kind: 'string',
    name: 'index',
    default: '',
    help:
      'A SQLite database in which every file written is indexed (table "flows", one row per file, the fields of ' +
      "'packet-headers inspect --json'), by a thread of its own, for queries with 'packet-headers index DATADIR " +
      "--db FILE --query SQL'. Outside -datadir. If unset, nothing is indexed.",
  },
  interfaces: {
    kind: 'list',
    name: 'interface',
    default: [],
    help: 'The interface on which to capture traffic. May be repeated. If unset, will capture on all available interfaces.',
    validate: nonEmpty('an interface name'),
  },
  maxFlows: {
    kind: 'int',
    name: 'maxflows',
    default: 0,
    min: 0,
    help: 'The maximum number of flows tracked at once; packets of further flows are ignored and counted. 0 means unlimited.',
  },
  maxHeaderSize: {
    kind: 'int',
    name: 'maxheadersize',
    default: 256,
    max: MAX_SNAPLEN,
    // Shorter captures cut every packet inside its IP or TCP header: the
    // daemon would run and write nothing.
    validate: (n) => (n >= MIN_HEADER_SIZE ? undefined : `must be at least ${MIN_HEADER_SIZE}, an IPv4 header and a TCP header of 20 bytes each, or no packet can be saved`),
    help:
      'The maximum size of packet headers allowed. A lower value allows the pcap process to be less wasteful ' +
      'but risks more esoteric IPv6 headers (which can theoretically be up to the full size of the packet ' +
      'but in practice seem to be under 128) getting truncated.',
  },
  maxHeapBytes: {
    kind: 'bytes',
    name: 'maxheap',
    default: 8_000_000_000,
    help: 'Above this much memory in use, no new flow is started (load shedding).',
    validate: (bytes) => (bytes > 0 ? undefined : 'must be greater than 0'),
  },
  maxIdleRamBytes: {
    kind: 'bytes',
    name: 'maxidleram',
    default: 3_000_000_000,
    help: 'How much idle RAM we should tolerate before we try and forcibly return it to the OS.',
  },
  prometheusListenAddress: {
    kind: 'string',
    name: 'prometheusx.listen-address',
    default: ':9990',
    help: 'Address to listen on for Prometheus metrics (GET /metrics).',
    validate: checkListenAddress,
  },
  readFiles: {
    kind: 'list',
    name: 'read',
    default: [],
    help: 'Read packets from these pcap files instead of live interfaces. May be repeated.',
    validate: nonEmpty('a file name'),
  },
  sigtermWaitMs: {
    kind: 'duration',
    name: 'sigtermwait',
    default: 1_000,
    help: 'How long should the daemon hang around before exiting after receiving a SIGTERM.',
    validate: nonNegative,
  },
  socketPollMs: {
    kind: 'duration',
    name: 'socketpoll',
    default: 1000,
    help:
      'Without -tcpinfo.eventsocket: how often the built-in flow source reads the kernel\'s whole TCP socket table ' +
      'to name flows that its lookups and the socket-destroy reports did not name (every 100ms at most while there are ' +
      'no destroy reports).',
    validate: positive,
  },
  stagingDir: {
    kind: 'string',
    name: 'stagingdir',
    default: '',
    help:
      'Where files are written before they appear whole in -datadir: a directory on the same filesystem, outside ' +
      '-datadir, so that an uploader watching -datadir hears of each file once. If unset, .<datadir name>.staging ' +
      'beside -datadir.',
  },
  stream: {
    kind: 'bool',
    name: 'stream',
    default: false,
    help: 'Stream results to disk instead of buffering them in RAM.',
  },
  eventSocket: {
    kind: 'string',
    name: 'tcpinfo.eventsocket',
    default: '',
    help:
      'The filename of the unix-domain socket on which events are served. ' +
      'Without it, the built-in flow source names flows from the kernel\'s socket table.',
  },
  user: {
    kind: 'string',
    name: 'user',
    default: '',
    // $USER is set by every shell: reading it would drop privileges unasked.
    commandLineOnly: true,
    help:
      'After opening the captures and sockets as root, run as this user (and its groups), like tcpdump -Z. ' +
      'The data directory must be writable by it. Not read from the environment.',
  },
  uuidPrefixFile: {
    kind: 'string',
    name: 'uuid-prefix-file',
    default: '',
    help:
      'A file holding the prefix of the UUIDs the built-in flow source makes (with -tcpinfo.eventsocket: of the ' +
      "connections that existed before the daemon started, until tcp-info's UUIDs show its prefix). " +
      'If unset, the prefix is $POD_NAME (or the hostname), the boot time and "unsafe".',
  },
  uuidWaitMs: {
    kind: 'duration',
    name: 'uuidwaitduration',
    default: 5_000,
    help:
      'Wait up to uuidwaitduration for each flow before either assigning a UUID or discarding all future packets. ' +
      'This prevents buffering unsaveable packets.',
    validate: positive,
  },
});

/** Everything the command line and environment decide. Durations in ms, sizes in bytes. */
export interface Config {
  /** -anonymize.ip */
  anonymizeIP: AnonymizeMode;
  /** -captureduration, ms (> 0) */
  captureDurationMs: number;
  /** -capturethreads, 0..64: live capture threads per interface, 0 = one per core */
  captureThreads: number;
  /** -datadir */
  datadir: string;
  /** -events: with -read, a tcp-info JSONL event file; '' = none */
  eventsFile: string;
  /** -flowtimeout, ms (> 0) */
  flowTimeoutMs: number;
  /** -index: SQLite database indexing every file written; '' = none */
  indexDatabase: string;
  /** -interface, repeatable; empty = every interface that is up */
  interfaces: string[];
  /** -maxflows; 0 = unlimited */
  maxFlows: number;
  /** -maxheadersize: the libpcap snaplen, 40..262144 */
  maxHeaderSize: number;
  /** -maxheap, bytes (> 0) */
  maxHeapBytes: number;
  /** -maxidleram, bytes */
  maxIdleRamBytes: number;
  /** -prometheusx.listen-address: host:port */
  prometheusListenAddress: string;
  /** -read, repeatable: offline mode when non-empty */
  readFiles: string[];
  /** -socketpoll, ms (> 0): period of the built-in flow source's socket table poll */
  socketPollMs: number;
  /** -sigtermwait, ms (>= 0) */
  sigtermWaitMs: number;
  /** -stagingdir; '' = `.<datadir name>.staging` beside the datadir (src/saver/staging.ts) */
  stagingDir: string;
  /** -stream */
  stream: boolean;
  /** -tcpinfo.eventsocket; '' = use the built-in kernel socket source */
  eventSocket: string;
  /** -user: drop privileges to this user after start-up; '' = stay (command line only) */
  user: string;
  /** -uuid-prefix-file; '' = `<$POD_NAME or hostname>_<boot time>_unsafe` */
  uuidPrefixFile: string;
  /** -uuidwaitduration, ms (> 0, <= captureDurationMs) */
  uuidWaitMs: number;
}

// The table and the interface must describe the same fields with the same types.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const tableMatchesConfig: Same<FlagValues<typeof FLAGS>, Config> = true;
void tableMatchesConfig;

/**
 * Parses the daemon's arguments (without the program name) and environment.
 * Returns 'help' for -help/-h/--help; the caller prints usage() to stdout and
 * exits 0. Throws PacketHeadersError('PH_ERR_FLAG', one line) for any bad flag,
 * value, environment variable or combination; the caller prints it and exits 2.
 */
export function parseConfig(argv: string[], env: Record<string, string | undefined>): Config | 'help' {
  const parsed = parseFlags(FLAGS, argv, env as Environment);
  if (parsed === 'help') return parsed;
  const config = parsed.values;
  if (config.uuidWaitMs > config.captureDurationMs) {
    throw flagError(
      `-uuidwaitduration (${formatDuration(config.uuidWaitMs)}) must not be greater than ` +
        `-captureduration (${formatDuration(config.captureDurationMs)})`,
    );
  }
  if (config.eventsFile !== '' && config.readFiles.length === 0) {
    throw flagError('flag -events needs -read: live capture takes its events from -tcpinfo.eventsocket');
  }
  if (config.indexDatabase !== '' && isInside(config.indexDatabase, config.datadir)) {
    // Whatever ships and deletes the datadir's files (M-Lab's uploader) would take the database too.
    throw flagError(`-index ${config.indexDatabase} is inside -datadir ${config.datadir}: an uploader shipping the datadir would take it; put it elsewhere`);
  }
  if (config.stagingDir !== '' && isInside(config.stagingDir, config.datadir)) {
    // An uploader watching the datadir would hear of every file written there.
    throw flagError(`-stagingdir ${config.stagingDir} is inside -datadir ${config.datadir}: it must be outside it, on the same filesystem`);
  }
  return config;
}

/** Whether `path` is `dir` or below it, both taken from the working directory. */
function isInside(path: string, dir: string): boolean {
  const rel = relative(resolve(dir), resolve(path));
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/**
 * The -help text, in the layout of Go's flag package; `tools` lists the
 * subcommands (src/tools/subcommands.ts), which the daemon does not import.
 */
export function usage(program: string, tools = ''): string {
  return formatUsage(
    program,
    FLAGS,
    'Every flag but -user may also be set through an environment variable named after it: upper-cased, with every\n' +
      `character outside [A-Z0-9] replaced by "_" (-anonymize.ip is ${envVarName('anonymize.ip')}). ` +
      'The command line wins.\n' +
      'A repeatable flag takes a comma-separated list from its variable.' +
      (tools === '' ? '' : `\n\nSubcommands, for reading the files (${program} SUBCOMMAND -help):\n${tools}`),
  );
}

/**
 * Checks a listen address the way Go's net.SplitHostPort and Listen see it:
 * `host:port` with port 0-65535; the host may be empty, a name, an IPv4
 * address, or an IPv6 address in brackets.
 */
export function checkListenAddress(address: string): string | undefined {
  let host: string;
  let port: string;
  if (address.startsWith('[')) {
    const m = /^\[([^\]]*)\]:([^:]*)$/.exec(address);
    if (m === null) return 'want host:port, with an IPv6 host in brackets ([::1]:9990)';
    host = m[1]!;
    port = m[2]!;
    if (isIP(host) !== 6) return `${JSON.stringify(host)} is not an IPv6 address`;
  } else {
    const colon = address.lastIndexOf(':');
    if (colon < 0) return 'missing port (want host:port, e.g. :9990)';
    host = address.slice(0, colon);
    port = address.slice(colon + 1);
    if (host.includes(':')) return 'an IPv6 host must be in brackets ([::1]:9990)';
    if (host.includes('[') || host.includes(']')) return 'bad brackets in host';
    const hostname = /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;
    if (host !== '' && isIP(host) !== 4 && !hostname.test(host)) {
      return `${JSON.stringify(host)} is not a host name or IPv4 address`;
    }
  }
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65_535) return `bad port ${JSON.stringify(port)} (want 0-65535)`;
  return undefined;
}
