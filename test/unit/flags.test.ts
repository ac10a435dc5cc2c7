import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { checkListenAddress, FLAGS, parseConfig, usage, type Config } from '../../src/config/config.js';
import { defineFlags, envVarName, formatUsage, parseFlags, parseGoInt } from '../../src/config/goflag.js';
import { formatByteSize, formatDuration, parseByteSize, parseDuration } from '../../src/config/units.js';
import { PacketHeadersError } from '../../src/errors.js';

/** Parses with no environment and insists on a Config (not 'help'). */
function parse(argv: string[], env: Record<string, string | undefined> = {}): Config {
  const result = parseConfig(argv, env);
  assert.notEqual(result, 'help');
  return result as Config;
}

/** Asserts a PH_ERR_FLAG error whose one-line message matches `pattern`. */
function rejects(argv: string[], pattern: RegExp, env: Record<string, string | undefined> = {}): void {
  assert.throws(
    () => parseConfig(argv, env),
    (error: unknown) => {
      assert.ok(error instanceof PacketHeadersError, `not a PacketHeadersError: ${String(error)}`);
      assert.equal(error.code, 'PH_ERR_FLAG');
      assert.ok(!error.message.includes('\n'), `message spans lines: ${JSON.stringify(error.message)}`);
      assert.match(error.message, pattern);
      return true;
    },
    `expected ${JSON.stringify(argv)} to be rejected`,
  );
}

const DEFAULTS: Config = {
  anonymizeIP: 'none',
  captureDurationMs: 30_000,
  captureThreads: 1,
  datadir: '.',
  eventsFile: '',
  flowTimeoutMs: 30_000,
  indexDatabase: '',
  interfaces: [],
  maxFlows: 0,
  maxHeaderSize: 256,
  maxHeapBytes: 8_000_000_000,
  maxIdleRamBytes: 3_000_000_000,
  prometheusListenAddress: ':9990',
  readFiles: [],
  sigtermWaitMs: 1_000,
  socketPollMs: 1000,
  stagingDir: '',
  stream: false,
  eventSocket: '',
  user: '',
  uuidPrefixFile: '',
  uuidWaitMs: 5_000,
};

describe('defaults', () => {
  test('no arguments and no environment give the documented defaults', () => {
    assert.deepEqual(parse([]), DEFAULTS);
  });

  test('list defaults are fresh arrays, not shared between parses', () => {
    const a = parse([]);
    a.interfaces.push('eth0');
    assert.deepEqual(parse([]).interfaces, []);
    assert.deepEqual(parse(['-interface', 'lo']).interfaces, ['lo']);
    assert.deepEqual(parse([]).interfaces, []);
  });

  test('the environment of the test process is not consulted implicitly', () => {
    assert.deepEqual(parse([], {}), DEFAULTS);
  });
});

