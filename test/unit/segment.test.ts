import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readSegment, Segment, TH_ACK, TH_SYN } from '../../src/analysis/segment.js';
import { DecodedPacket } from '../../src/decode/packet.js';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW } from '../../src/native/layout.js';
import { ethernetFrame, ipPacket } from '../helpers/frames.js';

const options = Buffer.from([
  2, 4, 0x05, 0xb4, // MSS 1460
  1, 3, 3, 7, // NOP, window scale 7
  4, 2, // SACK permitted
  8, 10, 0, 0, 0, 5, 0, 0, 0, 9, // timestamps 5, 9
  5, 18, 0, 0, 0x10, 0, 0, 0, 0x20, 0, 0, 0, 0x30, 0, 0, 0, 0x40, 0, // two SACK blocks
]);

test('a stored frame cut after its headers: lengths from the IP header, options parsed', () => {
  const frame = ethernetFrame({ src: '10.1.2.3', dst: '10.1.2.4', sport: 1234, dport: 80, flags: TH_SYN | TH_ACK, seq: 4_000_000_000, tcpOptions: options, payload: Buffer.alloc(1000) });
  const headers = 14 + 20 + 20 + 40;
  const s = new Segment();
  assert.equal(readSegment(frame, 0, headers, LINKTYPE_ETHERNET, new DecodedPacket(), s), true);
  assert.equal(s.seglen, 1000, 'payload length from the IP total length, not the captured bytes');
  assert.equal(s.ipLength, 20 + 20 + 40 + 1000);
  assert.equal(s.seq, 4_000_000_000);
  assert.equal(s.flags, TH_SYN | TH_ACK);
  assert.deepEqual([s.mss, s.windowScale, s.sackPermitted, s.hasTimestamps, s.tsval, s.tsecr], [1460, 7, true, true, 5, 9]);
  assert.equal(s.sackBlocks, 2);
  assert.deepEqual([...s.sackEdges.subarray(0, 4)], [0x1000, 0x2000, 0x3000, 0x4000]);
  assert.equal(s.ttl, 64);
});

test('IPv6 with an extension header (raw link type): payload length + 40, hop limit, ECN bits', () => {
  const packet = ipPacket({ src: 'fd00::1', dst: 'fd00::2', sport: 1, dport: 2, flags: TH_ACK, payload: Buffer.alloc(300), ipv6Extensions: [{ type: 0, length8: 0 }] });
  packet[1] = 0x30; // traffic class 0x03: Congestion Experienced
  const s = new Segment();
  assert.equal(readSegment(packet, 0, 40 + 8 + 20, LINKTYPE_RAW, new DecodedPacket(), s), true);
  assert.equal(s.ipLength, 40 + 8 + 20 + 300);
  assert.equal(s.seglen, 300);
  assert.equal(s.ecn, 3);
  assert.equal(s.mss, -1);
});

test('options that run past the header, and a zero option length, stop the parse without a throw', () => {
  const bad = Buffer.from([2, 4, 0x05, 0xb4, 8, 0, 0, 0]);
  const frame = ethernetFrame({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, tcpOptions: bad });
  const s = new Segment();
  assert.equal(readSegment(frame, 0, frame.length, LINKTYPE_ETHERNET, new DecodedPacket(), s), true);
  assert.equal(s.mss, 1460);
  assert.equal(s.hasTimestamps, false);
  assert.equal(readSegment(frame, 0, 30, LINKTYPE_ETHERNET, new DecodedPacket(), s), false, 'too short for a TCP header');
});
