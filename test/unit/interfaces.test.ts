import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InterfaceInfo } from '../../src/native/addon.js';
import { buildFilter, selectInterfaces, TCP_FILTER } from '../../src/capture/interfaces.js';
import { PacketHeadersError } from '../../src/errors.js';

const lo: InterfaceInfo = { name: 'lo', up: true, running: true, loopback: true, addresses: ['127.0.0.1', '::1'] };
const eth: InterfaceInfo = { name: 'eth0', up: true, running: true, loopback: false, addresses: ['10.0.0.1', 'fd00::1'] };
const down: InterfaceInfo = { name: 'eth1', up: false, running: false, loopback: false, addresses: ['10.0.1.1'] };

test('no -interface: every interface that is up', () => {
  assert.deepEqual(selectInterfaces([], [lo, eth, down]).map((i) => i.name), ['lo', 'eth0']);
});

test('an unknown interface is a start-up error naming it', () => {
  assert.throws(() => selectInterfaces(['wlan7'], [lo, eth]), (e: unknown) => e instanceof PacketHeadersError && e.code === 'PH_ERR_INTERFACE' && e.message.includes('wlan7'));
  assert.deepEqual(selectInterfaces(['eth1', 'eth1'], [lo, eth, down]).map((i) => i.name), ['eth1']);
});

test('the filter names the non-loopback addresses and keeps TCP behind IPv6 extension headers', () => {
  assert.equal(buildFilter([lo, eth]), `${TCP_FILTER} and (ip host 10.0.0.1 or ip6 host fd00::1)`);
  assert.equal(buildFilter([lo]), TCP_FILTER);
  assert.match(TCP_FILTER, /ip6\[6\] != 6/);
});
