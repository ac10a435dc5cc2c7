// The Kubernetes manifests (deploy/kubernetes): their pod templates hold what
// an operator relies on (M-Lab's security context, memory limit above
// -maxheap, probes, scrape annotations), and `podman kube play` runs each
// template as a pod with the image of `make image`. podman 4.3 plays no
// DaemonSet, so the test plays the template as a Pod, from inside a network
// namespace of the test's (the pod's host network), with the hostPath volume
// in a temporary directory. In the M-Lab pod, tcp-info and the uploader (images
// this machine cannot pull) are played by stand-ins on the same image: an
// event server on the shared socket, and an idle process.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { parseByteSize } from '../../src/config/units.js';
import { curlRequests, startHttpServer } from '../helpers/httpload.js';
import { readPcapWithTshark } from '../helpers/captures.js';
import { createTestNetwork, type TestNetwork } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';

const repo = join(import.meta.dirname, '../../..');
const podman = join(repo, 'scripts/podman.sh');
const NOBODY = 65534;

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  securityContext?: { runAsUser?: number; runAsGroup?: number; capabilities?: { add?: string[]; drop?: string[] } };
  resources?: { limits?: { memory?: string } };
  livenessProbe?: unknown;
  readinessProbe?: unknown;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}
interface PodSpec {
  hostNetwork?: boolean;
  dnsPolicy?: string;
  initContainers?: Container[];
  containers: Container[];
  volumes: Array<{ name: string; hostPath?: { path: string; type?: string }; emptyDir?: object }>;
}
interface DaemonSet {
  kind: string;
  metadata: { name: string };
  spec: { template: { metadata: { annotations?: Record<string, string>; labels?: Record<string, string> }; spec: PodSpec } };
}

function run(argv: string[], timeoutMs = 120_000) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, out: r.stdout ?? '', err: r.stderr ?? '' };
}

function manifest(name: string): DaemonSet {
  return parse(readFileSync(join(repo, 'deploy/kubernetes', name), 'utf8')) as DaemonSet;
}

function daemonOf(spec: PodSpec): Container {
  const c = spec.containers.find((x) => x.name === 'packet-headers');
  assert.ok(c !== undefined, 'a packet-headers container');
  return c;
}

function flag(c: Container, name: string): string | undefined {
  return c.args?.find((a) => a.startsWith(`-${name}=`))?.slice(name.length + 2);
}

let work = '';
let net: TestNetwork | undefined;
const played: string[] = [];

before(async () => {
  const built = run([join(repo, 'scripts/build-image.sh')], 900_000);
  assert.equal(built.code, 0, built.err);
  work = mkdtempSync(join(tmpdir(), 'ph-kube-'));
  chmodSync(work, 0o755);
  net = await createTestNetwork();
});

after(async () => {
  for (const file of played) run([podman, 'kube', 'down', file], 60_000);
  await net?.destroy();
  rmSync(work, { recursive: true, force: true });
});

/** The template as a Pod podman can play here: in the test's server namespace, hostPath volumes under the test's directory. */
function playable(ds: DaemonSet, podName: string, replace: (c: Container) => Container = (c) => c): { file: string; hostPaths: Map<string, string> } {
  const spec: PodSpec = structuredClone(ds.spec.template.spec);
  delete spec.dnsPolicy;
  const hostPaths = new Map<string, string>();
  for (const v of spec.volumes) {
    if (v.hostPath === undefined) continue;
    const dir = join(work, podName, v.name);
    mkdirSync(dir, { recursive: true });
    hostPaths.set(v.hostPath.path, dir);
    v.hostPath = { path: dir, type: 'Directory' };
  }
  // Ports are informational with hostNetwork; podman 4.3 would try to publish them.
  spec.containers = spec.containers.map(replace).map((c) => {
    const { ports: _ports, ...rest } = c as Container & { ports?: unknown };
    return rest;
  });
  // podman 4.3 restarts a pod's init containers under restartPolicy Always
  // (a DaemonSet's only policy), so kube play never finishes them.
  const podSpec = { ...spec, restartPolicy: 'Never' };
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: podName, labels: ds.spec.template.metadata.labels, annotations: ds.spec.template.metadata.annotations }, spec: podSpec };
  const file = join(work, `${podName}.yaml`);
  writeFileSync(file, stringify(pod));
  return { file, hostPaths };
}

function play(file: string): void {
  played.push(file);
  // hostNetwork: podman gives the pod its own network namespace, which is the test's server namespace here.
  // nsenter, not ip netns exec, which mounts a sysfs of the namespace's own without the cgroup file systems podman needs.
  const r = inPodNetwork(['kube', 'play', file], 180_000);
  assert.equal(r.code, 0, r.out + r.err);
}

function logs(container: string): string {
  const r = run([podman, 'logs', container]);
  return r.out + r.err;
}

/** podman in the pod's host network (the test's server namespace), as kube play ran it: exec and health checks see the pod's 127.0.0.1. */
function inPodNetwork(args: string[], timeoutMs?: number) {
  return run(['nsenter', `--net=/run/netns/${net!.serverNs}`, podman, ...args], timeoutMs);
}

