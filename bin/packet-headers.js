#!/usr/bin/env node
// Entry point installed as `packet-headers` (package.json "bin").
// libuv's thread pool runs the addon's socket-table queries (built-in flow
// source) and Node's own file-system calls; the flow store has threads of its
// own. A few more threads than the default 4 keep a slow query from holding up
// the rest. Must be set before the pool starts.
process.env.UV_THREADPOOL_SIZE ??= '16';
// The young generation stays at its first size instead of doubling to 32 MiB
// whenever many flows' objects survive a scavenge (each flow's state lives
// as long as the flow): about 30 MiB less resident memory with many flows,
// at no measurable cost, as packets are handled natively. Unlike the heap's
// limits, this one V8 still reads after start-up.
(await import('node:v8')).setFlagsFromString('--semi-space-growth-factor=1');
const { main } = await import('../dist/src/cli.js');

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // Everything is flushed by now; do not let a stray handle delay the exit.
  setTimeout(() => process.exit(code), 200).unref();
});
