// The container image (`make image`, Containerfile) under M-Lab's security
// context: uid 65534, every capability dropped but NET_RAW. It runs in a
// network namespace this test makes, with the data directory bind-mounted
// from the host; real connections from another namespace give their files,
// which tshark reads and which are owned and moded as docs/output.md says. The
// second case names flows from an event socket bind-mounted from the host.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FakeTcpInfo } from '../helpers/faketcpinfo.js';
import { curlRequests, startHttpServer } from '../helpers/httpload.js';
import { readPcapWithTshark } from '../helpers/captures.js';
import { createTestNetwork, type TestNetwork } from '../helpers/netns.js';
import { runTcpClient, startTcpServer } from '../helpers/tcppeer.js';
import { waitFor } from '../helpers/wait.js';

const repo = join(import.meta.dirname, '../../..');
const podman = join(repo, 'scripts/podman.sh');
const IMAGE = 'localhost/packet-headers:latest';
const NOBODY = 65534;
const started: string[] = [];

function run(argv: string[], timeoutMs = 60_000) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, out: `${r.stdout ?? ''}`, err: `${r.stderr ?? ''}` };
}

let work = '';
let net: TestNetwork | undefined;

before(async () => {
  const built = run([join(repo, 'scripts/build-image.sh')], 900_000);
  assert.equal(built.code, 0, built.err);
  work = mkdtempSync(join(tmpdir(), 'ph-container-'));
  chmodSync(work, 0o755);
  net = await createTestNetwork();
});

after(async () => {
  for (const name of started) run([podman, 'rm', '-f', '-t', '2', name], 30_000);
  await net?.destroy();
  rmSync(work, { recursive: true, force: true });
});

/** Starts the image detached in the test's server namespace, as M-Lab's pod runs it; returns the container's name. */
function startContainer(datadir: string, flags: string[], mounts: string[] = []): string {
  const n = net!;
  const name = `ph-test-${process.pid}-${started.length}`;
  started.push(name);
  const r = run([
    podman, 'run', '-d', '--name', name,
    '--cap-drop', 'all', '--cap-add', 'NET_RAW', '--user', `${NOBODY}:${NOBODY}`,
    '--network', `ns:/run/netns/${n.serverNs}`,
    '-v', `${datadir}:/var/spool/packet-headers`, ...mounts.flatMap((m) => ['-v', m]),
    IMAGE, '-interface', n.serverIf, '-prometheusx.listen-address', '127.0.0.1:9990', '-sigtermwait', '200ms', ...flags,
  ]);
  assert.equal(r.code, 0, r.err);
  return name;
}

function logsOf(name: string): string {
  const r = run([podman, 'logs', name]);
  return r.out + r.err;
}

/** SIGTERM through podman, then the container's exit code. */
function stopContainer(name: string): number {
  run([podman, 'stop', '-t', '20', name], 40_000);
  const r = run([podman, 'inspect', '--format', '{{.State.ExitCode}}', name]);
  return Number(r.out.trim());
}

function datadirFor(label: string): string {
  const dir = join(work, label);
  mkdirSync(dir, { mode: 0o775 });
  chownSync(dir, NOBODY, NOBODY);
  return dir;
}

function pcapFiles(datadir: string): string[] {
  return readdirSync(datadir, { recursive: true }).map(String).filter((f) => f.endsWith('.pcap.gz'));
}

test('uid 65534 with only NET_RAW: real connections give files that tshark reads, mode 0664 in 0775 directories, owned by 65534', async (t) => {
  const n = net!;
  const datadir = datadirFor('builtin');
  const name = startContainer(datadir, []);
  const connections = 10;
  let code = -1;
  try {
    await waitFor(() => logsOf(name).includes('capturing on'), 30_000, 'daemon capturing in the container');
    const pid = Number(run([podman, 'inspect', '--format', '{{.State.Pid}}', name]).out.trim());
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    assert.match(status, new RegExp(`^Uid:\\s+${NOBODY}\\s`, 'm'));
    assert.match(status, /^CapEff:\s+0000000000002000$/m, 'CAP_NET_RAW (bit 13) and nothing else');
    await startHttpServer(n, join(work, 'site'), 8080, 'container\n'.repeat(300));
    assert.equal(await curlRequests(n, 8080, connections), connections);
    await new Promise((res) => setTimeout(res, 500));
  } finally {
    code = stopContainer(name);
  }
  assert.equal(code, 0, logsOf(name));
  const files = pcapFiles(datadir);
  assert.equal(files.length, connections + 1, `one file per connection (and the warm-up): ${files.join(', ')}`);
  let packets = 0;
  for (const f of files) {
    const path = join(datadir, f);
    const st = statSync(path);
    assert.equal(st.uid, NOBODY, `${f} owned by 65534`);
    assert.equal(st.mode & 0o777, 0o664, `${f} mode`);
    assert.equal(statSync(join(path, '..')).mode & 0o777, 0o775, 'day directory mode');
    const rows = await readPcapWithTshark(path, ['tcp.flags']);
    assert.ok(rows.length >= 8, `${f}: ${rows.length} packets`);
    packets += rows.length;
  }
  t.diagnostic(`${connections + 1} connections, ${files.length} files, ${packets} packets`);
});

test('with the event socket bind-mounted from the host, announced flows get their files', async (t) => {
  const n = net!;
  const datadir = datadirFor('eventsocket');
  const sockets = join(work, 'tcpinfo');
  mkdirSync(sockets, { mode: 0o755 });
  const tcpinfo = new FakeTcpInfo(sockets);
  await tcpinfo.listen();
  // tcp-info's socket is connectable by the pod's user (M-Lab shares it in a volume).
  chmodSync(tcpinfo.path, 0o777);
  const name = startContainer(datadir, ['-tcpinfo.eventsocket', '/run/tcpinfo/events.sock'], [`${sockets}:/run/tcpinfo`]);
  const server = await startTcpServer(n, n.serverNs, [{ host: n.serverV4, port: 9000 }]);
  let code = -1;
  const count = 5;
  try {
    await waitFor(() => logsOf(name).includes('capturing on'), 30_000, 'daemon capturing in the container');
    await waitFor(() => tcpinfo.connected > 0, 15_000, 'the container connected to the event socket');
    const announcer = setInterval(() => {
      for (const a of server.accepts()) tcpinfo.announce(a, `container_${a.cookie}`);
    }, 5);
    const result = await runTcpClient(n, n.clientNs, { connect: { host: n.serverV4, port: 9000 }, count, size: 50_000, timeoutS: 15 });
    clearInterval(announcer);
    for (const a of server.accepts()) tcpinfo.announce(a, `container_${a.cookie}`);
    assert.equal(result.code, 0);
    await new Promise((res) => setTimeout(res, 500));
  } finally {
    code = stopContainer(name);
    await server.stop();
    await tcpinfo.close();
  }
  assert.equal(code, 0, logsOf(name));
  const files = pcapFiles(datadir);
  assert.equal(files.length, count, files.join(', '));
  for (const f of files) {
    assert.match(f.split('/').pop()!, /^container_[0-9A-F]{16}\.pcap\.gz$/);
    assert.ok((await readPcapWithTshark(join(datadir, f), ['tcp.flags'])).length > 10);
  }
  t.diagnostic(`${count} announced connections, ${files.length} files`);
});