describe('Go flag syntax', () => {
  test('-name value, -name=value, --name value, --name=value', () => {
    assert.equal(parse(['-datadir', '/a']).datadir, '/a');
    assert.equal(parse(['-datadir=/b']).datadir, '/b');
    assert.equal(parse(['--datadir', '/c']).datadir, '/c');
    assert.equal(parse(['--datadir=/d']).datadir, '/d');
  });

  test('a value may contain "=" and may be empty after "="', () => {
    assert.equal(parse(['-datadir=/x=y']).datadir, '/x=y');
    assert.equal(parse(['-tcpinfo.eventsocket=']).eventSocket, '');
  });

  test('like Go, the next argument is the value even when it starts with a dash', () => {
    assert.equal(parse(['-datadir', '-weird']).datadir, '-weird');
    assert.equal(parse(['-read', 'a.pcap', '-events', '--']).eventsFile, '--');
  });

  test('a repeated scalar flag: the last one wins', () => {
    assert.equal(parse(['-datadir', '/a', '-datadir', '/b']).datadir, '/b');
  });

  test('-interface is repeatable and keeps order', () => {
    assert.deepEqual(parse(['-interface', 'eth0', '--interface=eth1', '-interface=lo']).interfaces, ['eth0', 'eth1', 'lo']);
    assert.deepEqual(parse(['-read', 'a.pcap', '-read', 'b.pcap']).readFiles, ['a.pcap', 'b.pcap']);
  });

  test('several flags together', () => {
    const c = parse([
      '-datadir', '/var/spool/pcap',
      '--tcpinfo.eventsocket=/run/tcpinfo.sock',
      '-stream',
      '-anonymize.ip', 'netblock',
      '-maxflows=1000',
      '-prometheusx.listen-address', '127.0.0.1:9991',
      '-read', 'trace.pcap',
      '-events', 'ev.jsonl',
    ]);
    assert.deepEqual(c, {
      ...DEFAULTS,
      datadir: '/var/spool/pcap',
      eventSocket: '/run/tcpinfo.sock',
      stream: true,
      anonymizeIP: 'netblock',
      maxFlows: 1000,
      prometheusListenAddress: '127.0.0.1:9991',
      readFiles: ['trace.pcap'],
      eventsFile: 'ev.jsonl',
    });
  });

  test('-events without -read is refused: live capture takes its events from the event socket', () => {
    rejects(['-events', 'ev.jsonl'], /flag -events needs -read/);
  });

  test('parsing stops at "--"; nothing after it is allowed', () => {
    assert.deepEqual(parse(['-stream', '--']), { ...DEFAULTS, stream: true });
    rejects(['--', '-stream'], /unexpected argument "-stream"/);
  });

  test('a positional argument is an error, also a lone "-"', () => {
    rejects(['eth0'], /unexpected argument "eth0"/);
    rejects(['-stream', 'extra'], /unexpected argument "extra"/);
    rejects(['-'], /unexpected argument "-"/);
  });

  test('bad flag syntax', () => {
    rejects(['---datadir=x'], /bad flag syntax: ---datadir=x/);
    rejects(['-=x'], /bad flag syntax: -=x/);
  });

  test('an unknown flag names the flag', () => {
    rejects(['-foo'], /^flag provided but not defined: -foo$/);
    rejects(['--foo=bar'], /^flag provided but not defined: -foo$/);
    rejects(['-datadir', '/x', '-Stream'], /not defined: -Stream/);
  });

  test('a flag missing its value is an error', () => {
    rejects(['-datadir'], /^flag needs an argument: -datadir$/);
    rejects(['-stream', '--flowtimeout'], /^flag needs an argument: -flowtimeout$/);
    rejects(['-interface'], /^flag needs an argument: -interface$/);
  });
});

describe('booleans', () => {
  test('-stream, -stream=true, -stream=false, --stream', () => {
    assert.equal(parse(['-stream']).stream, true);
    assert.equal(parse(['-stream=true']).stream, true);
    assert.equal(parse(['-stream=false']).stream, false);
    assert.equal(parse(['--stream']).stream, true);
    assert.equal(parse(['--stream=false']).stream, false);
    assert.equal(parse(['-stream', '-stream=false']).stream, false);
  });

  test("Go's bool spellings", () => {
    for (const t of ['1', 't', 'T', 'TRUE', 'true', 'True']) assert.equal(parse([`-stream=${t}`]).stream, true, t);
    for (const f of ['0', 'f', 'F', 'FALSE', 'false', 'False']) assert.equal(parse([`-stream=${f}`]).stream, false, f);
  });

  test('bad bool values', () => {
    for (const bad of ['yes', 'tRUE', '', '2', 'on']) {
      rejects([`-stream=${bad}`], new RegExp(`^invalid value "${bad}" for flag -stream: `));
    }
  });

  test('a boolean never takes the next argument', () => {
    const c = parse(['-stream', '-datadir', '/x']);
    assert.equal(c.stream, true);
    assert.equal(c.datadir, '/x');
    rejects(['-stream', 'false'], /unexpected argument "false".*-stream=false/);
  });
});

describe('help', () => {
  test('-help, -h, --help, --h', () => {
    for (const h of ['-help', '-h', '--help', '--h', '-help=false']) assert.equal(parseConfig([h], {}), 'help', h);
  });

  test('help after good flags, and before bad ones, wins', () => {
    assert.equal(parseConfig(['-datadir', '/x', '-help'], {}), 'help');
    assert.equal(parseConfig(['-help', '-foo', 'positional'], {}), 'help');
    assert.equal(parseConfig(['-help'], { FLOWTIMEOUT: 'bad' }), 'help');
  });

  test('an error before -help is still an error', () => {
    rejects(['-foo', '-help'], /not defined: -foo/);
  });

  test('-help after "--" is a positional argument', () => {
    rejects(['--', '-help'], /unexpected argument "-help"/);
  });
});

