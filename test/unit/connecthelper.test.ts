// The connect helper (the process that connects tcp-info's socket for a daemon
// running under -user): it hands over connected sockets, reads nothing from
// them, connects to its one path whatever a request says, and exits with its
// channel.
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConnectHelper } from '../../src/flowevents/connecthelper.js';

const HELPER_MAIN = fileURLToPath(new URL('../../src/flowevents/connecthelper-main.js', import.meta.url));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ph-helper-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function listen(name: string): Promise<{ server: net.Server; path: string; accepted: net.Socket[] }> {
  const p = path.join(dir, name);
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => {
    s.on('error', () => {});
    accepted.push(s);
  });
  await new Promise<void>((resolve) => server.listen(p, resolve));
  return { server, path: p, accepted };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function gone(pid: number): Promise<void> {
  for (let i = 0; i < 200 && alive(pid); i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(alive(pid), false, `helper ${pid} still running`);
}

test('hands over a connected socket; what the server sent first arrives in the daemon, none lost', async () => {
  const { server, path: p, accepted } = await listen('a.sock');
  // The server speaks at once: bytes the helper read would be lost.
  server.on('connection', (s) => s.write('first line\n'));
  const logs: string[] = [];
  const helper = new ConnectHelper(p, (m) => logs.push(m));
  try {
    const socket = await within(helper.connect(p), 5000, 'connect');
    const received: Buffer[] = [];
    socket.on('data', (d: Buffer) => received.push(d));
    await within(
      (async () => {
        while (accepted.length < 1) await new Promise((r) => setTimeout(r, 5));
      })(),
      5000,
      'accept',
    );
    accepted[0].write('second line\n');
    await within(
      (async () => {
        while (Buffer.concat(received).toString() !== 'first line\nsecond line\n') await new Promise((r) => setTimeout(r, 5));
      })(),
      5000,
      'both lines',
    );
    socket.write('to the server\n');
    await within(new Promise((r) => accepted[0].once('data', r)), 5000, 'daemon → server');
    socket.destroy();
  } finally {
    helper.close();
    await gone(helper.pid!);
    server.close();
  }
  assert.deepEqual(logs, [], 'no "helper exited" complaint when closed on purpose');
});

test('only the configured path: the daemon side refuses another, the helper ignores any path in a request', async () => {
  const mine = await listen('mine.sock');
  const other = await listen('other.sock');
  const helper = new ConnectHelper(mine.path, () => {});
  try {
    await assert.rejects(helper.connect(other.path), /connects to .*mine\.sock only/);
  } finally {
    helper.close();
    await gone(helper.pid!);
  }
  // The helper itself, asked by a request that names another path and by junk.
  const child = fork(HELPER_MAIN, [mine.path], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [] });
  try {
    const answers: Array<{ message: { id?: number; error?: string }; handle: unknown }> = [];
    child.on('message', (message, handle) => answers.push({ message: message as { id?: number }, handle }));
    child.send('connect');
    child.send({ connect: 'x' });
    child.send({ connect: 7, path: other.path });
    await within(
      (async () => {
        while (answers.length < 1) await new Promise((r) => setTimeout(r, 5));
      })(),
      5000,
      'an answer',
    );
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(answers.length, 1, 'junk requests get no answer');
    assert.equal(answers[0].message.id, 7);
    (answers[0].handle as net.Socket).destroy();
    assert.equal(mine.accepted.length, 1);
    assert.equal(other.accepted.length, 0, 'never connected to the path in the request');
  } finally {
    child.disconnect();
    await gone(child.pid!);
    mine.server.close();
    other.server.close();
  }
});

test('a failed connect is an error naming the cause; the helper exiting fails later connects and is logged', async () => {
  const p = path.join(dir, 'nobody-listens.sock');
  const logs: string[] = [];
  const helper = new ConnectHelper(p, (m) => logs.push(m));
  await assert.rejects(helper.connect(p), /ENOENT/);
  process.kill(helper.pid!, 'SIGKILL');
  await gone(helper.pid!);
  await within(
    (async () => {
      while (logs.length === 0) await new Promise((r) => setTimeout(r, 5));
    })(),
    5000,
    'the exit logged',
  );
  assert.match(logs[0], /helper exited \(SIGKILL\): the event socket cannot be reconnected/);
  await assert.rejects(helper.connect(p), /helper exited/);
  helper.close();
});
