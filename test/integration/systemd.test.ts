// The systemd unit in deploy/systemd: systemd's own checks pass, its exposure
// score is low, and the daemon works inside the sandbox it describes. This
// machine runs no systemd, so the sandbox is reproduced from the unit's own
// lines: setpriv gives the process the unit's user and capability sets, and
// strace stands in for the seccomp filter, failing every system call outside
// SystemCallFilter= with EPERM (SystemCallErrorNumber=) as the kernel would.
// The trace then shows which address families and which writable paths the
// daemon used, against RestrictAddressFamilies= and ReadWritePaths=.
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { curlRequests, startHttpServer } from '../helpers/httpload.js';
import { readPcapWithTshark } from '../helpers/captures.js';
import { DAEMON_BIN, REPO, spawnDaemon, waitUntilCapturing } from '../helpers/daemonprocess.js';
import { createTestNetwork, type TestNetwork } from '../helpers/netns.js';
import { execHost } from '../helpers/processes.js';

const unitPath = join(REPO, 'deploy/systemd/packet-headers.service');
const NOBODY = 65534;
const MAX_EXPOSURE = 2.0;

/** The [Service] settings of a unit file; a key given twice keeps every value, in order. */
function unitSettings(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header !== null) {
      section = header[1];
      continue;
    }
    if (section !== 'Service') continue;
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    settings.set(key, [...(settings.get(key) ?? []), line.slice(eq + 1)]);
  }
  return settings;
}

const unitText = readFileSync(unitPath, 'utf8');
const unit = unitSettings(unitText);
const one = (key: string): string => {
  const values = unit.get(key);
  assert.ok(values !== undefined && values.length === 1, `the unit sets ${key}= once`);
  return values[0];
};

/** The system calls a systemd filter group (or a single call) stands for, nested groups resolved. */
async function syscallsOf(name: string, seen = new Set<string>()): Promise<Set<string>> {
  const calls = new Set<string>();
  if (!name.startsWith('@')) return calls.add(name);
  if (seen.has(name)) return calls;
  seen.add(name);
  const r = await execHost(['systemd-analyze', 'syscall-filter', name], { check: true });
  for (const line of r.stdout.split('\n').slice(1)) {
    const item = line.trim();
    if (item === '' || item.startsWith('#')) continue;
    for (const call of await syscallsOf(item, seen)) calls.add(call);
  }
  return calls;
}

/** What the unit's SystemCallFilter= lines allow: an allow list, then deny lists (`~`), as systemd combines them. */
async function allowedSyscalls(): Promise<Set<string>> {
  let allowed: Set<string> | null = null;
  for (const value of unit.get('SystemCallFilter') ?? []) {
    const deny = value.startsWith('~');
    const names = (deny ? value.slice(1) : value).split(/\s+/).filter(Boolean);
    const calls = new Set<string>();
    for (const n of names) for (const c of await syscallsOf(n)) calls.add(c);
    if (deny) {
      assert.ok(allowed !== null, 'an allow list comes first');
      for (const c of calls) allowed.delete(c);
    } else {
      allowed = new Set([...(allowed ?? []), ...calls]);
    }
  }
  assert.ok(allowed !== null && allowed.size > 0, 'the unit has a system call filter');
  return allowed;
}

/** setpriv arguments that give a process what the unit gives it: user, capability sets, no_new_privs. */
function sandboxWrapper(): string[] {
  const caps = (key: string) => one(key).split(/\s+/).map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`).join(',');
  const argv = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', `--inh-caps=-all,${caps('AmbientCapabilities')}`, `--ambient-caps=-all,${caps('AmbientCapabilities')}`, `--bounding-set=-all,${caps('CapabilityBoundingSet')}`];
  if (one('NoNewPrivileges') === 'yes') argv.push('--no-new-privs');
  return argv;
}

let work = '';
let net: TestNetwork | undefined;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'ph-systemd-'));
  chmodSync(work, 0o755);
  net = await createTestNetwork();
});

after(async () => {
  await net?.destroy();
  rmSync(work, { recursive: true, force: true });
});

test('systemd-analyze verify accepts the unit', async () => {
  // The unit names the installed command; here it is the checkout's.
  const copy = join(work, 'packet-headers.service');
  writeFileSync(copy, unitText.replace(/^ExecStart=\S+/m, `ExecStart=${DAEMON_BIN}`));
  const r = await execHost(['systemd-analyze', 'verify', copy], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
});

test(`the unit's exposure score (systemd-analyze security --offline) is ${MAX_EXPOSURE} or lower`, async (t) => {
  const r = await execHost(['systemd-analyze', 'security', '--offline=true', '--no-pager', unitPath], { timeoutMs: 30_000 });
  const m = /Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout + r.stderr);
  assert.ok(m !== null, r.stdout + r.stderr);
  const score = Number(m[1]);
  assert.ok(score <= MAX_EXPOSURE, `exposure ${score}`);
  t.diagnostic(`exposure ${score}`);
});

