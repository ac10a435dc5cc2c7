// The native capture addon through its TypeScript loader: offline reads checked
// against tshark, error reporting, interface listing, a live capture on lo, and
// processes that exit (or are torn down) while the capture thread runs.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DESCRIPTION_WORDS, RECORD_HEADER_BYTES } from '../../src/native/layout.js';
import { loadAddon, type CaptureOptions, type NativeCapture } from '../../src/native/addon.js';
import { CaptureSet } from '../../src/capture/captureset.js';
import { fixture, fixturePackets } from '../helpers/fixtures.js';
import { ethernetFrame } from '../helpers/frames.js';

const addon = loadAddon();
const scratch = mkdtempSync(join(tmpdir(), 'ph-addon-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

interface Rec {
  seconds: number;
  nanoseconds: number;
  caplen: number;
  origlen: number;
  data: Buffer;
}

/** Splits a batch into records, checking that it holds whole records only. */
function parseBatch(batch: Buffer): Rec[] {
  const out: Rec[] = [];
  let at = 0;
  while (at < batch.length) {
    assert.ok(at + RECORD_HEADER_BYTES <= batch.length, 'batch ends inside a record header');
    const caplen = batch.readUInt32LE(at + 8);
    const end = at + RECORD_HEADER_BYTES + caplen;
    assert.ok(end <= batch.length, 'batch ends inside a record');
    out.push({
      seconds: batch.readUInt32LE(at),
      nanoseconds: batch.readUInt32LE(at + 4),
      caplen,
      origlen: batch.readUInt32LE(at + 12),
      // A copy: the batch is valid only during its onBatch call.
      data: Buffer.from(batch.subarray(at + RECORD_HEADER_BYTES, end)),
    });
    at = end;
  }
  return out;
}

interface Run {
  batches: Buffer[];
  records: Rec[];
  end: string | null;
  endCalls: number;
  endedAt: number;
}

/** Starts the capture and resolves at onEnd (rejects after timeoutMs). */
function run(capture: NativeCapture, timeoutMs: number, onBatch?: (batch: Buffer, recordsBytes: number) => void): { done: Promise<Run>; state: Run } {
  const state: Run = { batches: [], records: [], end: null, endCalls: 0, endedAt: 0 };
  const done = new Promise<Run>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no onEnd within ${timeoutMs} ms`)), timeoutMs);
    capture.start(
      (batch, recordsBytes) => {
        assert.ok(Buffer.isBuffer(batch));
        assert.ok(recordsBytes <= batch.length);
        // The records' descriptions follow them (checked in describe.test.ts).
        const records = batch.subarray(0, recordsBytes);
        state.batches.push(records);
        state.records.push(...parseBatch(records));
        onBatch?.(batch, recordsBytes);
      },
      (error) => {
        state.endCalls++;
        state.end = error;
        state.endedAt = performance.now();
        clearTimeout(timer);
        // Resolve on the next turn so a second (wrong) onEnd call would be counted.
        setTimeout(() => resolve(state), 20);
      },
    );
  });
  return { done, state };
}

function offline(file: string, filter: string, snaplen = 262144): NativeCapture {
  return new addon.Capture({ file, snaplen, filter });
}

/** tshark's view of a file: "sec.nnnnnnnnn caplen len" per packet. */
function tsharkView(file: string): string[] {
  const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'frame.cap_len', '-e', 'frame.len'], {
    encoding: 'utf8',
  });
  // tshark exits non-zero on a truncated file but prints the packets before it.
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [epoch, caplen, len] = l.split('\t');
      const [sec, frac = ''] = epoch.split('.');
      return `${sec}.${frac.padEnd(9, '0')} ${caplen} ${len}`;
    });
}

function view(records: readonly Rec[]): string[] {
  return records.map((r) => `${r.seconds}.${String(r.nanoseconds).padStart(9, '0')} ${r.caplen} ${r.origlen}`);
}

function assertWellFormed(records: readonly Rec[], snaplen: number): void {
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    assert.ok(r.nanoseconds < 1e9, `record ${i}: nanoseconds ${r.nanoseconds}`);
    assert.ok(r.caplen <= snaplen, `record ${i}: caplen ${r.caplen} > snaplen ${snaplen}`);
    assert.ok(r.origlen >= r.caplen, `record ${i}: origlen ${r.origlen} < caplen ${r.caplen}`);
    if (i > 0) {
      const p = records[i - 1];
      assert.ok(r.seconds > p.seconds || (r.seconds === p.seconds && r.nanoseconds >= p.nanoseconds), `record ${i}: time goes back`);
    }
  }
}

/** Writes a microsecond pcap of n Ethernet/IPv4/TCP frames (port 80 ↔ 40000+i%1000); returns its path. */
function writeBigPcap(n: number): string {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0); // microsecond magic: the addon must scale to ns
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(1, 20);
  const parts: Buffer[] = [header];
  for (let i = 0; i < n; i++) {
    const frame = ethernetFrame({ src: '10.0.0.1', dst: '10.0.0.2', sport: 80, dport: 40000 + (i % 1000), payload: Buffer.alloc(100, i & 0xff) });
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(1_600_000_000 + Math.floor(i / 1_000_000), 0);
    rec.writeUInt32LE(i % 1_000_000, 4);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    parts.push(rec, frame);
  }
  const path = join(scratch, `big-${n}.pcap`);
  writeFileSync(path, Buffer.concat(parts));
  return path;
}

describe('offline', () => {
  test('v4.pcap: 12 records that match tshark, link type 1', async () => {
    const file = fixture('v4.pcap');
    const capture = offline(file, 'tcp');
    assert.equal(capture.linkType, 1);
    const { done } = run(capture, 10_000);
    const result = await done;
    assert.equal(result.end, null);
    assert.equal(result.endCalls, 1);
    assert.equal(result.records.length, 12);
    assertWellFormed(result.records, 262144);
    assert.deepEqual(view(result.records), tsharkView(file));
    // The bytes are the frames themselves: the first one is a SYN to the HTTP server's port.
    const first = result.records[0].data;
    assert.equal(first.readUInt16BE(12), 0x0800);
    assert.equal(first.readUInt16BE(14 + 20 + 2), fixturePackets(file)[0].dport);
    assert.equal(first[14 + 20 + 13] & 0x3f, 0x02);
    assert.deepEqual(capture.stats(), { received: 12, dropped: 0, ifDropped: 0 });
  });

  test('snaplen 60 cuts every record to 60 bytes and keeps origlen', async () => {
    const file = fixture('v4.pcap');
    const { done } = run(offline(file, 'tcp', 60), 10_000);
    const result = await done;
    assert.equal(result.end, null);
    assert.equal(result.records.length, 12);
    assertWellFormed(result.records, 60);
    const full = tsharkView(file).map((l) => l.split(' '));
    result.records.forEach((r, i) => {
      assert.equal(r.caplen, Math.min(60, Number(full[i][1])));
      assert.equal(r.origlen, Number(full[i][2]));
    });
  });

  test('a filter that matches nothing ends cleanly with no batches', async () => {
    const { done } = run(offline(fixture('v4.pcap'), 'udp'), 10_000);
    const result = await done;
    assert.equal(result.end, null);
    assert.equal(result.batches.length, 0);
  });

  test('a batch is valid only during its onBatch: afterwards it is detached, so a view kept reads as empty', async () => {
    const kept: Array<{ batch: Buffer; records: Buffer; lengthDuring: number }> = [];
    const { done } = run(offline(writeBigPcap(20_000), 'tcp'), 30_000, (batch, recordsBytes) => {
      kept.push({ batch, records: batch.subarray(0, recordsBytes), lengthDuring: batch.length });
      assert.ok(batch.length > 0 && batch.readUInt32LE(8) > 0, 'readable during the call');
    });
    const result = await done;
    assert.equal(result.records.length, 20_000);
    assert.ok(kept.length > 1, `${kept.length} batches`);
    for (const { batch, records, lengthDuring } of kept) {
      assert.ok(lengthDuring > 0);
      assert.equal(batch.length, 0, 'the Buffer is empty after its call');
      assert.equal(records.length, 0, 'a view of it too');
      assert.equal(batch.buffer.byteLength, 0, 'its ArrayBuffer is detached');
    }
  });

  test('v6.pcap: the 8 whole packets are delivered, then onEnd reports the truncated tail', async () => {
    const file = fixture('v6.pcap');
    const capture = offline(file, 'tcp');
    const { done } = run(capture, 10_000);
    const result = await done;
    // The file ends inside its 9th packet (its record header promises 86 bytes,
    // 30 follow): libpcap reports "truncated dump file; tried to read 86 captured bytes, only got 30".
    assert.match(result.end ?? '', /truncated/);
    assert.equal(result.endCalls, 1);
    assert.equal(result.records.length, 8);
    assertWellFormed(result.records, 262144);
    assert.deepEqual(view(result.records), tsharkView(file));
    for (const r of result.records) assert.equal(r.data.readUInt16BE(12), 0x86dd);
    assert.equal(capture.stats().received, 8);
  });

  test('a large file with a slow consumer: bounded batches, nothing lost, microseconds scaled to ns', async () => {
    const n = 200_000; // ~30 MB of records: many more than the 16 queued batches
    const file = writeBigPcap(n);
    let maxBatch = 0;
    const { done } = run(offline(file, 'tcp port 80', 96), 60_000, (batch) => {
      maxBatch = Math.max(maxBatch, batch.length); // records and their descriptions
      const until = Date.now() + 2; // a busy JS thread: the reader must wait, not queue
      while (Date.now() < until);
    });
    const result = await done;
    assert.equal(result.end, null);
    assert.equal(result.records.length, n);
    assert.ok(result.batches.length > 16, `${result.batches.length} batches`);
    assert.ok(maxBatch <= (1 << 20) + RECORD_HEADER_BYTES + 96 + 3 + DESCRIPTION_WORDS * 4, `batch of ${maxBatch} bytes`);
    for (let i = 0; i < n; i += 9973) {
      const r = result.records[i];
      assert.equal(r.seconds, 1_600_000_000);
      assert.equal(r.nanoseconds, i * 1000);
      assert.equal(r.caplen, 96);
      assert.equal(r.data.readUInt16BE(14 + 20 + 2), 40000 + (i % 1000));
    }
  });

  test('stop() while reading a file: onEnd(null) once, after the batches', async () => {
    // Bigger than the 16 queued batches of 1 MiB, so the reader thread is still
    // reading when stop() comes, however slowly the JS thread gets its first batch.
    const file = writeBigPcap(250_000);
    const capture = offline(file, '', 128);
    let endedBeforeBatch = false;
    let stopped = false;
    const { done, state } = run(capture, 10_000, () => {
      if (state.endCalls > 0) endedBeforeBatch = true;
      if (!stopped) {
        stopped = true;
        capture.stop();
        capture.stop(); // idempotent
      }
    });
    const result = await done;
    assert.equal(result.end, null);
    assert.equal(result.endCalls, 1);
    assert.equal(endedBeforeBatch, false);
    assert.ok(result.records.length > 0 && result.records.length < 250_000, `${result.records.length} records`);
    capture.stop(); // after the end: no effect
  });

  test('hold(): the batches already queued are delivered, then none until release(); nothing is lost', async () => {
    // About 35 batches of 1 MiB: more than the 16 the queue holds.
    const file = writeBigPcap(250_000);
    const capture = offline(file, '', 128);
    let beforeLoopTurned = -1;
    const { done, state } = run(capture, 20_000, () => {
      if (state.batches.length === 1) {
        capture.hold();
        // Runs once Node stops delivering batches back to back and the event loop turns.
        setImmediate(() => {
          beforeLoopTurned = state.batches.length;
          capture.release();
        });
      }
    });
    const result = await done;
    assert.equal(result.end, null);
    assert.equal(result.records.length, 250_000);
    // The first batch, the 16 queued behind it, and the one the reader was
    // already handing over when hold() came.
    assert.ok(beforeLoopTurned >= 1 && beforeLoopTurned <= 18, `${beforeLoopTurned} batches before the event loop turned`);
    assert.ok(result.batches.length > 18, `${result.batches.length} batches in all`);
  });

  test('a CaptureSet reading a big file lets the event loop turn between slices of batches', async () => {
    const file = writeBigPcap(250_000);
    const captures = new CaptureSet(() => {});
    let batches = 0;
    let records = 0;
    let turnsWhileReading = 0;
    const turn = setInterval(() => {
      if (batches > 0) turnsWhileReading++;
    }, 1);
    try {
      captures.start(addon, [{ name: file, options: { file, snaplen: 128, filter: '' } }], (batch, _linkType, _source, described) => {
        batches++;
        records += described.length / DESCRIPTION_WORDS;
        // A slow consumer: the reader always keeps the queue full.
        const until = performance.now() + 2;
        while (performance.now() < until);
      }, () => {});
      await captures.ended();
    } finally {
      clearInterval(turn);
    }
    assert.equal(records, 250_000);
    // Without yielding, all ~35 batches (70 ms or more) would run in one turn and no timer would fire.
    assert.ok(turnsWhileReading >= 1, `${turnsWhileReading} timer callbacks in ${batches} batches`);
  });

  test('a missing file throws PH_ERR_CAPTURE naming the file', () => {
    const file = join(scratch, 'does-not-exist.pcap');
    assert.throws(() => offline(file, 'tcp'), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'PH_ERR_CAPTURE');
      assert.ok(e.message.includes(file), e.message);
      return true;
    });
  });

  test('an invalid filter throws PH_ERR_CAPTURE quoting the filter', () => {
    assert.throws(() => offline(fixture('v4.pcap'), 'tcp and port'), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'PH_ERR_CAPTURE');
      assert.ok(e.message.includes('"tcp and port"'), e.message);
      return true;
    });
  });

  test('bad options are programming errors (TypeError/RangeError), not capture errors', () => {
    const bad = [
      {},
      { snaplen: 96, filter: '' },
      { file: 'x', device: 'lo', snaplen: 96, filter: '' },
      { file: fixture('v4.pcap'), snaplen: 0, filter: '' },
      { file: fixture('v4.pcap'), snaplen: 96 },
      { device: 'lo', snaplen: 96, filter: '', timeoutMs: 1.5 },
    ];
    for (const options of bad) {
      assert.throws(() => new addon.Capture(options as CaptureOptions), (e: Error & { code?: string }) => e.code === undefined && (e instanceof TypeError || e instanceof RangeError));
    }
  });
});

describe('interfaces and helpers', () => {
  test('listInterfaces includes lo as loopback with 127.0.0.1, and no pseudo devices', () => {
    const list = addon.listInterfaces();
    const lo = list.find((i) => i.name === 'lo');
    assert.ok(lo, JSON.stringify(list));
    assert.equal(lo.loopback, true);
    assert.equal(lo.up, true);
    assert.ok(lo.addresses.includes('127.0.0.1'), JSON.stringify(lo));
    for (const i of list) {
      assert.ok(!/^(any|nflog|nfqueue|dbus|bluetooth|usbmon)/.test(i.name), i.name);
      for (const a of i.addresses) assert.ok(!a.includes('%'), `zone in ${a}`);
    }
  });

  test('a missing interface throws PH_ERR_CAPTURE naming it', () => {
    assert.throws(() => new addon.Capture({ device: 'ph-nosuch0', snaplen: 96, filter: '' }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'PH_ERR_CAPTURE');
      assert.ok(e.message.includes('ph-nosuch0'), e.message);
      return true;
    });
  });

  test('raiseOpenFileLimit lifts the soft limit on open files to the hard one', () => {
    const script = `import { loadAddon } from ${JSON.stringify(new URL('../../src/native/addon.js', import.meta.url).href)}; console.log(JSON.stringify(loadAddon().raiseOpenFileLimit()));`;
    const child = spawnSync('bash', ['-c', 'ulimit -Sn 256 && exec "$0" --input-type=module -e "$1"', process.execPath, script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(child.status, 0, child.stderr);
    const [soft, hard] = JSON.parse(child.stdout) as [number, number];
    assert.equal(soft, hard);
    assert.ok(hard === -1 || hard > 256, `hard limit ${hard}`);
  });

  test('libVersion and mallocTrim', () => {
    assert.match(addon.libVersion(), /^libpcap version \d+\.\d+/);
    assert.equal(typeof addon.mallocTrim(), 'boolean');
  });
});

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe('live on lo', () => {
  test('captures a TCP conversation on 127.0.0.1 through to its FIN, stats count it', async (t) => {
    const server = createServer((socket) => {
      socket.on('data', (d) => socket.write(d)); // echo
      socket.on('end', () => socket.end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const capture = new addon.Capture({ device: 'lo', snaplen: 128, filter: `tcp port ${port}` });
      assert.equal(capture.linkType, 1); // Linux lo is Ethernet-framed
      const { done, state } = run(capture, 15_000);

      const client: Socket = connect(port, '127.0.0.1');
      await withTimeout(new Promise<void>((resolve) => client.on('connect', resolve)), 5000, 'connect');
      let echoed = 0;
      client.on('data', (d) => (echoed += d.length));
      for (let i = 0; i < 5; i++) {
        client.write(`message ${i}\n`);
        await new Promise((r) => setTimeout(r, 20));
      }
      client.end();
      await withTimeout(new Promise<void>((resolve) => client.on('close', () => resolve())), 5000, 'close');
      assert.ok(echoed > 0);

      const beforeStop = state.records.length;
      const stopAt = performance.now();
      capture.stop();
      const result = await done;
      const stats = capture.stats();
      t.diagnostic(
        `stop() to onEnd: ${(result.endedAt - stopAt).toFixed(1)} ms; ${result.records.length} records in ${result.batches.length} batches, ` +
          `${result.records.length - beforeStop} delivered after stop(); stats ${JSON.stringify(stats)}`,
      );
      assert.equal(result.end, null);
      assert.equal(result.endCalls, 1);
      assert.ok(state.records.length >= 10, `${state.records.length} records`);
      assertWellFormed(result.records, 128);

      let syn = 0;
      let fin = 0;
      for (const r of result.records) {
        const d = r.data;
        assert.equal(d.readUInt16BE(12), 0x0800, 'IPv4 over Ethernet');
        const ihl = (d[14] & 0x0f) * 4;
        assert.equal(d[14 + 9], 6, 'TCP');
        const sport = d.readUInt16BE(14 + ihl);
        const dport = d.readUInt16BE(14 + ihl + 2);
        assert.ok(sport === port || dport === port, `ports ${sport} -> ${dport}`);
        const flags = d[14 + ihl + 13];
        if (flags & 0x02) syn++;
        if (flags & 0x01) fin++;
      }
      assert.equal(syn, 2, 'SYN and SYN-ACK');
      assert.equal(fin, 2, 'both FINs: packets still in the kernel ring at stop() are delivered');
      // Timestamps are live nanosecond stamps from around now.
      const nowS = Date.now() / 1000;
      assert.ok(Math.abs(result.records[0].seconds - nowS) < 60);

      assert.ok(stats.received >= result.records.length, `${JSON.stringify(stats)} vs ${result.records.length} records`);
      assert.equal(stats.dropped, 0);
    } finally {
      server.close();
    }
  });

  test('start() then stop() at once (how skipped interfaces are released) ends promptly', async () => {
    const capture = new addon.Capture({ device: 'lo', snaplen: 96, filter: 'tcp port 9', timeoutMs: 50 });
    const { done } = run(capture, 5000);
    capture.stop();
    const result = await done;
    assert.equal(result.end, null);
    assert.equal(result.endCalls, 1);
    assert.throws(() => capture.start(() => {}, () => {}), /already started/);
  });

  test('an interface that disappears ends the capture with libpcap\'s error', async (t) => {
    // In a private network namespace (unshare), so no other test sees the veth.
    if (spawnSync('unshare', ['--net', 'true']).status !== 0) {
      t.skip('unshare --net is not available');
      return;
    }
    const script = `
      import { loadAddon } from ${JSON.stringify(new URL('../../src/native/addon.js', import.meta.url).href)};
      import { execFileSync } from 'node:child_process';
      execFileSync('ip', ['link', 'add', 'pha', 'type', 'veth', 'peer', 'name', 'phb']);
      execFileSync('ip', ['link', 'set', 'pha', 'up']);
      const capture = new (loadAddon().Capture)({ device: 'pha', snaplen: 96, filter: '' });
      const guard = setTimeout(() => { console.log('no onEnd'); process.exit(4); }, 5000);
      capture.start(() => {}, (error) => { clearTimeout(guard); console.log('end ' + JSON.stringify(error)); });
      setTimeout(() => execFileSync('ip', ['link', 'del', 'pha']), 200);`;
    const r = spawnSync('unshare', ['--net', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    const match = /^end (.*)$/m.exec(r.stdout);
    assert.ok(match, r.stdout);
    const error = JSON.parse(match[1]) as string | null;
    assert.equal(typeof error, 'string');
    t.diagnostic(`onEnd: ${error}`);
  });

  test('stop() before start() releases the handle; start() afterwards throws', () => {
    const capture = new addon.Capture({ device: 'lo', snaplen: 96, filter: '' });
    capture.stop();
    assert.throws(() => capture.start(() => {}, () => {}), /stopped/);
  });
});

describe('process exit while capturing', () => {
  const addonUrl = new URL('../../src/native/addon.js', import.meta.url).href;
  // Live capture on lo with traffic flowing, so the thread is busy dispatching.
  const prelude = `
    import { loadAddon } from ${JSON.stringify(addonUrl)};
    import net from 'node:net';
    const addon = loadAddon();
    const capture = new addon.Capture({ device: 'lo', snaplen: 96, filter: 'tcp', timeoutMs: 50 });
    let batches = 0;
    const traffic = { server: null, client: null, timer: null };
    traffic.server = net.createServer((s) => s.on('data', () => {})).listen(0, '127.0.0.1', () => {
      traffic.client = net.connect(traffic.server.address().port, '127.0.0.1');
      traffic.timer = setInterval(() => traffic.client.write('x'.repeat(200)), 1);
    });
    function stopTraffic() { clearInterval(traffic.timer); traffic.client?.destroy(); traffic.server.close(); }
  `;
  const scripts: Record<string, string> = {
    'process.exit while capturing': `${prelude}
      capture.start(() => batches++, () => {});
      setTimeout(() => process.exit(0), 200);`,
    'process.exit while the JS thread is blocked and the queue is full (offline)': `
      import { loadAddon } from ${JSON.stringify(addonUrl)};
      const capture = new (loadAddon().Capture)({ file: process.env.BIG_PCAP, snaplen: 96, filter: '' });
      capture.start(() => { const t = Date.now() + 50; while (Date.now() < t); }, () => {});
      setTimeout(() => process.exit(0), 200);`,
    'stop() then let the event loop drain': `${prelude}
      capture.start(() => batches++, (error) => {
        stopTraffic();
        console.log('end', error, batches > 0);
      });
      setTimeout(() => capture.stop(), 200);`,
    'worker thread terminated while capturing (environment teardown)': `
      import { Worker } from 'node:worker_threads';
      const worker = new Worker(${JSON.stringify(`${prelude}
        import { parentPort } from 'node:worker_threads';
        capture.start(() => { if (batches++ === 0) parentPort.postMessage('batch'); }, () => {});`)}, { eval: true });
      worker.on('message', () => worker.terminate().then(() => console.log('terminated')));
      worker.on('error', (e) => { console.error(e); process.exit(3); });`,
    'worker thread terminated while its capture thread waits in poll (environment teardown)': `
      import { Worker } from 'node:worker_threads';
      const worker = new Worker(${JSON.stringify(`
        import { loadAddon } from ${JSON.stringify(addonUrl)};
        import { parentPort } from 'node:worker_threads';
        const capture = new (loadAddon().Capture)({ device: 'lo', snaplen: 96, filter: 'tcp port 9' });
        capture.start(() => {}, () => {});
        parentPort.postMessage('started');`)}, { eval: true });
      worker.on('message', () => setTimeout(() => worker.terminate().then(() => console.log('terminated')), 200));
      worker.on('error', (e) => { console.error(e); process.exit(3); });`,
  };
  const bigPcap = writeBigPcap(100_000);

  for (const [name, script] of Object.entries(scripts)) {
    test(`${name}: exits with code 0, five times`, async () => {
      for (let i = 0; i < 5; i++) {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
          env: { ...process.env, BIG_PCAP: bigPcap },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (out += d));
        const exit = await withTimeout(
          new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
          8000,
          `${name} run ${i}`,
        ).catch((e) => {
          child.kill('SIGKILL');
          throw e;
        });
        assert.deepEqual(exit, { code: 0, signal: null }, `run ${i}: ${out}`);
        if (name.startsWith('stop()')) assert.match(out, /end null true/);
        if (name.startsWith('worker')) assert.match(out, /terminated/);
      }
    });
  }
});
