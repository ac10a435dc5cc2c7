// A daemon restart while a connection lives on. The first run writes the
// connection's file at its stop (an uploader may ship and delete it at once);
// the second run must save every later packet under the connection's UUID, in
// a file of its own name (a published file is never written again, and the
// archive never gets two files under one name). Three ways it can go: an
// established connection named by the built-in flow source; a connection the
// server closed first (its socket orphaned, a time-wait socket by the restart)
// whose client's FIN comes after it; and a connection tcp-info announced to
// the first run, which it never announces again. Every packet of the
// connection, as an independent tcpdump saw it, must be in its two files.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { startCapturingDaemon, type DaemonProcess } from '../helpers/daemonprocess.js';
import { FakeTcpInfo } from '../helpers/faketcpinfo.js';
import { walkFiles } from '../helpers/files.js';
import { compareWithTcpdump, inCaptureOrder, startReferenceCapture } from '../helpers/flowcompare.js';
import { useNetworkFixture } from '../helpers/netfixture.js';
import type { TestNetwork } from '../helpers/netns.js';
import { execHost, LineCollector } from '../helpers/processes.js';
import type { TcpServer } from '../helpers/tcppeer.js';
import { waitFor } from '../helpers/wait.js';

const PREFIX = 'restart-site1_1700000000';
const ECHO_PORT = 8091;
const CLOSING_PORT = 8092;

function startDaemon(net: TestNetwork, datadir: string, flags: string[]): Promise<DaemonProcess> {
  return startCapturingDaemon(net, net.serverNs, [
    '-interface', net.serverIf, '-datadir', datadir, '-prometheusx.listen-address', '127.0.0.1:0', '-sigtermwait', '300ms', ...flags,
  ]);
}

/**
 * A client that connects, then sends when told ("send N") and closes when told
 * ("close"), printing what it got back. Half-open allowed: a server's FIN
 * does not close it.
 */
