// A signal sent the moment -read logs that the reading began is handled like
// any other (reading stopped, flows written, exit 0): the handlers are in
// place before the daemon starts. They used to be installed only after the
// "reading ..." line, so a signal sent on that line found the default action
// and killed the process (11 times out of 12).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeCapture } from '../helpers/pcapwrite.js';

const bin = join(import.meta.dirname, '../../../bin/packet-headers.js');
const work = mkdtempSync(join(tmpdir(), 'ph-offline-earlysignal-'));
after(() => rmSync(work, { recursive: true, force: true }));

const capture = join(work, 'in.pcap');
writeCapture(capture, [{ client: '10.9.1.1', server: '10.9.2.1', clientPort: 40000, serverPort: 443, startSeconds: 1_650_000_000, packets: 200_000, spacingNs: 100_000 }]);

test('SIGINT on the "reading" line: handled, exit 0, five times', { timeout: 120_000 }, async () => {
  for (let run = 0; run < 5; run++) {
    const child = spawn(process.execPath, [bin, '-read', capture, '-datadir', join(work, `out${run}`), '-prometheusx.listen-address', '127.0.0.1:0'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let text = '';
    let sent = false;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      text += chunk;
      if (!sent && text.includes('reading ')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (c, s) => resolve({ code: c, signal: s })),
    );
    clearTimeout(guard);
    assert.equal(signal, null, `run ${run}: killed by ${signal}; stderr: ${text}`);
    assert.equal(code, 0, `run ${run}: ${text}`);
    assert.match(text, /SIGINT: reading stopped/);
  }
});
