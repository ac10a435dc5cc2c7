// SIGTERM under load: connections keep coming while the daemon is told to stop.
// It must exit 0 within -sigtermwait + 1 s, and every packet it captured for a
// flow that had its UUID must be in that flow's file — checked against an
// independent tcpdump capture: every packet of an announced flow seen before
// the signal is in the file.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileInWindow } from '../helpers/dates.js';
import { FakeTcpInfo } from '../helpers/faketcpinfo.js';
import { readPcapWithTshark, startTcpdump } from '../helpers/captures.js';
import { startCapturingDaemon } from '../helpers/daemonprocess.js';
import { useNetworkFixture } from '../helpers/netfixture.js';
import { type AcceptEvent, runTcpClient, startTcpServer } from '../helpers/tcppeer.js';
import { waitFor } from '../helpers/wait.js';

const fx = useNetworkFixture('ph-sigterm-');

test('SIGTERM under load: exit 0 in time, every captured packet of every named flow written', async (t) => {
  const { net, work } = fx;
  const tcpinfo = new FakeTcpInfo(work);
  await tcpinfo.listen();
  const datadir = join(work, 'data');
  const tcpdump = await startTcpdump(net, net.serverNs, net.serverIf, join(work, 'all.pcap'), 'ip or ip6');
  const daemon = await startCapturingDaemon(net, net.serverNs, [
    '-interface', net.serverIf, '-datadir', datadir, '-tcpinfo.eventsocket', tcpinfo.path,
    '-prometheusx.listen-address', '127.0.0.1:9990', '-sigtermwait', '1s',
  ]);
  const { stderr } = daemon;
  await waitFor(() => tcpinfo.connected > 0, 10_000, 'event socket connected');
  const server = await startTcpServer(net, net.serverNs, [{ host: net.serverV4, port: 8080 }, { host: net.serverV6, port: 8080 }]);
  // `from` and `at` bracket the Open event's timestamp, whose date names the file's directory.
  const announced = new Map<string, { accept: AcceptEvent; from: number; at: number }>();
  const announcer = setInterval(() => {
    for (const a of server.accepts()) {
      if (announced.has(a.cookie)) continue;
      const from = Date.now();
      tcpinfo.announce(a, `load_${a.cookie}`);
      announced.set(a.cookie, { accept: a, from, at: Date.now() });
    }
  }, 2);
  const clients = Promise.all([
    runTcpClient(net, net.clientNs, { connect: { host: net.serverV4, port: 8080 }, count: 100, concurrency: 2, size: 20_000, timeoutS: 20 }),
    runTcpClient(net, net.clientNs, { connect: { host: net.serverV6, port: 8080 }, count: 100, concurrency: 2, size: 20_000, timeoutS: 20 }),
  ]);
  await waitFor(() => announced.size >= 100, 20_000, 'load under way');
  const sigtermAt = Date.now();
  const announcedAtSigterm = announced.size;
  const code = await daemon.stop();
  const exitMs = Date.now() - sigtermAt;
  await clients;
  clearInterval(announcer);
  await server.stop();
  await tcpdump.stop();
  await tcpinfo.close();
  assert.equal(code, 0, stderr.text());
  assert.ok(exitMs < 2000, `exit took ${exitMs} ms\n${stderr.text()}`);

  // Flows announced well before capture stopped must hold every packet tcpdump saw before the signal.
  // Identity of a packet: seq, ack, flags, length (fields 3-6). The family
  // (field 7, the IPv4 source, empty for IPv6) is matched too: a client may
  // use the same port for an IPv4 and an IPv6 connection at once.
  const fields = ['frame.time_epoch', 'tcp.srcport', 'tcp.dstport', 'tcp.seq_raw', 'tcp.ack_raw', 'tcp.flags', 'frame.len', 'ip.src'];
  const identity = (row: string[]) => row.slice(3, 7).join(' ');
  const reference = await readPcapWithTshark(join(work, 'all.pcap'), fields, `tcp && frame.time_epoch < ${sigtermAt / 1000}`);
  let checkedFlows = 0;
  let checkedPackets = 0;
  for (const { accept, from, at } of announced.values()) {
    if (at > sigtermAt + 500) continue;
    const name = `load_${accept.cookie}.pcap.gz`;
    let path = '';
    assert.doesNotThrow(() => (path = fileInWindow(datadir, name, from, at)), `no file for a flow announced ${at - sigtermAt} ms after SIGTERM`);
    const ipv4 = accept.local.includes('.');
    const mine = (row: string[]) =>
      (row[7] !== '') === ipv4 &&
      ((row[1] === String(accept.rport) && row[2] === String(accept.lport)) || (row[2] === String(accept.rport) && row[1] === String(accept.lport)));
    const expected = reference.filter(mine).map(identity);
    const got = new Map<string, number>();
    for (const row of await readPcapWithTshark(path, fields)) {
      const k = identity(row);
      got.set(k, (got.get(k) ?? 0) + 1);
    }
    for (const k of expected) {
      const n = got.get(k) ?? 0;
      assert.ok(n > 0, `${name}: packet ${k} captured before SIGTERM is missing; announced ${at - sigtermAt} ms after SIGTERM; ${expected.length} expected, file has ${[...got.values()].reduce((x, y) => x + y, 0)}: ${[...got.keys()].slice(0, 4).join(' | ')}`);
      got.set(k, n - 1);
    }
    checkedFlows++;
    checkedPackets += expected.length;
  }
  assert.ok(checkedFlows >= 100);
  t.diagnostic(`exit ${exitMs} ms after SIGTERM with ${announcedAtSigterm} of 200 connections made; ${checkedFlows} flows, ${checkedPackets} packets before the signal, all in their files`);
});
