// What durability costs: the flow store writing small files (one short flow's
// worth of records each, about 1.2 KiB compressed) with and without its sync
// (fdatasync before the rename, the directory fsynced once per store-thread
// wake-up), on tmpfs and on a disk filesystem. Files per second and wall µs
// per file, the store's default thread count, one day directory.
//
//   node dist/bench/durability.js [files] [diskDir]
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { FlowStore } from '../src/saver/flowstore.js';
import { batchOf, ethernetFrame } from '../test/helpers/frames.js';
import { openTestFlow, routeToFlow } from '../test/helpers/routefile.js';

const LINKTYPE_ETHERNET = 1;
const files = Number(process.argv[2] ?? 2000);
const diskDir = process.argv[3] ?? '/work';

async function run(base: string, sync: boolean): Promise<{ filesPerS: number; usPerFile: number }> {
  const dir = mkdtempSync(join(base, 'ph-durability-'));
  const store = new FlowStore({ sync });
  try {
    const frame = ethernetFrame({ src: '192.0.2.7', dst: '198.51.100.9', sport: 40000, dport: 80, payload: Buffer.alloc(200) });
    const batch = batchOf(Array.from({ length: 10 }, (_, i) => ({ frame, timestampNs: BigInt(i) * 1000n })));
    const started = performance.now();
    const done: Promise<unknown>[] = [];
    for (let i = 0; i < files; i++) {
      // One 4-tuple for all: each flow ends before the next starts, as a reused port's would.
      const flow = openTestFlow(store, frame, LINKTYPE_ETHERNET, () => {}, 94);
      routeToFlow(store, flow, batch, LINKTYPE_ETHERNET);
      store.endFlow(flow.route);
      const { file } = flow;
      file.setTarget(join(dir, '2026', '12', '01', `f${i}.pcap.gz`));
      done.push(file.finish());
    }
    const results = await Promise.all(done);
    const ms = performance.now() - started;
    if (results.some((r) => r !== 'written')) throw new Error('a file was not written');
    return { filesPerS: Math.round((files / ms) * 1000), usPerFile: Math.round((ms * 1000) / files) };
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const fsName = (dir: string) => {
  const type = statfsSync(dir).type;
  return type === 0x01021994 ? 'tmpfs' : type === 0xef53 ? 'ext4' : `type 0x${type.toString(16)}`;
};

for (const base of ['/dev/shm', diskDir]) {
  for (const sync of [false, true]) {
    const r = await run(base, sync);
    console.log(`${base} (${fsName(base)}) sync ${sync ? 'on ' : 'off'}: ${files} files, ${r.filesPerS} files/s, ${r.usPerFile} µs per file`);
  }
}
