// tcpdump and tshark: an independent capture of what crossed an interface
// (startTcpdump), and reading a capture back field by field (readPcapWithTshark).
import type { ChildProcess } from 'node:child_process';
import type { TestNetwork } from './netns.js';
import { childDone, execHost, LineCollector, terminateGroup, waitForExit } from './processes.js';
import { waitFor } from './wait.js';

export interface Tcpdump {
  readonly process: ChildProcess;
  readonly file: string;
  /** SIGINT, then wait (bounded) for exit so the file is complete. Returns tcpdump's stderr. */
  stop(): Promise<string>;
}

/**
 * Runs `tcpdump -i IFACE -w OUTFILE -s 0 -U -nn FILTER` in ns (-Z root: it keeps
 * the right to write OUTFILE) and resolves once it prints "listening on".
 */
export async function startTcpdump(net: TestNetwork, ns: string, iface: string, outFile: string, filter = ''): Promise<Tcpdump> {
  // Immediate mode: without it, packets still in the kernel's current ring block
  // when tcpdump gets SIGINT never reach the file, and the reference is short.
  const argv = ['tcpdump', '-i', iface, '-w', outFile, '-s', '0', '-U', '--immediate-mode', '-nn', '-Z', 'root'];
  if (filter.trim()) argv.push(filter);
  const child = net.spawn(ns, argv);
  child.stdout?.resume();
  const err = new LineCollector(child.stderr);
  try {
    await waitFor(
      () => {
        if (err.text().includes('listening on')) return true;
        if (childDone(child)) throw new Error(`tcpdump exited (${child.exitCode ?? child.signalCode}): ${err.text()}`);
        return false;
      },
      10_000,
      `tcpdump listening on ${iface} in ${ns}`,
      20,
    );
  } catch (e) {
    await terminateGroup(child, 1000);
    throw e;
  }
  let stopping: Promise<string> | null = null;
  return {
    process: child,
    file: outFile,
    stop: () => {
      stopping ??= (async () => {
        if (!childDone(child)) {
          try {
            process.kill(child.pid!, 'SIGINT');
          } catch {
            /* gone */
          }
        }
        if (!(await waitForExit(child, 5000))) await terminateGroup(child, 1000);
        return err.text();
      })();
      return stopping;
    },
  };
}

/**
 * Reads a capture (.pcap, .pcapng, .pcap.gz) with tshark and returns one row
 * per packet with the values of `fields` in order. Several occurrences of one
 * field in a packet are joined with ';'.
 */
export async function readPcapWithTshark(file: string, fields: readonly string[], displayFilter?: string): Promise<string[][]> {
  if (fields.length === 0) throw new Error('no fields');
  const argv = ['tshark', '-n', '-r', file, '-T', 'fields', '-E', 'separator=,', '-E', 'aggregator=;', '-E', 'quote=n'];
  for (const f of fields) argv.push('-e', f);
  if (displayFilter) argv.push('-Y', displayFilter);
  const r = await execHost(argv, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`tshark -r ${file} failed (${r.code ?? r.signal}): ${r.stderr.trim()}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split(','));
}
