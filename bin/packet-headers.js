#!/usr/bin/env node
// Entry point installed as `packet-headers` (package.json "bin").
// With -stream, files are appended through libuv's thread pool (whole files
// are written by the saver workers); at shutdown every open flow is flushed at
// once, and file-system calls are latency-bound, so more threads than the
// default 4 finish sooner. Must be set before the pool starts.
process.env.UV_THREADPOOL_SIZE ??= '16';
const { main } = await import('../dist/src/cli.js');

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // Everything is flushed by now; do not let a stray handle delay the exit.
  setTimeout(() => process.exit(code), 200).unref();
});
