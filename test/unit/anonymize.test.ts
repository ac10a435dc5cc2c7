// -anonymize.ip netblock as the flow store applies it: which endpoints of a
// flow it masks, from the local addresses the Anonymizer parses.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Anonymizer } from '../../src/demux/anonymize.js';
import { LINKTYPE_ETHERNET } from '../../src/native/layout.js';
import { FlowStore } from '../../src/saver/flowstore.js';
import { batchOf, ethernetFrame } from '../helpers/frames.js';
import { parsePcapGz } from '../helpers/pcapread.js';
import { openTestFlow, routeToFlow } from '../helpers/routefile.js';

/** The stored source and destination addresses of one packet from `src` to `dst`, with the store anonymizing as `anon` says. */
async function stored(anon: Anonymizer, src: string, dst: string): Promise<[string, string]> {
  const dir = mkdtempSync(join(tmpdir(), 'ph-anon-'));
  const store = new FlowStore({ threads: 1 });
  try {
    store.setAnonymization(anon.mode === 'none' ? null : anon.localAddressWords);
    const frame = ethernetFrame({ src, dst, sport: 5555, dport: 443 });
    // -1: the store decides from the local addresses, as for every flow the demuxer has.
    const flow = openTestFlow(store, frame, LINKTYPE_ETHERNET, (r) => assert.fail(r), 0, -1);
    flow.file.setTarget(join(dir, 'f.pcap.gz'));
    routeToFlow(store, flow, batchOf([{ frame }]), LINKTYPE_ETHERNET);
    assert.equal(await flow.file.finish(), 'written');
    const data = parsePcapGz(readFileSync(join(dir, 'f.pcap.gz'))).records[0].data;
    const v6 = data.readUInt16BE(12) === 0x86dd;
    if (!v6) return [[...data.subarray(26, 30)].join('.'), [...data.subarray(30, 34)].join('.')];
    return [data.subarray(22, 38).toString('hex'), data.subarray(38, 54).toString('hex')];
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('local addresses are never anonymized; every other keeps its /24 or /48', async () => {
  const anon = new Anonymizer('netblock', ['10.0.0.1', 'fd00::1']);
  assert.deepEqual(await stored(anon, '10.7.7.7', '10.0.0.1'), ['10.7.7.0', '10.0.0.1']);
  assert.deepEqual(await stored(anon, '10.0.0.1', '10.7.7.7'), ['10.0.0.1', '10.7.7.0']);
  assert.deepEqual(await stored(anon, 'fd00:1:2:3::9', 'fd00::1'), ['fd0000010002' + '0'.repeat(20), 'fd00' + '0'.repeat(27) + '1']);
});

test('none changes nothing', async () => {
  assert.deepEqual(await stored(new Anonymizer('none', ['10.0.0.1']), '10.7.7.7', '10.9.9.9'), ['10.7.7.7', '10.9.9.9']);
});