describe('durations', () => {
  test('Go duration syntax, in milliseconds', () => {
    const cases: Array<[string, number]> = [
      ['300ms', 300],
      ['5s', 5_000],
      ['1m30s', 90_000],
      ['2h', 7_200_000],
      ['1.5s', 1_500],
      ['1.5h', 5_400_000],
      ['1h2m3.5s', 3_723_500],
      ['.5s', 500],
      ['5.s', 5_000],
      ['+5s', 5_000],
      ['0', 0],
      ['0s', 0],
      ['100us', 0.1],
      ['100\u00b5s', 0.1],
      ['100\u03bcs', 0.1],
      ['1500ns', 0.0015],
      ['1ms500us', 1.5],
      ['-1s', -1_000],
    ];
    for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
  });

  test('bad durations', () => {
    for (const bad of ['5x', '5', '', '-', 's', '.s', '1.2.3s', '5 s', '5S', '1d', 'ms5', '5s ']) {
      assert.throws(() => parseDuration(bad), RangeError, JSON.stringify(bad));
    }
    assert.throws(() => parseDuration('300000000h'), /out of range/);
  });

  test('formatted as Go prints them', () => {
    const cases: Array<[number, string]> = [
      [30_000, '30s'],
      [1_000, '1s'],
      [5_000, '5s'],
      [100, '100ms'],
      [90_000, '1m30s'],
      [7_200_000, '2h0m0s'],
      [1_500, '1.5s'],
      [0.25, '250\u00b5s'],
      [0.0005, '500ns'],
      [0, '0s'],
      [-1_500, '-1.5s'],
    ];
    for (const [ms, text] of cases) assert.equal(formatDuration(ms), text, String(ms));
    for (const text of ['300ms', '1m30s', '2h0m0s', '1.5s', '36h0m0.001s']) {
      assert.equal(formatDuration(parseDuration(text)), text);
    }
  });

  test('duration flags: good, bad and negative values', () => {
    assert.equal(parse(['-flowtimeout', '1m30s']).flowTimeoutMs, 90_000);
    assert.equal(parse(['-captureduration=2h']).captureDurationMs, 7_200_000);
    assert.equal(parse(['-uuidwaitduration', '1.5s']).uuidWaitMs, 1_500);
    rejects(['-flowtimeout', '5x'], /^invalid value "5x" for flag -flowtimeout: bad duration/);
    rejects(['-flowtimeout', '-1s'], /^invalid value "-1s" for flag -flowtimeout: must be greater than 0$/);
    rejects(['-flowtimeout=30'], /^invalid value "30" for flag -flowtimeout: bad duration/);
  });

  test('durations must be > 0, except -sigtermwait, which may be 0', () => {
    for (const flag of ['captureduration', 'flowtimeout', 'uuidwaitduration']) {
      rejects([`-${flag}=0`], new RegExp(`for flag -${flag}: must be greater than 0`));
      rejects([`-${flag}`, '0s'], new RegExp(`for flag -${flag}: must be greater than 0`));
    }
    assert.equal(parse(['-sigtermwait=0']).sigtermWaitMs, 0);
    assert.equal(parse(['-sigtermwait', '2m']).sigtermWaitMs, 120_000);
    rejects(['-sigtermwait', '-1s'], /for flag -sigtermwait: must not be negative/);
  });
});

describe('byte sizes', () => {
  test('integers with optional units, powers of 1000, any case', () => {
    const cases: Array<[string, number]> = [
      ['3GB', 3e9],
      ['256MB', 256e6],
      ['1K', 1_000],
      ['1KB', 1_000],
      ['100', 100],
      ['100B', 100],
      ['100b', 100],
      ['1.5G', 1.5e9],
      ['1.5GB', 1.5e9],
      ['3gb', 3e9],
      ['3Gb', 3e9],
      ['2m', 2e6],
      ['2T', 2e12],
      ['2TB', 2e12],
      ['0', 0],
      ['.5K', 500],
      ['1.250KB', 1_250],
    ];
    for (const [text, bytes] of cases) assert.equal(parseByteSize(text), bytes, text);
  });

  test('bad sizes', () => {
    for (const bad of ['3XB', '', 'GB', '-1', '+1', '1.5B', '1.0005K', '3 GB', '3GiB', '1e9', '0x10', '3GB ', '99999999999TB']) {
      assert.throws(() => parseByteSize(bad), RangeError, JSON.stringify(bad));
    }
  });

  test('formatted with the largest exact unit', () => {
    const cases: Array<[number, string]> = [
      [3e9, '3GB'],
      [8e9, '8GB'],
      [256e6, '256MB'],
      [1_000, '1KB'],
      [1_500, '1500B'],
      [1.5e9, '1500MB'],
      [2e12, '2TB'],
      [100, '100B'],
      [0, '0B'],
    ];
    for (const [bytes, text] of cases) assert.equal(formatByteSize(bytes), text, String(bytes));
  });

  test('size flags', () => {
    assert.equal(parse(['-maxidleram', '256MB']).maxIdleRamBytes, 256e6);
    assert.equal(parse(['-maxheap=1.5G']).maxHeapBytes, 1.5e9);
    assert.equal(parse(['-maxidleram=0']).maxIdleRamBytes, 0);
    rejects(['-maxheap', '3XB'], /^invalid value "3XB" for flag -maxheap: bad size/);
    rejects(['-maxheap', '0'], /for flag -maxheap: must be greater than 0/);
  });
});