test('in the unit\'s sandbox (its user, capabilities and system call filter) the daemon captures real connections and writes their files', async (t) => {
  const n = net!;
  const allowed = await allowedSyscalls();
  const datadir = join(work, 'spool');
  mkdirSync(datadir, { mode: 0o775 });
  chownSync(datadir, NOBODY, NOBODY);
  // As the unit's tmpfiles.d makes it.
  const staging = join(work, '.spool.staging');
  mkdirSync(staging, { mode: 0o770 });
  chownSync(staging, NOBODY, NOBODY);
  // strace runs as the unit's user too (ptrace of its own child needs no privilege).
  const traceDir = join(work, 'trace');
  mkdirSync(traceDir);
  chownSync(traceDir, NOBODY, NOBODY);
  const trace = join(traceDir, 'syscalls');
  const site = join(work, 'site');
  // The unit's flags, with this test's datadir and interface.
  const places = new Map([['/var/spool/packet-headers', datadir], ['/var/spool/.packet-headers.staging', staging]]);
  const flags = one('ExecStart').split(/\s+/).slice(1).map((a) => places.get(a) ?? a);
  const denied = `!${[...allowed].sort().map((c) => `?${c}`).join(",")}`;
  const daemon = spawnDaemon(n, n.serverNs, [...flags, '-interface', n.serverIf, '-sigtermwait', '200ms'], [
    ...sandboxWrapper(),
    'strace', '-f', '-qq', '-y', '-o', trace, `--inject=${denied}:error=EPERM`,
  ]);
  const { stderr } = daemon;
  const connections = 20;
  try {
    await waitUntilCapturing(daemon, 30_000);
    await startHttpServer(n, site, 8080, 'systemd sandbox\n'.repeat(200));
    assert.equal(await curlRequests(n, 8080, connections), connections);
    await new Promise((res) => setTimeout(res, 500));
  } finally {
    // strace is the spawned process (ip netns exec and setpriv exec it); the daemon is its child, and strace exits with it.
    const children = readFileSync(`/proc/${daemon.child.pid}/task/${daemon.child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    for (const pid of children) process.kill(Number(pid), 'SIGTERM');
    const killer = setTimeout(() => daemon.child.kill('SIGKILL'), 20_000);
    await daemon.exited;
    clearTimeout(killer);
  }
  assert.equal(daemon.child.exitCode, 0, stderr.text());
  const files = readdirSync(datadir, { recursive: true }).map(String).filter((f) => f.endsWith('.pcap.gz'));
  // The one warm-up request and the counted ones: each its own connection, each its own file.
  assert.equal(files.length, connections + 1, files.join(', '));
  let packets = 0;
  for (const f of files) packets += (await readPcapWithTshark(join(datadir, f), ['tcp.flags'])).length;
  assert.ok(packets >= (connections + 1) * 8, `${packets} packets in the files`);

  // What the trace shows the daemon did, against the unit's other restrictions.
  const lines = readFileSync(trace, 'utf8').split('\n');
  // A family outside the list gets EAFNOSUPPORT under the unit, which is also
  // what a kernel without it answers (libpcap's device listing probes
  // Bluetooth): such calls must have failed that way in this run too.
  const sockets = lines.flatMap((l) => {
    const m = /\bsocket\((AF_[A-Z0-9]+),.*\)\s+= (-1 \w+|\d+)/.exec(l);
    return m === null ? [] : [{ family: m[1], result: m[2] }];
  });
  const allowedFamilies = new Set(one('RestrictAddressFamilies').split(/\s+/));
  for (const { family, result } of sockets) {
    if (!allowedFamilies.has(family)) assert.equal(result, '-1 EAFNOSUPPORT', `socket(${family}) is outside RestrictAddressFamilies= and succeeded`);
  }
  const families = new Set(sockets.filter((s) => !s.result.startsWith('-1')).map((s) => s.family));
  const writable = [...one('ReadWritePaths').split(/\s+/).map((p) => places.get(p) ?? p), ...(one('PrivateTmp') === 'yes' ? ['/tmp'] : []), '/dev/null'];
  assert.deepEqual(readdirSync(staging, { recursive: true }).map(String).filter((f) => f.endsWith('.pcap.gz')), [], 'nothing left in the staging directory');
  // A name relative to a directory's descriptor (strace -y shows it as N</its/path>) is made whole.
  const at = (dirfd: string, name: string) => {
    const dir = /^\d+<(.*)>$/.exec(dirfd);
    if (dir === null || name.startsWith('/')) return name;
    return name === '.' ? dir[1] : `${dir[1]}/${name}`;
  };
  const written = lines.flatMap((l) => {
    const open = /\bopenat\(([^,]+), "([^"]+)", ([A-Z_|]+)/.exec(l);
    if (open !== null && /O_WRONLY|O_RDWR|O_CREAT/.test(open[3]) && !/= -1/.test(l)) return [at(open[1], open[2])];
    if (/= -1/.test(l)) return [];
    // linkat writes only its new name: the old one is the descriptor of a file made unnamed (O_TMPFILE), or /proc/self/fd/N.
    const link = /\blinkat\([^,]+, "[^"]*", ([^,]+), "([^"]+)"/.exec(l);
    if (link !== null) return [at(link[1], link[2])];
    const rename = /\brename(?:at2?)?\((?:AT_FDCWD, )?"([^"]+)", (?:AT_FDCWD, )?"([^"]+)"/.exec(l);
    if (rename !== null) return [rename[1], rename[2]];
    const change = /\b(?:mkdir|unlink|unlinkat)\((?:AT_FDCWD, )?"([^"]+)"/.exec(l);
    return change !== null ? [change[1]] : [];
  });
  for (const path of written) assert.ok(writable.some((w) => path === w || path.startsWith(`${w}/`)), `${path} is written outside ReadWritePaths=`);
  const refused = new Set(lines.flatMap((l) => (/ = -1 EPERM \(Operation not permitted\) \(INJECTED\)/.test(l) ? [/^\d+\s+(\w+)\(/.exec(l)?.[1] ?? '?'] : [])));
  t.diagnostic(`${files.length} files, ${packets} packets; address families ${[...families].join(' ')}; refused by the filter and tolerated: ${[...refused].join(' ') || 'none'}`);
});
