// A long flow's file is a series of gzip members (one per compressed chunk).
// Independent readers must see one pcap stream: zcat piped to tcpdump, and tshark.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { makeFixture, openEvent } from '../helpers/demuxfixture.js';
import { batchOf, ethernetFrame } from '../helpers/frames.js';

const fixture = makeFixture();
after(() => fixture.cleanup());

test('multi-member gzip files read as one capture by zcat|tcpdump and tshark', async () => {
  const n = 5000;
  fixture.demuxer.handleEvent(openEvent('members', '10.0.0.1', 80, '10.0.0.2', 40000));
  const frames = Array.from({ length: n }, (_, i) => ({
    frame: ethernetFrame({ src: '10.0.0.2', dst: '10.0.0.1', sport: 40000, dport: 80, payload: Buffer.alloc(1400, 0x41) }),
    timestampNs: 1_700_000_000_000_000_000n + BigInt(i) * 1000n,
  }));
  fixture.demuxer.handleBatch(batchOf(frames), 1);
  await fixture.demuxer.closeAll();
  const path = join(fixture.datadir, '2019/08/21/members.pcap.gz');
  const bytes = readFileSync(path);
  let members = 0;
  for (let i = 0; i + 3 < bytes.length; i++) if (bytes[i] === 0x1f && bytes[i + 1] === 0x8b && bytes[i + 2] === 8 && bytes[i + 3] === 0) members++;
  assert.ok(members >= 5, `${members} members`);
  const viaZcat = execFileSync('sh', ['-c', `zcat '${path}' | tcpdump -nn -r - 2>/dev/null | wc -l`], { encoding: 'utf8' });
  assert.equal(Number(viaZcat.trim()), n);
  const viaTshark = execFileSync('tshark', ['-r', path, '-T', 'fields', '-e', 'frame.cap_len'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const lengths = viaTshark.trim().split('\n');
  assert.equal(lengths.length, n);
  assert.ok(lengths.every((l) => l === '94'));
});
