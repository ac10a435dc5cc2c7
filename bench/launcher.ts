// Runs bin/packet-headers.js in this process and, when the process exits,
// writes its resource usage as JSON to the file named first:
//
//   node dist/bench/launcher.js USAGE.json bin/packet-headers.js [flags...]
//
// {cpuUserUs, cpuSystemUs, maxRssBytes, wallMs, exitCode}: user and system
// CPU of the whole process (every thread: libpcap reader, gzip pool), its
// peak resident set, and the time from launch to exit.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const started = performance.now();
const [usageFile, entry, ...flags] = process.argv.slice(2);
if (usageFile === undefined || entry === undefined) {
  process.stderr.write('usage: launcher.js USAGE.json ENTRY.js [flags...]\n');
  process.exit(2);
}

/**
 * Peak resident set of this process image (VmHWM). getrusage's ru_maxrss is
 * not used: Linux carries it over fork and exec, so a child of a big parent
 * would report the parent's size.
 */
function peakRssBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m !== null) return Number(m[1]) * 1024;
  } catch {
    /* not Linux */
  }
  return process.resourceUsage().maxRSS * 1024;
}

process.on('exit', (code) => {
  const cpu = process.cpuUsage();
  writeFileSync(
    usageFile,
    JSON.stringify({
      cpuUserUs: cpu.user,
      cpuSystemUs: cpu.system,
      maxRssBytes: peakRssBytes(),
      wallMs: performance.now() - started,
      exitCode: code,
    }),
  );
});

process.argv = [process.argv[0], resolve(entry), ...flags];
await import(pathToFileURL(resolve(entry)).href);