describe('integers', () => {
  test('Go integer syntax', () => {
    const cases: Array<[string, number]> = [
      ['256', 256],
      ['-3', -3],
      ['+7', 7],
      ['0', 0],
      ['0x100', 256],
      ['0o17', 15],
      ['017', 15],
      ['0b101', 5],
      ['1_000', 1000],
      ['0x_ff', 255],
    ];
    for (const [text, n] of cases) assert.equal(parseGoInt(text), n, text);
    for (const bad of ['', '12x', '1.5', '08', '1__0', '_1', '1_', '0x', ' 1', '1e3', '99999999999999999999']) {
      assert.throws(() => parseGoInt(bad), RangeError, JSON.stringify(bad));
    }
  });

  test('-maxheadersize must be 40..262144: nothing shorter holds an IPv4 and a TCP header', () => {
    assert.equal(parse(['-maxheadersize', '128']).maxHeaderSize, 128);
    assert.equal(parse(['-maxheadersize=40']).maxHeaderSize, 40);
    assert.equal(parse(['-maxheadersize=262144']).maxHeaderSize, 262_144);
    rejects(['-maxheadersize=10'], /^invalid value "10" for flag -maxheadersize: must be at least 40, an IPv4 header and a TCP header of 20 bytes each/);
    rejects(['-maxheadersize=0'], /must be at least 40/);
    rejects(['-maxheadersize=262145'], /must be at most 262144/);
    rejects(['-maxheadersize', '12x'], /^invalid value "12x" for flag -maxheadersize: not an integer$/);
  });

  test('-maxflows must be >= 0', () => {
    assert.equal(parse(['-maxflows', '0']).maxFlows, 0);
    assert.equal(parse(['-maxflows', '50000']).maxFlows, 50_000);
    rejects(['-maxflows', '-1'], /for flag -maxflows: must be at least 0/);
  });
});

describe('-anonymize.ip', () => {
  test('none and netblock', () => {
    assert.equal(parse(['-anonymize.ip', 'none']).anonymizeIP, 'none');
    assert.equal(parse(['-anonymize.ip=netblock']).anonymizeIP, 'netblock');
  });

  test('anything else is an error', () => {
    for (const bad of ['Netblock', 'NONE', '', 'all']) {
      rejects([`-anonymize.ip=${bad}`], /for flag -anonymize\.ip: valid values are "none" and "netblock"$/);
    }
  });
});

describe('-prometheusx.listen-address', () => {
  test('good addresses', () => {
    for (const good of [':9990', ':0', ':65535', 'localhost:9990', '127.0.0.1:9990', '[::1]:9990', '[::]:80', 'metrics.example.org:8080', '[fe80::1%eth0]:9990']) {
      assert.equal(checkListenAddress(good), undefined, good);
      assert.equal(parse(['-prometheusx.listen-address', good]).prometheusListenAddress, good);
    }
  });

  test('bad addresses', () => {
    for (const bad of ['', '9990', ':', ':65536', ':-1', ':http', '::1:9990', '[::1]', '[::1]:', '[1.2.3.4]:80', 'a b:80', 'host:80:80', '[::1]x:80', 'bad..name:80']) {
      assert.notEqual(checkListenAddress(bad), undefined, bad);
      rejects([`-prometheusx.listen-address=${bad}`], /^invalid value ".*" for flag -prometheusx\.listen-address: /);
    }
  });
});

describe('cross-checks and other values', () => {
  test('-uuidwaitduration greater than -captureduration is an error naming both', () => {
    rejects(['-uuidwaitduration', '10s', '-captureduration', '5s'], /-uuidwaitduration \(10s\).*-captureduration \(5s\)/);
    rejects(['-captureduration', '4s'], /-uuidwaitduration.*-captureduration/);
    rejects([], /-uuidwaitduration.*-captureduration/, { UUIDWAITDURATION: '1m' });
    const c = parse(['-uuidwaitduration', '5s', '-captureduration', '5s']);
    assert.equal(c.uuidWaitMs, c.captureDurationMs);
  });

  test('empty -datadir, -interface and -read values are errors', () => {
    rejects(['-datadir='], /for flag -datadir: /);
    rejects(['-interface', ''], /for flag -interface: /);
    rejects(['-read='], /for flag -read: /);
  });
});

