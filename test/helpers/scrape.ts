// Reading the daemon's metrics in tests and scripts: a scrape from inside the
// namespace the daemon listens in, and sums of the lines that match.
import type { TestNetwork } from './netns.js';

/** The Prometheus text the daemon serves on 127.0.0.1:`port` inside namespace `ns` (default: the server's). */
export async function scrapeMetrics(n: TestNetwork, ns: string = n.serverNs, port = 9990): Promise<string> {
  const r = await n.exec(ns, [process.execPath, '-e', `fetch('http://127.0.0.1:${port}/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))`]);
  return r.stdout;
}

/** The sum of the values of every line of `text` that matches `pattern` (0 when none does). */
export function metricSum(text: string, pattern: RegExp): number {
  let sum = 0;
  for (const line of text.split('\n')) if (pattern.test(line)) sum += Number(line.split(' ').pop());
  return sum;
}
