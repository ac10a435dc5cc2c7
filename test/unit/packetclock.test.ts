import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PACKET_TIME_TICK_MS, PacketClock } from '../../src/demux/packetclock.js';

test('the packet clock is the latest packet time, in milliseconds', () => {
  const clock = new PacketClock();
  assert.equal(clock.now(), 0);
  clock.advance(1_600_000_000, 500_000_000);
  assert.equal(clock.now(), 1_600_000_000_500);
  clock.advance(1_600_000_001, 250_000);
  assert.equal(clock.now(), 1_600_000_001_000.25);
});

test('the packet clock never goes back: an earlier packet leaves it where it is', () => {
  const clock = new PacketClock();
  clock.advance(1_600_000_010, 0);
  clock.advance(1_600_000_009, 999_999_999);
  assert.equal(clock.now(), 1_600_000_010_000);
  clock.advance(1_500_000_000, 0); // a year back
  assert.equal(clock.now(), 1_600_000_010_000);
});

test('deadlines are due at the first packet, then once per PACKET_TIME_TICK_MS of packet time', () => {
  const clock = new PacketClock();
  const due: number[] = [];
  // A packet every 10 ms for one second, with one stamped 300 ms early in the middle.
  for (let i = 0; i <= 100; i++) {
    const ms = i === 50 ? 200 : i * 10;
    if (clock.advance(1_700_000_000 + Math.floor(ms / 1000), (ms % 1000) * 1e6)) due.push(ms);
  }
  assert.equal(PACKET_TIME_TICK_MS, 100);
  assert.deepEqual(due, [0, 100, 200, 300, 400, 510, 610, 710, 810, 910]);
});