describe('built-in flow source flags', () => {
  test('-socketpoll is a duration, 1s by default, and must be > 0', () => {
    assert.equal(parse([]).socketPollMs, 1000);
    assert.equal(parse(['-socketpoll', '20ms']).socketPollMs, 20);
    assert.equal(parse(['-socketpoll=1.5s']).socketPollMs, 1_500);
    assert.equal(parse([], { SOCKETPOLL: '2s' }).socketPollMs, 2_000);
    rejects(['-socketpoll', '0'], /^invalid value "0" for flag -socketpoll: must be greater than 0$/);
    rejects(['-socketpoll', '-5ms'], /for flag -socketpoll: must be greater than 0/);
    rejects(['-socketpoll', '100'], /^invalid value "100" for flag -socketpoll: bad duration/);
    rejects(['-socketpoll'], /-socketpoll/);
  });

  test('-uuid-prefix-file is a string, empty by default; the file is read at start, not here', () => {
    assert.equal(parse([]).uuidPrefixFile, '');
    assert.equal(parse(['-uuid-prefix-file', '/nonexistent/prefix']).uuidPrefixFile, '/nonexistent/prefix');
    assert.equal(parse(['--uuid-prefix-file=/etc/p']).uuidPrefixFile, '/etc/p');
    assert.equal(parse([], { UUID_PREFIX_FILE: '/env/p' }).uuidPrefixFile, '/env/p');
    assert.equal(parse(['-uuid-prefix-file', '/cli/p'], { UUID_PREFIX_FILE: '/env/p' }).uuidPrefixFile, '/cli/p');
    rejects(['-uuid-prefix-file'], /-uuid-prefix-file/);
  });

  test('both are accepted together with -tcpinfo.eventsocket (they are then unused)', () => {
    const c = parse(['-tcpinfo.eventsocket', '/run/t.sock', '-socketpoll', '1s', '-uuid-prefix-file', '/p']);
    assert.equal(c.eventSocket, '/run/t.sock');
    assert.equal(c.socketPollMs, 1_000);
    assert.equal(c.uuidPrefixFile, '/p');
  });
});