function scrape(container: string, port: string): string {
  const r = inPodNetwork(['exec', container, 'node', '-e', `fetch('http://127.0.0.1:${port}/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))`]);
  assert.equal(r.code, 0, r.err);
  return r.out;
}

for (const name of ['packet-headers-standalone.yaml', 'packet-headers-mlab.yaml']) {
  test(`${name}: a DaemonSet whose daemon runs as M-Lab's does (uid 65534, only NET_RAW), with a memory limit above -maxheap, probes and scrape annotations`, () => {
    const ds = manifest(name);
    assert.equal(ds.kind, 'DaemonSet');
    const { spec, metadata } = ds.spec.template;
    assert.equal(spec.hostNetwork, true, 'the node\'s own network is captured');
    const daemon = daemonOf(spec);
    assert.equal(daemon.securityContext?.runAsUser, NOBODY);
    assert.deepEqual(daemon.securityContext?.capabilities, { drop: ['all'], add: ['NET_RAW'] });
    const maxheap = parseByteSize(flag(daemon, 'maxheap') ?? '8GB');
    const limit = daemon.resources?.limits?.memory ?? '';
    const limitBytes = Number(limit.replace(/Gi$/, '')) * 2 ** 30 || Number(limit.replace(/G$/, '')) * 1e9;
    assert.ok(limitBytes > maxheap, `memory limit ${limit} above -maxheap ${maxheap}`);
    assert.ok(daemon.livenessProbe !== undefined && daemon.readinessProbe !== undefined, 'probes');
    const port = (flag(daemon, 'prometheusx.listen-address') ?? ':9990').split(':').pop();
    assert.equal(metadata.annotations?.['prometheus.io/scrape'], 'true');
    assert.equal(metadata.annotations?.['prometheus.io/port'], port);
    const datadir = flag(daemon, 'datadir') ?? '';
    assert.ok(daemon.volumeMounts?.some((m) => datadir.startsWith(m.mountPath)), 'the datadir is a mounted volume');
  });
}

test('podman kube play of the standalone template: the pod captures real connections and names them itself; its liveness probe passes', async (t) => {
  const n = net!;
  const podName = `ph-standalone-${process.pid}`;
  const { file, hostPaths } = playable(manifest('packet-headers-standalone.yaml'), podName);
  const datadir = hostPaths.get('/var/spool/packet-headers')!;
  play(file);
  const container = `${podName}-packet-headers`;
  const connections = 10;
  await waitFor(() => logs(container).includes('capturing on'), 60_000, 'daemon capturing in the pod');
  await startHttpServer(n, join(work, 'site'), 8080, 'kube\n'.repeat(300));
  assert.equal(await curlRequests(n, 8080, connections), connections);
  const health = inPodNetwork(['healthcheck', 'run', container]);
  assert.equal(health.code, 0, `liveness probe: ${health.out}${health.err}`);
  await new Promise((res) => setTimeout(res, 500));
  const stop = inPodNetwork(['pod', 'stop', '-t', '30', podName], 60_000);
  assert.equal(stop.code, 0, stop.err);
  const stopped = logs(container);
  const down = run([podman, 'kube', 'down', file], 90_000);
  assert.equal(down.code, 0, down.err);
  played.splice(played.indexOf(file), 1);
  const files = readdirSync(datadir, { recursive: true }).map(String).filter((f) => f.endsWith('.pcap.gz'));
  assert.equal(files.length, connections + 1, `${files.join(', ')}\n${stopped}`);
  for (const f of files) assert.ok((await readPcapWithTshark(join(datadir, f), ['tcp.flags'])).length >= 8, f);
  t.diagnostic(`${connections + 1} connections, ${files.length} files`);
});

test('podman kube play of the M-Lab template: packet-headers connects to the event socket that tcp-info serves in the shared volume', async () => {
  const podName = `ph-mlab-${process.pid}`;
  const ds = manifest('packet-headers-mlab.yaml');
  const ours = daemonOf(ds.spec.template.spec).image;
  const socket = flag(daemonOf(ds.spec.template.spec), 'tcpinfo.eventsocket')!;
  const { file } = playable(ds, podName, (c) => {
    if (c.name === 'tcp-info') {
      // An event server on the socket path tcp-info would serve, as tcp-info's user.
      return { ...c, image: ours, command: ['node', '-e', `require('net').createServer(() => {}).listen(${JSON.stringify(socket)})`], args: [] };
    }
    if (c.name === 'pusher') return { ...c, image: ours, command: ['sleep', 'infinity'], args: [] };
    return c;
  });
  play(file);
  const container = `${podName}-packet-headers`;
  const port = (flag(daemonOf(ds.spec.template.spec), 'prometheusx.listen-address') ?? '').split(':').pop()!;
  await waitFor(() => /^pcap_tcpinfohandler_connected 1$/m.test(scrape(container, port)), 60_000, `connected to ${socket}: ${logs(container)}`);
  const down = run([podman, 'kube', 'down', file], 90_000);
  assert.equal(down.code, 0, down.err);
  played.splice(played.indexOf(file), 1);
});
