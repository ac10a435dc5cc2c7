// tcp-info's event socket misbehaving: 100,000 bad lines of every kind, a
// 10 MiB line without newline, and 100 abrupt disconnects. The daemon must
// stay up with bounded memory, count each bad line by reason, reconnect every
// time, and still save the flow announced after each reconnect.
//
//   node dist/hardening/eventsocket-abuse.js [rounds=100] [badLinesPerRound=1000]
//
// It captures on loopback only and talks to itself over 127.0.0.1.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer as createTcpServer, connect, type Socket } from 'node:net';
import { createServer as createUnixServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metricSum } from '../test/helpers/scrape.js';

const repo = join(import.meta.dirname, '../..');
const rounds = Number(process.argv[2] ?? 100);
const badPerRound = Number(process.argv[3] ?? 1000);

const BAD_LINES = [
  'not json at all',
  '{"Event":0',
  '[1,2,3]',
  '{"Event":7,"Timestamp":"2019-08-21T16:10:00Z","UUID":"x","ID":null}',
  '{"Event":0,"Timestamp":"2019-08-21T16:10:00Z","UUID":42,"ID":{}}',
  '{"Event":0,"Timestamp":"2019-08-21T16:10:00Z","UUID":"../x","ID":{"SPort":1,"DPort":2,"SrcIP":"127.0.0.1","DstIP":"127.0.0.1"}}',
  '{"Event":0,"Timestamp":"yesterday","UUID":"u","ID":{"SPort":1,"DPort":2,"SrcIP":"127.0.0.1","DstIP":"127.0.0.1"}}',
  '{"Event":0,"Timestamp":"2019-08-21T16:10:00Z","UUID":"u","ID":{"SPort":1e400,"DPort":2,"SrcIP":"127.0.0.1","DstIP":"127.0.0.1"}}',
  '{"Event":0,"Timestamp":"2019-08-21T16:10:00Z","UUID":"u","ID":{"SPort":1,"DPort":2,"SrcIP":"999.1.1.1","DstIP":"127.0.0.1"}}',
  '{"Event":0,"Timestamp":"2019-08-21T16:10:00Z","UUID":"u","ID":"nope"}',
];

async function scrape(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  return response.text();
}

async function main(): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'ph-abuse-'));
  const socketPath = join(work, 'events.sock');
  const datadir = join(work, 'data');
  const clients: Socket[] = [];
  const events = createUnixServer((socket) => {
    socket.on('error', () => {});
    clients.push(socket);
  });
  await new Promise<void>((resolve) => events.listen(socketPath, resolve));
  const echo = createTcpServer((s) => s.on('data', (d) => s.write(d)).on('error', () => {}));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  const echoPort = (echo.address() as { port: number }).port;
  const metricsPort = 20000 + (process.pid % 20000);

  const daemon = spawn(process.execPath, [
    join(repo, 'bin/packet-headers.js'),
    '-interface', 'lo',
    '-datadir', datadir,
    '-tcpinfo.eventsocket', socketPath,
    '-prometheusx.listen-address', `127.0.0.1:${metricsPort}`,
    '-flowtimeout', '2s',
    '-captureduration', '3s',
    '-uuidwaitduration', '3s',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  daemon.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => daemon.on('exit', (code) => resolve(code)));
  const until = async (predicate: () => boolean, ms: number, what: string) => {
    for (const deadline = Date.now() + ms; !predicate(); ) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${stderr}`);
      if (daemon.exitCode !== null) throw new Error(`daemon exited (${daemon.exitCode}) while waiting for ${what}\n${stderr}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  let peakRss = 0;
  let failures = 0;
  try {
    await until(() => stderr.includes('capturing on'), 15_000, 'capture start');
    for (let round = 0; round < rounds; round++) {
      await until(() => clients.length > round, 15_000, `connection ${round + 1}`);
      const client = clients[round];
      const lines: string[] = [];
      for (let i = 0; i < badPerRound; i++) lines.push(BAD_LINES[(round + i) % BAD_LINES.length]);
      client.write(`${lines.join('\n')}\n`);
      if (round === 0) client.write(`${'x'.repeat(10 * 1024 * 1024)}\n`); // one 10 MiB line
      // A real connection, announced after the garbage.
      const socket = connect(echoPort, '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      const open = {
        Event: 0,
        Timestamp: new Date().toISOString(),
        UUID: `abuse_${round}`,
        ID: { SPort: socket.localPort, DPort: echoPort, SrcIP: '127.0.0.1', DstIP: '127.0.0.1', Interface: 0, Cookie: round },
      };
      client.write(`${JSON.stringify(open)}\n`);
      socket.write('ping');
      await new Promise((r) => setTimeout(r, 20));
      socket.end();
      // Hang up in the middle of a line. (end, not destroy: destroy would also
      // drop what Node has not yet handed to the kernel, the 10 MiB line and
      // the Open event behind it.)
      client.end('{"Event":0,"Timesta');
      await new Promise((resolve) => client.once('close', resolve));
      if (round % 10 === 0) peakRss = Math.max(peakRss, metricSum(await scrape(metricsPort), /^process_resident_memory_bytes /));
    }
    await until(() => clients.length > rounds, 15_000, 'final reconnect');
    const text = await scrape(metricsPort);
    peakRss = Math.max(peakRss, metricSum(text, /^process_resident_memory_bytes /));
    const bad = metricSum(text, /^pcap_tcpinfohandler_bad_events_total\{/);
    const toolong = metricSum(text, /^pcap_tcpinfohandler_bad_events_total\{reason="toolong"\}/);
    daemon.kill('SIGTERM');
    const code = await exited;
    const files = readdirSync(datadir, { recursive: true }).filter((f) => String(f).endsWith('.pcap.gz'));
    const missing = Array.from({ length: rounds }, (_, i) => `abuse_${i}`).filter((u) => !files.some((f) => String(f).endsWith(`/${u}.pcap.gz`)));
    if (missing.length > 0) console.log(`missing: ${missing.join(' ')}\n${stderr}`);
    const report = {
      rounds,
      badLinesSent: rounds * badPerRound + 1,
      badLinesCounted: bad,
      toolong,
      filesSaved: files.length,
      peakRssMiB: Math.round(peakRss / 2 ** 20),
      exitCode: code,
    };
    console.log(JSON.stringify(report, null, 2));
    if (bad !== report.badLinesSent) failures++;
    if (files.length !== rounds) failures++;
    if (peakRss > 300 * 2 ** 20) failures++;
    if (code !== 0) failures++;
  } finally {
    if (daemon.exitCode === null) daemon.kill('SIGKILL');
    for (const c of clients) c.destroy();
    events.close();
    echo.close();
    rmSync(work, { recursive: true, force: true });
  }
  return failures === 0 ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