describe('environment', () => {
  test('variable names: upper-cased, everything outside [A-Z0-9] becomes "_"', () => {
    assert.equal(envVarName('anonymize.ip'), 'ANONYMIZE_IP');
    assert.equal(envVarName('prometheusx.listen-address'), 'PROMETHEUSX_LISTEN_ADDRESS');
    assert.equal(envVarName('uuid-prefix-file'), 'UUID_PREFIX_FILE');
    assert.equal(envVarName('tcpinfo.eventsocket'), 'TCPINFO_EVENTSOCKET');
    assert.equal(envVarName('maxheadersize'), 'MAXHEADERSIZE');
  });

  test('every flag can come from its variable', () => {
    const c = parse([], {
      ANONYMIZE_IP: 'netblock',
      CAPTUREDURATION: '1m',
      CAPTURETHREADS: '2',
      DATADIR: '/data',
      EVENTS: 'e.jsonl',
      FLOWTIMEOUT: '10s',
      INTERFACE: 'eth0, eth1,,lo',
      MAXFLOWS: '7',
      MAXHEADERSIZE: '512',
      INDEX: '/var/lib/index.sqlite',
      MAXHEAP: '2GB',
      MAXIDLERAM: '500MB',
      PROMETHEUSX_LISTEN_ADDRESS: '[::1]:9000',
      READ: 'a.pcap,b.pcap',
      SIGTERMWAIT: '0',
      SOCKETPOLL: '250ms',
      STAGINGDIR: '/stage',
      STREAM: 'true',
      TCPINFO_EVENTSOCKET: '/run/t.sock',
      UUID_PREFIX_FILE: '/etc/uuid-prefix',
      UUIDWAITDURATION: '2s',
      USER: 'root', // every shell sets it: it must not become -user
    });
    assert.deepEqual(c, {
      anonymizeIP: 'netblock',
      captureDurationMs: 60_000,
      captureThreads: 2,
      datadir: '/data',
      eventsFile: 'e.jsonl',
      flowTimeoutMs: 10_000,
      indexDatabase: '/var/lib/index.sqlite',
      interfaces: ['eth0', 'eth1', 'lo'],
      maxFlows: 7,
      maxHeaderSize: 512,
      maxHeapBytes: 2e9,
      maxIdleRamBytes: 500e6,
      prometheusListenAddress: '[::1]:9000',
      readFiles: ['a.pcap', 'b.pcap'],
      sigtermWaitMs: 0,
      socketPollMs: 250,
      stagingDir: '/stage',
      stream: true,
      eventSocket: '/run/t.sock',
      user: '',
      uuidPrefixFile: '/etc/uuid-prefix',
      uuidWaitMs: 2_000,
    } satisfies Config);
  });

  test('-user comes from the command line only', () => {
    assert.equal(parse(['-user', 'nobody'], { USER: 'root' }).user, 'nobody');
    assert.equal(parse([], { USER: 'root' }).user, '');
  });

  test('the command line wins over the environment', () => {
    const env = { DATADIR: '/env', STREAM: 'true', INTERFACE: 'eth9', FLOWTIMEOUT: 'garbage' };
    const c = parse(['-datadir', '/cli', '-stream=false', '-interface', 'lo', '-flowtimeout', '3s'], env);
    assert.equal(c.datadir, '/cli');
    assert.equal(c.stream, false);
    assert.deepEqual(c.interfaces, ['lo']);
    assert.equal(c.flowTimeoutMs, 3_000); // the bad variable is never looked at
  });

  test('flags not on the command line still come from the environment', () => {
    const c = parse(['-datadir', '/cli'], { STREAM: '1', MAXHEAP: '1GB' });
    assert.equal(c.datadir, '/cli');
    assert.equal(c.stream, true);
    assert.equal(c.maxHeapBytes, 1e9);
  });

  test('an empty variable counts as unset; unrelated variables are ignored', () => {
    assert.deepEqual(parse([], { DATADIR: '', STREAM: '', INTERFACE: '', PATH: '/bin', HOME: '/root' }), DEFAULTS);
    assert.deepEqual(parse([], { DATADIR: undefined }), DEFAULTS);
  });

  test('a bad variable names the variable, the flag and the value', () => {
    rejects([], /^invalid value "5x" in environment variable FLOWTIMEOUT for flag -flowtimeout: bad duration/, { FLOWTIMEOUT: '5x' });
    rejects([], /environment variable ANONYMIZE_IP for flag -anonymize\.ip: valid values/, { ANONYMIZE_IP: 'all' });
    rejects([], /environment variable STREAM for flag -stream/, { STREAM: 'yes' });
    rejects([], /environment variable MAXHEAP for flag -maxheap: bad size/, { MAXHEAP: '3XB' });
    rejects([], /environment variable PROMETHEUSX_LISTEN_ADDRESS for flag -prometheusx\.listen-address/, {
      PROMETHEUSX_LISTEN_ADDRESS: '9990',
    });
  });

  test('lowercase or dotted variable names are not read', () => {
    assert.deepEqual(parse([], { datadir: '/x', 'anonymize.ip': 'netblock' }), DEFAULTS);
  });
});

describe('-index', () => {
  test('a database inside -datadir is refused, naming both (an uploader shipping the datadir would take it)', () => {
    for (const [datadir, index] of [
      ['/data', '/data/flows.sqlite'],
      ['/data/', '/data/2026/x.sqlite'],
      ['.', 'flows.sqlite'],
      ['/data', '/data/../data/i.sqlite'],
      ['/data', '/data/..hidden/i.sqlite'],
    ]) {
      assert.throws(() => parseConfig(['-datadir', datadir, '-index', index], {}), (e: Error) => e.message.includes(`-index ${index} is inside -datadir ${datadir}`), `${index} in ${datadir}`);
    }
  });

  test('a database beside -datadir, or in a directory whose name starts like it, is taken', () => {
    assert.equal(parse(['-datadir', '/data', '-index', '/data.sqlite']).indexDatabase, '/data.sqlite');
    assert.equal(parse(['-datadir', '/data', '-index', '/var/lib/ph/flows.sqlite']).indexDatabase, '/var/lib/ph/flows.sqlite');
    assert.equal(parse(['-datadir', '/data/pcap', '-index', '/data/flows.sqlite']).indexDatabase, '/data/flows.sqlite');
    assert.equal(parse(['-datadir', '/data', '-index', '/data..x/i.sqlite']).indexDatabase, '/data..x/i.sqlite');
  });
});

