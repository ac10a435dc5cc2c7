import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Registry } from 'prom-client';
import { InternalErrors } from '../../src/internalerrors.js';

test('a throw while handling is counted every time, logged with its stack the 1st, 10th and 100th time, and never thrown on', async () => {
  const registry = new Registry();
  const counter = new Counter({ name: 'pcap_internal_errors_total', help: 'h', registers: [registry] });
  const lines: string[] = [];
  const errors = new InternalErrors((l) => lines.push(l), counter);
  let ran = 0;
  for (let i = 0; i < 120; i++) {
    errors.guard('handling a batch of eth0', () => {
      ran++;
      throw new Error('route already');
    });
  }
  errors.guard('handling a flow event', () => ran++);
  assert.equal(ran, 121);
  assert.equal((await counter.get()).values[0].value, 120);
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^internal error while handling a batch of eth0 \(1 so far, pcap_internal_errors_total; .*\): Error: route already\n\s+at /);
  assert.match(lines[1], /\(10 so far/);
  assert.match(lines[2], /\(100 so far/);
});
