// The recorded test captures (test/fixtures/, made by scripts/record-fixtures.sh)
// and what tshark says about them, so tests derive their expectations from the
// files instead of from constants that a re-recording would break.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export const FIXTURES = join(import.meta.dirname, '../../../test/fixtures');

export function fixture(name: string): string {
  return join(FIXTURES, name);
}

export interface FixturePacket {
  /** Original length on the wire. */
  length: number;
  caplen: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  /** Seconds since the epoch, as tshark prints it (nanosecond digits). */
  epoch: string;
}

/**
 * Every whole packet tshark reads from the file (a file cut short in its last
 * packet yields the packets before it; tshark's complaint about the cut is
 * expected and ignored).
 */
export function fixturePackets(path: string): FixturePacket[] {
  const r = spawnSync(
    'tshark',
    ['-n', '-r', path, '-T', 'fields', '-E', 'separator=,', '-e', 'frame.len', '-e', 'frame.cap_len', '-e', 'ip.src', '-e', 'ipv6.src', '-e', 'ip.dst', '-e', 'ipv6.dst', '-e', 'tcp.srcport', '-e', 'tcp.dstport', '-e', 'frame.time_epoch'],
    { encoding: 'utf8' },
  );
  if (r.error !== undefined) throw r.error;
  return r.stdout
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => {
      const [length, caplen, src4, src6, dst4, dst6, sport, dport, epoch] = line.split(',');
      return { length: Number(length), caplen: Number(caplen), src: src4 || src6, dst: dst4 || dst6, sport: Number(sport), dport: Number(dport), epoch };
    });
}

/** YYYY/MM/DD of a tshark epoch time, UTC: the directory a flow starting then goes to. */
export function datePathOfEpoch(epoch: string): string {
  const d = new Date(Number(epoch.split('.')[0]) * 1000);
  return `${d.getUTCFullYear()}/${String(d.getUTCMonth() + 1).padStart(2, '0')}/${String(d.getUTCDate()).padStart(2, '0')}`;
}