function startClient(net: TestNetwork, port: number): { child: ChildProcess; out: LineCollector; command(line: string): void } {
  const child = net.spawn(
    net.clientNs,
    [
      process.execPath,
      '-e',
      `const s = require('node:net').connect({ port: ${port}, host: ${JSON.stringify(net.serverV4)}, allowHalfOpen: true });
       let got = 0;
       s.on('connect', () => console.log('connected'));
       s.on('data', (d) => { got += d.length; console.log('echoed ' + got); });
       s.on('end', () => console.log('server closed'));
       s.on('error', (e) => { console.error(e.message); process.exit(1); });
       s.on('close', () => { console.log('closed'); process.exit(0); });
       require('node:readline').createInterface({ input: process.stdin }).on('line', (line) => {
         const [verb, n] = line.split(' ');
         if (verb === 'send') s.write(Buffer.alloc(Number(n), 0x42));
         if (verb === 'close') s.end();
       });
       setTimeout(() => process.exit(2), 60000);`,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const out = new LineCollector(child.stdout);
  return { child, out, command: (line) => child.stdin?.write(line + '\n') };
}

const MODES = [
  { name: 'buffered', flags: [] as string[] },
  { name: '-stream', flags: ['-stream'] },
];

describe('restart mid-connection', () => {
  const fx = useNetworkFixture('ph-restart-');
  let echo: TcpServer;
  let closing: TcpServer;
  let prefixFile: string;

  before(async () => {
    prefixFile = join(fx.work, 'prefix');
    writeFileSync(prefixFile, PREFIX);
    echo = await fx.startServer([{ host: fx.net.serverV4, port: ECHO_PORT }]);
    closing = await fx.startServer([{ host: fx.net.serverV4, port: CLOSING_PORT }], { closeAfterBytes: 3000 });
  });

  const CASES = [
    { name: 'built-in flow source, established', port: ECHO_PORT, tcpinfo: false },
    { name: 'built-in flow source, the server closed first', port: CLOSING_PORT, tcpinfo: false },
    { name: 'event socket', port: ECHO_PORT, tcpinfo: true },
  ];
  for (const c of CASES) {
    for (const mode of MODES) {
      test(`${c.name}, ${mode.name}: every packet under the connection's UUID, the second run's in a file of its own name`, async (t) => {
        const { net, work } = fx;
        const root = join(work, `${c.port}-${c.tcpinfo}-${mode.name}`);
        const datadir = join(root, 'data');
        mkdirSync(root, { recursive: true });
        const server = c.port === ECHO_PORT ? echo : closing;
        const tcpdump = await startReferenceCapture(net, net.serverNs, net.serverIf, join(root, 'reference.pcap'));
        const tcpinfo = c.tcpinfo ? new FakeTcpInfo(root) : null;
        await tcpinfo?.listen();
        const flags = [...mode.flags, '-uuid-prefix-file', prefixFile, ...(tcpinfo === null ? [] : ['-tcpinfo.eventsocket', tcpinfo.path])];
        const skip = server.accepts().length;
        const first = await startDaemon(net, datadir, flags);
        if (tcpinfo !== null) await waitFor(() => tcpinfo.connected > 0, 10_000, 'first run connected to the event socket');
        const client = startClient(net, c.port);
        try {
          await waitFor(() => client.out.lines.includes('connected'), 10_000, 'connected');
          client.command('send 3000');
          await waitFor(() => client.out.lines.includes('echoed 3000'), 10_000, 'first echo');
          const accept = await waitFor(() => server.accepts()[skip] ?? null, 10_000, 'accept');
          tcpinfo?.announce(accept, `${PREFIX}_${accept.cookie}`);
          if (c.port === CLOSING_PORT) await waitFor(() => client.out.lines.includes('server closed'), 10_000, "the server's FIN");
          // Delayed ACKs settle well within this; nothing is sent while no daemon runs.
          await new Promise((r) => setTimeout(r, 1000));
          assert.equal(await first.stop(), 0, first.stderr.text());

          const second = await startDaemon(net, datadir, flags);
          if (c.port === ECHO_PORT) {
            client.command('send 5000');
            await waitFor(() => client.out.lines.includes('echoed 8000'), 10_000, 'second echo');
          }
          client.command('close');
          await waitFor(() => client.out.lines.includes('closed'), 10_000, 'closed');
          await new Promise((r) => setTimeout(r, 1000));
          assert.equal(await second.stop(), 0, second.stderr.text());
          await tcpdump.stop();

          const uuid = `${PREFIX}_${accept.cookie}`;
          const files = inCaptureOrder(walkFiles(datadir));
          const names = files.map((f) => f.slice(f.lastIndexOf('/') + 1));
          assert.equal(names.length, 2, `two files: ${names.join(', ')}\n${second.stderr.text()}`);
          assert.equal(names[0], `${uuid}.pcap.gz`, "the first run's file under the UUID");
          assert.match(names[1], new RegExp(`^${uuid}\\.\\d{8}T\\d{6}\\.\\d{3}Z\\.pcap\\.gz$`), "the second run's under a name of its own");
          const cmp = await compareWithTcpdump(tcpdump.file, files, (key) => key.includes(`|${accept.rport}`));
          assert.equal(cmp.connections, 1);
          assert.deepEqual({ missing: cmp.missing, mixed: cmp.mixed, differing: cmp.differing }, { missing: [], mixed: [], differing: [] }, 'packet for packet as tcpdump saw them');
          for (const file of files) {
            const check = await execHost(['tshark', '-r', file], { timeoutMs: 60_000 });
            assert.equal(check.code, 0, check.stderr);
            assert.doesNotMatch(check.stderr, /damaged|cut short|corrupt|error/i, check.stderr);
          }
          t.diagnostic(`${cmp.packets} packets in ${names.join(' and ')}`);
        } finally {
          client.child.kill('SIGKILL');
          await tcpdump.stop().catch(() => '');
          await tcpinfo?.close();
        }
      });
    }
  }
});
