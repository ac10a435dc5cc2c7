// What operators load into Prometheus and Grafana (deploy/prometheus,
// deploy/grafana) is valid, fires when it should, and asks only for metrics a
// real daemon exports; a real scrape passes promtool's lint.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO, spawnDaemon, waitUntilCapturing } from '../helpers/daemonprocess.js';
import { FakeTcpInfo } from '../helpers/faketcpinfo.js';
import { useNetworkFixture } from '../helpers/netfixture.js';
import { execHost } from '../helpers/processes.js';
import { runTcpClient, startTcpServer } from '../helpers/tcppeer.js';
import { waitFor } from '../helpers/wait.js';
import { scrapeMetrics } from '../helpers/scrape.js';

const rules = join(REPO, 'deploy/prometheus/packet-headers.rules.yml');
const rulesTest = join(REPO, 'deploy/prometheus/packet-headers.rules.test.yml');
const dashboard = join(REPO, 'deploy/grafana/packet-headers.json');

let scrape = '';

/** Metric names a PromQL expression reads (identifiers followed by a selector, a range or nothing), functions and keywords left out. */
function metricNames(expr: string): string[] {
  const withoutStrings = expr.replace(/"[^"]*"/g, '""');
  const names = new Set<string>();
  for (const m of withoutStrings.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{|\[|\)|$|\s*[<>=!*/+-])/g)) {
    const name = m[1];
    if (/^(by|without|on|ignoring|group_left|group_right|and|or|unless|bool|offset)$/.test(name)) continue;
    if (/^(pcap_|process_|nodejs_)/.test(name)) names.add(name);
  }
  return [...names];
}

/** Series families in a Prometheus text scrape (histogram parts folded into their family). */
function exported(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^# TYPE (\S+) (\S+)/.exec(line);
    if (m === null) continue;
    names.add(m[1]);
    if (m[2] === 'histogram') for (const part of ['_bucket', '_sum', '_count']) names.add(m[1] + part);
  }
  return names;
}

useNetworkFixture('ph-monitoring-', async ({ net: n, work }) => {
  const tcpinfo = new FakeTcpInfo(work);
  await tcpinfo.listen();
  const daemon = spawnDaemon(n, n.serverNs, [
    '-interface', n.serverIf, '-datadir', join(work, 'data'), '-tcpinfo.eventsocket', tcpinfo.path,
    '-prometheusx.listen-address', '127.0.0.1:9990', '-sigtermwait', '100ms',
  ]);
  try {
    await waitUntilCapturing(daemon);
    await waitFor(() => tcpinfo.connected > 0, 10_000, 'event socket');
    // A real connection first, so labelled series (states, reasons) exist as they do in production.
    const server = await startTcpServer(n, n.serverNs, [{ host: n.serverV4, port: 9000 }]);
    const announcer = setInterval(() => {
      for (const a of server.accepts()) tcpinfo.announce(a, `monitoring_${a.cookie}`);
    }, 5);
    await runTcpClient(n, n.clientNs, { connect: { host: n.serverV4, port: 9000 }, count: 3, size: 20_000, timeoutS: 10 });
    clearInterval(announcer);
    await server.stop();
    scrape = await scrapeMetrics(n);
  } finally {
    daemon.child.kill('SIGTERM');
    await Promise.race([daemon.exited, new Promise((r) => setTimeout(r, 10_000))]);
    await tcpinfo.close();
  }
});

test('promtool check metrics: a real scrape of the daemon has no lint problem', async () => {
  assert.match(scrape, /^pcap_saver_starts_total [1-9]/m, 'the scrape saw the connections');
  const r = await execHost(['promtool', 'check', 'metrics'], { input: scrape, timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal((r.stdout + r.stderr).trim(), '');
});

test('promtool check rules: the alerting rules are valid', async () => {
  const r = await execHost(['promtool', 'check', 'rules', rules], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /SUCCESS: \d+ rules found/);
});

test('promtool test rules: each alert fires on trouble and stays quiet on a healthy daemon', async () => {
  const r = await execHost(['promtool', 'test', 'rules', rulesTest], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
});

test('the alerts and the dashboard read only metrics the daemon exports', () => {
  const have = exported(scrape);
  const rulesText = readFileSync(rules, 'utf8');
  const ruleExprs = [...rulesText.matchAll(/expr: (\|\n(?:\s{10}.*\n)+|.*)/g)].map((m) => m[1]);
  const panels = (JSON.parse(readFileSync(dashboard, 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> }).panels;
  const uses: Array<[string, string]> = [
    ...ruleExprs.flatMap((e) => metricNames(e).map((n): [string, string] => [n, 'alert rules'])),
    ...panels.flatMap((p) => p.targets.flatMap((t) => metricNames(t.expr).map((n): [string, string] => [n, `panel "${p.title}"`]))),
  ];
  assert.ok(uses.length > 20, `${uses.length} metric uses found`);
  const missing = uses.filter(([n]) => !have.has(n));
  assert.deepEqual(missing, []);
});
