// The daemon beside an uploader as M-Lab runs it: pusher watches the datadir
// with inotify (IN_CLOSE_WRITE, IN_MOVED_TO, recursively), ships every file it
// hears of and deletes it. Here inotifywait plays the uploader, copying each
// file it hears of to an archive and deleting it at once. Real connections
// between two namespaces, named over the event socket, flows timing out while
// the daemon runs and at its stop. Every file must be announced exactly once,
// under its final name, complete (equal packet for packet to an independent
// tcpdump capture), and nothing else may be announced.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { spawnDaemon, waitUntilCapturing } from '../helpers/daemonprocess.js';
import { FakeTcpInfo } from '../helpers/faketcpinfo.js';
import { walkFiles } from '../helpers/files.js';
import { compareWithTcpdump, startReferenceCapture } from '../helpers/flowcompare.js';
import { useNetworkFixture } from '../helpers/netfixture.js';
import { runTcpClient, type TcpServer } from '../helpers/tcppeer.js';
import { waitFor } from '../helpers/wait.js';
import { InotifyUploader } from '../helpers/uploader.js';

const port = 8095;
const CONNECTIONS_PER_FAMILY = 20;

/** YYYY/MM/DD of a moment, UTC. */
function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replaceAll('-', '/');
}

describe('an inotify uploader on the datadir', () => {
  const fx = useNetworkFixture('ph-uploader-');
  let server: TcpServer;

  before(async () => {
    server = await fx.startServer([{ host: fx.net.serverV4, port }, { host: fx.net.serverV6, port }]);
  });

  for (const mode of [{ name: 'buffered', flags: ['-stream=false'] }, { name: '-stream', flags: ['-stream'] }]) {
    test(`${mode.name}: every file is announced once, under its final name, complete; nothing else is`, async (t) => {
      const { net, work } = fx;
      const root = join(work, mode.name);
      const datadir = join(root, 'pcap');
      const archive = join(root, 'archive');
      mkdirSync(datadir, { recursive: true });
      const uploader = await InotifyUploader.start(datadir, archive);
      const tcpinfo = new FakeTcpInfo(root);
      await tcpinfo.listen();
      const tcpdump = await startReferenceCapture(net, net.serverNs, net.serverIf, join(root, 'reference.pcap'));
      const daemon = spawnDaemon(net, net.serverNs, [
        '-interface', net.serverIf, '-datadir', datadir,
        '-tcpinfo.eventsocket', tcpinfo.path, '-prometheusx.listen-address', '127.0.0.1:0',
        '-flowtimeout', '1s', '-uuidwaitduration', '3s', '-sigtermwait', '300ms', ...mode.flags,
      ]);
      const { stderr } = daemon;
      const skip = server.accepts().length;
      const uuids = new Set<string>();
      const announcer = setInterval(() => {
        for (const a of server.accepts().slice(skip)) {
          const uuid = `upl_${a.cookie}`;
          if (uuids.has(uuid)) continue;
          uuids.add(uuid);
          tcpinfo.announce(a, uuid);
        }
      }, 5);
      try {
        await waitUntilCapturing(daemon);
        await waitFor(() => tcpinfo.connected > 0, 10_000, 'daemon connected to the event socket');
        // Made ahead: an uploader watches a new directory only once it hears of it.
        for (const d of [day(Date.now()), day(Date.now() + 86_400_000)]) assert.ok(existsSync(join(datadir, d)), `${d} made at start`);

        const results = await Promise.all([
          runTcpClient(net, net.clientNs, { connect: { host: net.serverV4, port }, count: CONNECTIONS_PER_FAMILY, size: 3000 }),
          runTcpClient(net, net.clientNs, { connect: { host: net.serverV6, port }, count: CONNECTIONS_PER_FAMILY, size: 3000 }),
        ]);
        for (const r of results) assert.equal(r.code, 0, r.stderr);
        await waitFor(() => uuids.size === 2 * CONNECTIONS_PER_FAMILY, 5000, 'every connection announced');
        // Most flows time out and are written while the daemon runs; the rest at its stop.
        await waitFor(() => uploader.archived.length >= CONNECTIONS_PER_FAMILY, 10_000, 'files written while running');
        assert.equal(await daemon.stop(), 0, stderr.text());
        await waitFor(() => uploader.archived.length === uuids.size, 5000, `every file shipped (${uploader.archived.length} of ${uuids.size})`).catch(() => {});
        await new Promise((r) => setTimeout(r, 300));
      } finally {
        clearInterval(announcer);
        uploader.stop();
        await tcpinfo.close();
      }
      await tcpdump.stop();

      assert.deepEqual(uploader.unopenable, [], 'nothing announced that is not a file');
      assert.deepEqual(uploader.twice, [], 'no name announced twice');
      const expected = [...uuids].map((u) => `${u}.pcap.gz`).sort();
      assert.deepEqual(uploader.archived.map((n) => n.slice(n.lastIndexOf('/') + 1)).sort(), expected, 'one announcement per connection, under its UUID');
      for (const n of uploader.archived) assert.match(n, /^\d{4}\/\d{2}\/\d{2}\/upl_[0-9A-F]{16}\.pcap\.gz$/);
      assert.deepEqual(walkFiles(datadir), [], 'every file was shipped: none the uploader did not hear of');
      assert.deepEqual(walkFiles(join(root, '.pcap.staging')).filter((f) => f.endsWith('.pcap.gz')), [], 'no file left in the staging directory');
      // Complete when announced: the archived copies, made at the announcement, hold every packet.
      const c = await compareWithTcpdump(tcpdump.file, walkFiles(archive), (key) => key.includes(`|${port}|`));
      assert.deepEqual({ missing: c.missing, split: c.split, mixed: c.mixed, differing: c.differing }, { missing: [], split: [], mixed: [], differing: [] });
      assert.equal(c.connections, 2 * CONNECTIONS_PER_FAMILY);
      t.diagnostic(`${uploader.announcements.length} announcements (${[...new Set(uploader.announcements.map((a) => a.event))].join(', ')}), ${c.packets} packets in ${c.files} files`);
    });
  }
});