describe('-stagingdir', () => {
  test('a staging directory inside -datadir is refused, naming both (an uploader watching the datadir would hear of every file written there)', () => {
    for (const [datadir, staging] of [
      ['/data', '/data/.staging'],
      ['.', 'stage'],
      ['/data', '/data'],
    ]) {
      assert.throws(() => parseConfig(['-datadir', datadir, '-stagingdir', staging], {}), (e: Error) => e.message.includes(`-stagingdir ${staging} is inside -datadir ${datadir}`), `${staging} in ${datadir}`);
    }
  });

  test('one beside -datadir is taken', () => {
    assert.equal(parse(['-datadir', '/data/pcap', '-stagingdir', '/data/.pcap.staging']).stagingDir, '/data/.pcap.staging');
  });
});

describe('usage', () => {
  const text = usage('packet-headers');
  const lines = text.split('\n');

  test('Go layout: header, "  -name type", then a "    \\t" help line', () => {
    assert.equal(lines[0], 'Usage of packet-headers:');
    assert.ok(text.includes('  -anonymize.ip value\n    \tValid values are "none" and "netblock". (default none)\n'));
    assert.ok(text.includes('  -datadir string\n    \tThe directory to which data is written (default ".")\n'));
    assert.ok(text.includes('  -stream\n    \tStream results to disk'));
    assert.ok(text.includes('  -captureduration duration\n'));
    assert.ok(text.includes('  -maxheadersize int\n'));
    assert.ok(text.endsWith('\n'));
  });

  test('docs/flags.md\'s flag list is this usage text (tabs shown as spaces)', () => {
    const readme = readFileSync(join(import.meta.dirname, '../../../docs/flags.md'), 'utf8');
    const start = readme.indexOf('```\n  -anonymize.ip') + 4;
    assert.ok(start > 4, 'docs/flags.md has a flag list');
    const listed = readme.slice(start, readme.indexOf('```', start));
    const flagsPart = text.slice(text.indexOf('\n') + 1, text.indexOf('\n\n') + 1).replaceAll('    \t', ' '.repeat(12));
    assert.equal(listed, flagsPart);
  });

  test('every flag is listed, sorted by name, with its help', () => {
    const names = lines.filter((l) => /^  -\S/.test(l)).map((l) => l.slice(3).split(' ')[0]!);
    const expected = Object.values(FLAGS).map((def) => def.name).sort();
    assert.deepEqual(names, expected);
    assert.equal(names.length, 22);
    for (const def of Object.values(FLAGS)) {
      const at = lines.findIndex((l) => l === `  -${def.name}` || l.startsWith(`  -${def.name} `));
      assert.ok(lines[at + 1]!.startsWith(`    \t${def.help}`), def.name);
    }
  });

  test('non-zero defaults are shown', () => {
    const shown: Record<string, string> = {
      'anonymize.ip': 'none',
      captureduration: '30s',
      datadir: '"."',
      flowtimeout: '30s',
      maxheadersize: '256',
      maxidleram: '3GB',
      maxheap: '8GB',
      'prometheusx.listen-address': '":9990"',
      sigtermwait: '1s',
      socketpoll: '1s',
      uuidwaitduration: '5s',
    };
    for (const [name, value] of Object.entries(shown)) {
      const at = lines.findIndex((l) => l.startsWith(`  -${name} `));
      assert.ok(at > 0, name);
      assert.ok(lines[at + 1]!.endsWith(` (default ${value})`), `${name}: ${lines[at + 1]}`);
    }
    // Zero values are omitted, as Go does; the help says what zero/empty means.
    for (const name of ['stream', 'maxflows', 'interface', 'tcpinfo.eventsocket', 'read', 'events', 'uuid-prefix-file']) {
      const at = lines.findIndex((l) => l === `  -${name}` || l.startsWith(`  -${name} `));
      assert.ok(!lines[at + 1]!.includes('(default'), name);
    }
  });

  test('help texts of the original service', () => {
    assert.match(text, /-maxheadersize int\n    \tThe maximum size of packet headers allowed\. .*IPv6/);
    assert.match(text, /Address to listen on for Prometheus metrics \(GET \/metrics\)\./);
    assert.match(text, /May be repeated\. If unset, will capture on all available interfaces\./);
  });

  test('mentions the environment variables', () => {
    assert.match(text, /ANONYMIZE_IP/);
  });
});

