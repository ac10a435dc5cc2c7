// What a finished file costs the kernel: the flow store writes small files
// (a short flow's records, about 1.2 KiB compressed, fdatasync'ed as the
// daemon does) into one day directory on a disk filesystem, three ways: a
// fresh directory; the same right after the previous run's files were
// deleted (ext4 then searches for inodes not freed recently); and with an
// "uploader" deleting each file as it appears, as M-Lab's pusher does.
// Reports the process's system CPU and the wall time per file.
//
//   node dist/bench/filecost.js [files=4000] [diskDir=/work]
//
// A/B: PACKET_HEADERS_ADDON=path/to/other/packet_headers_capture.node runs
// another build of the addon; alternate the two in one sitting.
import { mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { FlowStore } from '../src/saver/flowstore.js';
import { batchOf, ethernetFrame } from '../test/helpers/frames.js';
import { openTestFlow, routeToFlow } from '../test/helpers/routefile.js';

const LINKTYPE_ETHERNET = 1;
const files = Number(process.argv[2] ?? 4000);
const diskDir = process.argv[3] ?? '/work';

const frame = ethernetFrame({ src: '192.0.2.7', dst: '198.51.100.9', sport: 40000, dport: 80, payload: Buffer.alloc(200) });
const batch = batchOf(Array.from({ length: 10 }, (_, i) => ({ frame, timestampNs: BigInt(i) * 1000n })));

async function writeFiles(dayDir: string, onWritten?: (path: string) => void): Promise<{ sysUsPerFile: number; wallUsPerFile: number }> {
  const store = new FlowStore({ sync: true });
  try {
    const cpu = process.cpuUsage();
    const started = performance.now();
    const done: Promise<unknown>[] = [];
    for (let i = 0; i < files; i++) {
      // One 4-tuple for all: each flow ends before the next starts, as a reused port's would.
      const flow = openTestFlow(store, frame, LINKTYPE_ETHERNET, () => {}, 94);
      routeToFlow(store, flow, batch, LINKTYPE_ETHERNET);
      store.endFlow(flow.route);
      const { file } = flow;
      const path = join(dayDir, `f${i}.pcap.gz`);
      file.setTarget(path);
      done.push(file.finish().then((result) => {
        if (result !== 'written') throw new Error(`${path}: ${result}`);
        onWritten?.(path);
      }));
    }
    await Promise.all(done);
    const wallMs = performance.now() - started;
    const { system } = process.cpuUsage(cpu);
    return { sysUsPerFile: Math.round(system / files), wallUsPerFile: Math.round((wallMs * 1000) / files) };
  } finally {
    store.close();
  }
}

const base = mkdtempSync(join(diskDir, 'ph-filecost-'));
try {
  const day = join(base, '2026', '12', '02');
  const fresh = await writeFiles(day);
  rmSync(base, { recursive: true, force: true });
  const afterDeletes = await writeFiles(day);
  for (const name of readdirSync(day)) unlinkSync(join(day, name));
  const uploaded = await writeFiles(day, (path) => unlinkSync(path));
  const addon = process.env.PACKET_HEADERS_ADDON ?? 'release build';
  for (const [name, r] of [['fresh directory', fresh], ['after deleting as many', afterDeletes], ['uploader deleting each', uploaded]] as const) {
    console.log(`${addon}: ${files} files, ${name}: ${r.sysUsPerFile} µs sys, ${r.wallUsPerFile} µs wall per file`);
  }
} finally {
  rmSync(base, { recursive: true, force: true });
}
