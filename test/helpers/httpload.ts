// Everyday tools as traffic: python's http.server in one namespace, curl in
// the other, one new connection per request (http.server speaks HTTP/1.0).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestNetwork } from './netns.js';
import { waitFor } from './wait.js';

/** Serves `dir` (made, with an index.html of `body`) on the server namespace's IPv4 address; resolves once curl gets an answer. */
export async function startHttpServer(n: TestNetwork, dir: string, port: number, body: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'index.html'), body);
  // Its request log is not read: a full pipe would stop it.
  n.spawn(n.serverNs, ['python3', '-m', 'http.server', '--bind', n.serverV4, '--directory', dir, String(port)], { stdio: ['ignore', 'ignore', 'ignore'] });
  await waitFor(async () => (await n.exec(n.clientNs, ['curl', '-s', '-o', '/dev/null', `http://${n.serverV4}:${port}/`])).code === 0, 10_000, 'http server');
}

/** `count` requests from the client namespace, each its own connection; returns how many were answered 200. */
export async function curlRequests(n: TestNetwork, port: number, count: number): Promise<number> {
  const r = await n.exec(n.clientNs, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}\n', `http://${n.serverV4}:${port}/index.html?n=[1-${count}]`], { timeoutMs: 30_000 + count * 100 });
  return r.stdout.trim().split('\n').filter((c) => c === '200').length;
}