describe('errors, as src/cli.ts relies on them (exit 2, one line; nothing spawned here)', () => {
  const bad: Array<{ argv: string[]; env?: Record<string, string> }> = [
    { argv: ['-foo'] },
    { argv: ['-datadir'] },
    { argv: ['-flowtimeout', '5x'] },
    { argv: ['-stream=maybe'] },
    { argv: ['positional'] },
    { argv: ['---x'] },
    { argv: ['-anonymize.ip', 'all'] },
    { argv: ['-uuidwaitduration=1h'] },
    { argv: ['-datadir', 'x\ny', 'z\nw'] },
    { argv: ['-fo\no'] },
    { argv: ['-stream', 'fa\nlse'] },
    { argv: ['-flowtimeout', '5\nx'] },
    { argv: [], env: { MAXFLOWS: 'many\n' } },
  ];
  for (const { argv, env } of bad) {
    test(`${JSON.stringify(argv)} ${env ? JSON.stringify(env) : ''}`, () => rejects(argv, /./, env ?? {}));
  }

  test('the message names the value quoted', () => {
    assert.throws(() => parseConfig(['-flowtimeout', '5x'], {}), {
      name: 'PacketHeadersError',
      code: 'PH_ERR_FLAG',
      message: /"5x".*-flowtimeout/,
    });
  });
});

describe('the generic parser (goflag)', () => {
  const table = defineFlags({
    level: { kind: 'enum', name: 'level', choices: ['low', 'high'], default: 'low', help: 'Level.' },
    n: { kind: 'int', name: 'n', default: 3, min: 0, max: 9, help: 'Count.', validate: (v) => (v === 5 ? 'not five' : undefined) },
    v: { kind: 'bool', name: 'v', default: false, help: 'Verbose.' },
    tags: { kind: 'list', name: 'tag', default: ['a'], help: 'Tags.' },
    size: { kind: 'bytes', name: 'size', default: 0, help: 'Size.' },
    wait: { kind: 'duration', name: 'wait', default: 0, help: 'Wait.' },
    dir: { kind: 'string', name: 'dir', default: '', help: 'Dir.', typeName: 'path' },
  });

  test('a new flag is one table row, with typed values and sources', () => {
    const parsed = parseFlags(table, ['-level=high', '-n', '7', '-tag', 'x', '-tag', 'y'], { SIZE: '1KB' });
    assert.notEqual(parsed, 'help');
    if (parsed === 'help') return;
    const level: 'low' | 'high' = parsed.values.level;
    assert.equal(level, 'high');
    assert.equal(parsed.values.n, 7);
    assert.deepEqual(parsed.values.tags, ['x', 'y']);
    assert.equal(parsed.values.size, 1_000);
    assert.equal(parsed.values.v, false);
    assert.deepEqual(parsed.sources, {
      level: 'command line',
      n: 'command line',
      v: 'default',
      tags: 'command line',
      size: 'environment',
      wait: 'default',
      dir: 'default',
    });
  });

  test('min, max and validate', () => {
    assert.throws(() => parseFlags(table, ['-n=10'], {}), /-n: must be at most 9/);
    assert.throws(() => parseFlags(table, ['-n=5'], {}), /-n: not five/);
  });

  test('one-letter bool help stays on its line; typeName overrides; list defaults shown', () => {
    const text = formatUsage('t', table);
    assert.ok(text.includes('  -v\tVerbose.\n'));
    assert.ok(text.includes('  -dir path\n    \tDir.\n'));
    assert.ok(text.includes('  -tag value\n    \tTags. (default a)\n'));
    assert.ok(text.includes('  -level value\n    \tLevel. (default low)\n'));
    assert.ok(text.includes('  -n int\n    \tCount. (default 3)\n'));
    assert.ok(text.includes('  -size value\n    \tSize.\n'));
  });

  test('a table defining -help gets the flag, not usage', () => {
    const own = defineFlags({ help: { kind: 'bool', name: 'help', default: false, help: 'Mine.' } });
    assert.deepEqual(parseFlags(own, ['-help'], {}), { values: { help: true }, sources: { help: 'command line' } });
    assert.equal(parseFlags(own, ['-h'], {}), 'help');
  });

  test('broken tables are refused', () => {
    assert.throws(() => defineFlags({ a: { kind: 'bool', name: 'x', default: false, help: '' }, b: { kind: 'bool', name: 'x', default: false, help: '' } }), /defined twice/);
    assert.throws(() => defineFlags({ a: { kind: 'bool', name: 'a.b', default: false, help: '' }, b: { kind: 'bool', name: 'a-b', default: false, help: '' } }), /share environment variable A_B/);
    assert.throws(() => defineFlags({ a: { kind: 'bool', name: '-a', default: false, help: '' } }), /bad flag name/);
    assert.throws(() => defineFlags({ a: { kind: 'bool', name: 'a=b', default: false, help: '' } }), /bad flag name/);
    assert.throws(() => defineFlags({ a: { kind: 'enum', name: 'a', choices: ['x'], default: 'y' as 'x', help: '' } }), /not one of its choices/);
  });
});
