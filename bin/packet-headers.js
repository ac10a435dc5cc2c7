#!/usr/bin/env node
// Entry point installed as `packet-headers` (package.json "bin").
import { main } from '../dist/src/cli.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // Everything is flushed by now; do not let a stray handle delay the exit.
  setTimeout(() => process.exit(code), 200).unref();
});
