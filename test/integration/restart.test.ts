// A daemon restart while a connection lives on: the built-in flow source names
// the connection again with the same UUID (its socket cookie), so the second
// run's records must join the first run's file instead of replacing it
// (buffered) or writing a second pcap header into it (-stream). The file must
// hold every packet of the connection, SYN to FIN, as tcpdump saw them.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { walkFiles } from '../helpers/files.js';
import {
  createTestNetwork,
  execHost,
  LineCollector,
  readPcapWithTshark,
  startTcpdump,
  startTcpServer,
  waitFor,
  type TcpServer,
  type TestNetwork,
} from '../helpers/netns.js';

const repo = join(import.meta.dirname, '../../..');
const bin = join(repo, 'bin/packet-headers.js');
const PREFIX = 'restart-site1_1700000000';
const port = 8091;

interface RunningDaemon {
  stderr: LineCollector;
  stop(): Promise<number | null>;
}

async function startDaemon(net: TestNetwork, datadir: string, prefixFile: string, extra: string[]): Promise<RunningDaemon> {
  const child = net.spawn(net.serverNs, [
    process.execPath, bin, '-interface', net.serverIf, '-datadir', datadir, '-uuid-prefix-file', prefixFile,
    '-prometheusx.listen-address', '127.0.0.1:0', '-sigtermwait', '300ms', ...extra,
  ]);
  const stderr = new LineCollector(child.stderr);
  child.stdout?.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await waitFor(() => stderr.lines.some((l) => l.includes('capturing on')) || child.exitCode !== null, 15_000, 'daemon capturing');
  assert.equal(child.exitCode, null, `daemon exited early: ${stderr.text()}`);
  return {
    stderr,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** A client that connects, then sends when told ("send N") and closes when told ("close"), printing what it got back. */
function startClient(net: TestNetwork): { child: ChildProcess; out: LineCollector; command(line: string): void } {
  const child = net.spawn(
    net.clientNs,
    [
      process.execPath,
      '-e',
      `const s = require('node:net').connect(${port}, ${JSON.stringify(net.serverV4)});
       let got = 0;
       s.on('connect', () => console.log('connected'));
       s.on('data', (d) => { got += d.length; console.log('echoed ' + got); });
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


describe('restart mid-connection (built-in flow source)', () => {
  let net: TestNetwork;
  let server: TcpServer;
  let work: string;
  let prefixFile: string;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'ph-restart-'));
    prefixFile = join(work, 'prefix');
    writeFileSync(prefixFile, PREFIX);
    net = await createTestNetwork();
    server = await startTcpServer(net, net.serverNs, [{ host: net.serverV4, port }]);
  });

  after(async () => {
    await server?.stop();
    await net?.destroy();
    rmSync(work, { recursive: true, force: true });
  });

  for (const mode of [{ name: 'buffered', flags: [] as string[] }, { name: '-stream', flags: ['-stream'] }]) {
    test(`${mode.name}: the connection's file holds every packet of both runs, equal to tcpdump's, one pcap`, async (t) => {
      const datadir = join(work, mode.name);
      const tcpdumpFile = join(work, `${mode.name}.pcap`);
      const tcpdump = await startTcpdump(net, net.serverNs, net.serverIf, tcpdumpFile, `tcp port ${port}`);
      const skip = server.accepts().length;
      const first = await startDaemon(net, datadir, prefixFile, mode.flags);
      const client = startClient(net);
      try {
        await waitFor(() => client.out.lines.includes('connected'), 10_000, 'connected');
        client.command('send 3000');
        await waitFor(() => client.out.lines.includes('echoed 3000'), 10_000, 'first echo');
        const accept = await waitFor(() => server.accepts()[skip] ?? null, 10_000, 'accept');
        // Delayed ACKs settle well within this; nothing is sent while no daemon runs.
        await new Promise((r) => setTimeout(r, 1000));
        assert.equal(await first.stop(), 0, first.stderr.text());

        const second = await startDaemon(net, datadir, prefixFile, mode.flags);
        client.command('send 5000');
        await waitFor(() => client.out.lines.includes('echoed 8000'), 10_000, 'second echo');
        client.command('close');
        await waitFor(() => client.out.lines.includes('closed'), 10_000, 'closed');
        await new Promise((r) => setTimeout(r, 1000));
        assert.equal(await second.stop(), 0, second.stderr.text());
        await tcpdump.stop();

        const name = `${PREFIX}_${accept.cookie}.pcap.gz`;
        const files = walkFiles(datadir);
        assert.deepEqual(files.map((f) => f.slice(f.lastIndexOf('/') + 1)), [name], 'one file, no numbered second file, no temporary file');
        const fields = ['frame.len', 'tcp.seq_raw', 'tcp.ack_raw', 'tcp.flags'];
        const expected = await readPcapWithTshark(tcpdumpFile, fields, `tcp.port==${accept.rport}`);
        const got = await readPcapWithTshark(files[0]!, fields);
        const key = (rows: string[][]) => rows.map((row) => row.join(' ')).sort();
        assert.deepEqual(key(got), key(expected), 'packet for packet as tcpdump saw them');
        assert.ok(got.some((r) => r[3] === '0x0002'), 'the SYN of the first run is there');
        assert.ok(got.some((r) => (Number(r[3]) & 1) === 1), 'the FIN of the second run is there');
        assert.match(second.stderr.text(), /existed with the same pcap header: this flow's records were appended to it/);
        // tshark reads it without complaint (a second pcap header mid-file is "damaged" to it).
        const check = await execHost(['tshark', '-r', files[0]!], { timeoutMs: 60_000 });
        assert.equal(check.code, 0, check.stderr);
        assert.doesNotMatch(check.stderr, /damaged|cut short|corrupt|error/i, check.stderr);
        t.diagnostic(`${got.length} packets in ${name}, ${expected.length} in tcpdump's capture`);
      } finally {
        client.child.kill('SIGKILL');
        await tcpdump.stop();
      }
    });
  }
});
