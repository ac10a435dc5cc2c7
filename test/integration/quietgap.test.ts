// A connection that goes quiet for longer than -flowtimeout and then sends
// again (here: the client closes 3 s after its data, -flowtimeout 1s) keeps
// every packet under its UUID: the flow is closed and its file written at the
// timeout, and the packets after the gap go to a file of the connection's own
// continuation name. Compared packet for packet with an independent tcpdump,
// with tcp-info's event socket and with the built-in flow source.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { spawnDaemon, waitUntilCapturing } from '../helpers/daemonprocess.js';
import { FakeTcpInfo } from '../helpers/faketcpinfo.js';
import { walkFiles } from '../helpers/files.js';
import { compareWithTcpdump, inCaptureOrder, startReferenceCapture } from '../helpers/flowcompare.js';
import { useNetworkFixture } from '../helpers/netfixture.js';
import { runTcpClient, type TcpServer } from '../helpers/tcppeer.js';
import { waitFor } from '../helpers/wait.js';
import { parsePcapGz } from '../helpers/pcapread.js';
import { readFileSync } from 'node:fs';

const port = 8097;
const CONNECTIONS = 4;

describe('a connection quiet for longer than -flowtimeout', () => {
  const fx = useNetworkFixture('ph-quiet-');
  let server: TcpServer;

  before(async () => {
    server = await fx.startServer([{ host: fx.net.serverV4, port }]);
  });

  for (const source of ['event socket', 'built-in flow source']) {
    for (const mode of [{ name: 'buffered', flags: [] as string[] }, { name: '-stream', flags: ['-stream'] }]) {
      test(`${source}, ${mode.name}: the packets after the gap are saved under the connection's UUID`, async (t) => {
        const { net, work } = fx;
        const root = join(work, `${source.replaceAll(' ', '-')}${mode.name}`);
        const datadir = join(root, 'data');
        mkdirSync(root, { recursive: true });
        const tcpdump = await startReferenceCapture(net, net.serverNs, net.serverIf, join(root, 'reference.pcap'));
        const tcpinfo = source === 'event socket' ? new FakeTcpInfo(root) : null;
        await tcpinfo?.listen();
        const daemon = spawnDaemon(net, net.serverNs, [
          '-interface', net.serverIf, '-datadir', datadir,
          '-prometheusx.listen-address', '127.0.0.1:0', '-flowtimeout', '1s', '-uuidwaitduration', '2s', '-sigtermwait', '300ms',
          ...(tcpinfo === null ? [] : ['-tcpinfo.eventsocket', tcpinfo.path]), ...mode.flags,
        ]);
        const { stderr } = daemon;
        const skip = server.accepts().length;
        const announced = new Set<string>();
        const announcer = setInterval(() => {
          for (const a of server.accepts().slice(skip)) {
            if (announced.has(a.cookie)) continue;
            announced.add(a.cookie);
            tcpinfo?.announce(a, `quiet_${a.cookie}`);
          }
        }, 5);
        try {
          await waitUntilCapturing(daemon);
          if (tcpinfo !== null) await waitFor(() => tcpinfo.connected > 0, 10_000, 'connected to the event socket');
          const r = await runTcpClient(net, net.clientNs, { connect: { host: net.serverV4, port }, count: CONNECTIONS, concurrency: CONNECTIONS, size: 3000, delayCloseS: 3 });
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.summary?.ok, CONNECTIONS, r.stderr);
          await new Promise((resolve) => setTimeout(resolve, 2500));
          assert.equal(await daemon.stop(), 0, stderr.text());
        } finally {
          clearInterval(announcer);
          await tcpinfo?.close();
          await tcpdump.stop().catch(() => '');
        }
        const files = inCaptureOrder(walkFiles(datadir));
        const cmp = await compareWithTcpdump(tcpdump.file, files, (key) => key.includes(`|${port}|`));
        assert.equal(cmp.connections, CONNECTIONS);
        assert.deepEqual({ missing: cmp.missing, mixed: cmp.mixed, differing: cmp.differing }, { missing: [], mixed: [], differing: [] }, stderr.text());
        // Each connection: its first file under the UUID, the one after the gap under a name of its own.
        const byUuid = new Map<string, string[]>();
        for (const f of files) {
          const name = f.slice(f.lastIndexOf('/') + 1);
          const m = /^(.+_[0-9A-F]{16})(\.\d{8}T\d{6}\.\d{3}Z)?\.pcap\.gz$/.exec(name);
          assert.ok(m !== null, name);
          byUuid.set(m[1], [...(byUuid.get(m[1]) ?? []), name]);
        }
        assert.equal(byUuid.size, CONNECTIONS);
        for (const [uuid, names] of byUuid) {
          assert.equal(names.length, 2, names.join(', '));
          assert.equal(names[0], `${uuid}.pcap.gz`);
          const last = parsePcapGz(readFileSync(files.find((f) => f.endsWith(names[1]))!));
          assert.ok(last.records.length >= 2, 'the FIN exchange after the gap');
        }
        t.diagnostic(`${cmp.packets} packets in ${files.length} files`);
      });
    }
  }
});
