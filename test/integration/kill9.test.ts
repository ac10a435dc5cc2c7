// kill -9 under load, then a restart on the same datadir: the datadir stays
// consistent. The restart removes the temporary files the killed run left
// (and counts them), every .pcap.gz is readable to its end (buffered), or up
// to its last complete gzip member (-stream: a member being appended when the
// kill came may be cut), and a clean stop leaves no temporary file.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { constants, gunzipSync } from 'node:zlib';
import { describe, test } from 'node:test';
import { TEMPORARY_NAME } from '../../src/saver/leftovers.js';
import { startCapturingDaemon, type DaemonProcess } from '../helpers/daemonprocess.js';
import { walkFiles } from '../helpers/files.js';
import { useNetworkFixture } from '../helpers/netfixture.js';
import type { TestNetwork } from '../helpers/netns.js';
import { execHost } from '../helpers/processes.js';
import { runTcpClient, startTcpServer, type TcpClientResult } from '../helpers/tcppeer.js';
import { scrapeMetrics } from '../helpers/scrape.js';

const port = 8092;
const ROUNDS = 2;

function startDaemon(net: TestNetwork, datadir: string, prefixFile: string, flags: string[]): Promise<DaemonProcess> {
  return startCapturingDaemon(net, net.serverNs, [
    '-interface', net.serverIf, '-datadir', datadir, '-uuid-prefix-file', prefixFile,
    '-prometheusx.listen-address', '127.0.0.1:9990', '-sigtermwait', '300ms',
    // Flows are written while the load runs, so the kill can come mid-write.
    '-flowtimeout', '1s', '-captureduration', '2s', '-uuidwaitduration', '1s', ...flags,
  ]);
}

/** Decompresses up to the end of the last complete gzip member (what a tolerant reader gets), cut to whole pcap records. */
function tolerantPcap(bytes: Buffer): { pcap: Buffer; whole: boolean } {
  try {
    return { pcap: gunzipSync(bytes), whole: true };
  } catch {
    const raw = gunzipSync(bytes, { finishFlush: constants.Z_SYNC_FLUSH });
    let at = 24;
    while (at + 16 <= raw.length && at + 16 + raw.readUInt32LE(at + 8) <= raw.length) at += 16 + raw.readUInt32LE(at + 8);
    return { pcap: raw.subarray(0, at), whole: false };
  }
}

for (const mode of [{ name: 'buffered', flags: [] as string[] }, { name: '-stream', flags: ['-stream'] }]) {
  describe(`kill -9 under load (${mode.name})`, () => {
    const fx = useNetworkFixture('ph-kill9-');

    test(`${ROUNDS} kills at random moments: temporary files removed and counted at restart, every file readable`, async (t) => {
      const { net, work } = fx;
      const prefixFile = join(work, 'prefix');
      writeFileSync(prefixFile, 'kill9-site1_1700000000');
      const datadir = join(work, 'data');
      const server = await startTcpServer(net, net.serverNs, [{ host: net.serverV4, port }, { host: net.serverV6, port }]);
      const figures: string[] = [];
      try {
        for (let round = 0; round < ROUNDS; round++) {
          const daemon = await startDaemon(net, datadir, prefixFile, mode.flags);
          // Many short flows and a few long ones, over IPv4 and IPv6. The short ones
          // go on for about 4 s, past the latest kill, so that whenever the kill
          // comes the restarted run still has flows to write.
          const load: Promise<TcpClientResult>[] = [
            runTcpClient(net, net.clientNs, { connect: { host: net.serverV4, port }, count: 60, concurrency: 3, size: 300, delayCloseS: 0.2, timeoutS: 20 }),
            runTcpClient(net, net.clientNs, { connect: { host: net.serverV6, port }, count: 40, concurrency: 2, size: 300, delayCloseS: 0.2, timeoutS: 20 }),
            runTcpClient(net, net.clientNs, { connect: { host: net.serverV4, port }, count: 3, concurrency: 3, size: 400_000, delayCloseS: 3, timeoutS: 30 }),
          ];
          const killAfterMs = Number(process.env.PH_KILL9_AFTER_MS ?? 1000 + Math.floor(Math.random() * 3000));
          await new Promise((r) => setTimeout(r, killAfterMs));
          daemon.child.kill('SIGKILL');
          await daemon.exited;
          const left = walkFiles(datadir).filter((f) => TEMPORARY_NAME.test(basename(f)));
          // One more, as a crash between create and rename would leave it, so the removal is always exercised.
          const day = walkFiles(datadir).map(dirname).find((d) => /\/\d{4}\/\d{2}\/\d{2}$/.test(d)) ?? join(datadir, '2026', '01', '01');
          const planted = join(day, '.planted.pcap.gz.1.tmp');
          mkdirSync(day, { recursive: true });
          writeFileSync(planted, 'partial');

          const restarted = await startDaemon(net, datadir, prefixFile, mode.flags);
          const scrape = await scrapeMetrics(net);
          const removed = /^pcap_saver_leftover_temporary_files_removed_total (\d+)/m.exec(scrape)?.[1];
          assert.equal(Number(removed), left.length + 1, `metric counts the removed temporary files: ${scrape.slice(0, 200)}`);
          assert.match(restarted.stderr.text(), new RegExp(`removed ${left.length + 1} temporary file\\(s\\) left by an earlier run`));
          for (const r of await Promise.all(load)) assert.ok(r.summary !== null, r.stderr);
          // The restarted run writes the flows that went on (and the long ones' rest).
          await new Promise((r) => setTimeout(r, 2500));
          restarted.child.kill('SIGTERM');
          assert.equal(await restarted.exited, 0, restarted.stderr.text());
          figures.push(`round ${round + 1}: killed after ${killAfterMs} ms, ${left.length} temporary file(s) left by the kill`);
        }

        const files = walkFiles(datadir);
        assert.deepEqual(files.filter((f) => !f.endsWith('.pcap.gz')), [], 'only .pcap.gz files: no temporary file remains');
        assert.ok(files.length >= 20, `${files.length} files`);
        let cut = 0;
        let packets = 0;
        for (const file of files) {
          const bytes = readFileSync(file);
          if (mode.name === 'buffered') {
            const gz = await execHost(['gzip', '-t', file]);
            assert.equal(gz.code, 0, `gzip -t ${file}: ${gz.stderr}`);
            const ts = await execHost(['tshark', '-r', file, '-T', 'fields', '-e', 'frame.number'], { timeoutMs: 60_000 });
            assert.equal(ts.code, 0, `tshark -r ${file}: ${ts.stderr}`);
            assert.doesNotMatch(ts.stderr, /damaged|cut short|corrupt/i, file);
            packets += ts.stdout.trim().split('\n').length;
          } else {
            // Tolerant read: the complete members form a pcap that tcpdump reads to its end.
            const { pcap, whole } = tolerantPcap(bytes);
            if (!whole) cut++;
            const scratch = join(work, 'check.pcap');
            writeFileSync(scratch, pcap);
            const td = await execHost(['tcpdump', '-nn', '-r', scratch]);
            assert.equal(td.code, 0, `tcpdump -r (${file}): ${td.stderr}`);
            assert.doesNotMatch(td.stderr, /truncated|bad dump/i, file);
            packets += td.stdout.trim().split('\n').length;
          }
        }
        figures.push(`${files.length} files, ${packets} packets read back${mode.name === '-stream' ? `, ${cut} file(s) ending in a member cut by a kill` : ''}`);
        console.log(`kill -9 (${mode.name}): ${figures.join('; ')}`);
        t.diagnostic(figures.join('; '));
      } finally {
        await server.stop();
      }
    });
  });
}
