import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { addressText, portOf } from '../../src/decode/flowkey.js';
import {
  BAD_FRAGMENT,
  BAD_IP_HEADER,
  BAD_LINKTYPE,
  BAD_NOT_IP,
  BAD_NOT_TCP,
  BAD_TCP_HEADER,
  BAD_TRUNCATED,
  DECODE_OK,
  DESCRIPTION_WORDS,
  D_FLAGS,
  FLAG_FIN,
  FLAG_OPENING_SYN,
  FLAG_RST,
  LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_NULL,
  LINKTYPE_RAW,
} from '../../src/native/layout.js';
import { DecodedPacket, decodeFrame } from '../../src/decode/packet.js';
import { describeRecords } from '../../src/decode/describe.js';
import { batchOf, ethernetFrame, ipPacket, type TcpSpec } from '../helpers/frames.js';

const v4: TcpSpec = { src: '10.1.2.3', dst: '10.9.8.7', sport: 40000, dport: 443 };
const v6: TcpSpec = { src: 'fd00::1', dst: 'fd00:1::2', sport: 40000, dport: 443 };

function decode(frame: Buffer, linkType = LINKTYPE_ETHERNET, start = 0, caplen = frame.length - start) {
  const out = new DecodedPacket();
  const status = decodeFrame(frame, start, caplen, linkType, out);
  return { status, out };
}

describe('decodeFrame', () => {
  test('Ethernet IPv4 TCP: offsets, key, ports', () => {
    const { status, out } = decode(ethernetFrame({ ...v4, payload: Buffer.from('hello') }));
    assert.equal(status, DECODE_OK);
    assert.equal(out.ipVersion, 4);
    assert.equal(out.tcpOffset, 34);
    assert.equal(out.tcpHeaderLength, 20);
    assert.equal(out.srcAddressOffset, 26);
    assert.equal(out.dstAddressOffset, 30);
    assert.equal(addressText(out.key, 0), '10.1.2.3');
    assert.equal(addressText(out.key, 1), '10.9.8.7');
    assert.equal(portOf(out.key, 0), 40000);
    assert.equal(out.swapped, false);
  });

  test('the reverse direction gives the same key, swapped', () => {
    const a = decode(ethernetFrame(v4)).out;
    const b = decode(ethernetFrame({ src: v4.dst, dst: v4.src, sport: v4.dport, dport: v4.sport })).out;
    assert.deepEqual([...a.key], [...b.key]);
    assert.equal(b.swapped, true);
  });

  test('IPv4 options count before TCP', () => {
    const { status, out } = decode(ethernetFrame({ ...v4, ipOptions: Buffer.from([1, 1, 1, 0, 0x94, 4, 0, 0]) }));
    assert.equal(status, DECODE_OK);
    assert.equal(out.tcpOffset, 42);
  });

  test('TCP options give the header length', () => {
    const { out } = decode(ethernetFrame({ ...v4, tcpOptions: Buffer.alloc(12, 1) }));
    assert.equal(out.tcpHeaderLength, 32);
  });

  test('VLAN stacks are skipped', () => {
    const { status, out } = decode(ethernetFrame({ ...v4, vlanTags: 2 }));
    assert.equal(status, DECODE_OK);
    assert.equal(out.tcpOffset, 42);
    assert.equal(decode(ethernetFrame({ ...v4, vlanTags: 9 })).status, BAD_NOT_IP);
  });

  test('IPv6 with extension headers', () => {
    const plain = decode(ethernetFrame(v6));
    assert.equal(plain.status, DECODE_OK);
    assert.equal(plain.out.tcpOffset, 54);
    assert.equal(plain.out.ipVersion, 6);
    assert.equal(addressText(plain.out.key, 0), 'fd00::1');
    const ext = decode(
      ethernetFrame({ ...v6, ipv6Extensions: [{ type: 0, length8: 0 }, { type: 60, length8: 1 }, { type: 44, length8: 0 }] }),
    );
    assert.equal(ext.status, DECODE_OK);
    assert.equal(ext.out.tcpOffset, 54 + 8 + 16 + 8);
  });

  test('non-first fragments are not TCP headers', () => {
    const frame = ethernetFrame(v4);
    frame.writeUInt16BE(0x0010, 14 + 6);
    assert.equal(decode(frame).status, BAD_FRAGMENT);
  });

  test('other link types', () => {
    const packet = ipPacket(v4);
    assert.equal(decode(packet, LINKTYPE_RAW).status, DECODE_OK);
    assert.equal(decode(packet, LINKTYPE_RAW).out.tcpOffset, 20);
    const sll = Buffer.concat([Buffer.alloc(16), packet]);
    sll.writeUInt16BE(0x0800, 14);
    assert.equal(decode(sll, LINKTYPE_LINUX_SLL).out.tcpOffset, 36);
    const sll2 = Buffer.concat([Buffer.alloc(20), ipPacket(v6)]);
    sll2.writeUInt16BE(0x86dd, 0);
    assert.equal(decode(sll2, LINKTYPE_LINUX_SLL2).status, DECODE_OK);
    const nullHeader = Buffer.alloc(4);
    nullHeader.writeUInt32LE(2, 0);
    assert.equal(decode(Buffer.concat([nullHeader, packet]), LINKTYPE_NULL).out.tcpOffset, 24);
    assert.equal(decode(packet, 147).status, BAD_LINKTYPE);
  });

  test('malformed frames get a reason, never an exception', () => {
    const frame = ethernetFrame(v4);
    for (let len = 0; len < 54; len++) assert.notEqual(decode(frame, LINKTYPE_ETHERNET, 0, len).status, DECODE_OK, `len ${len}`);
    const badIhl = Buffer.from(frame);
    badIhl[14] = 0x43;
    assert.equal(decode(badIhl).status, BAD_IP_HEADER);
    const udp = Buffer.from(frame);
    udp[14 + 9] = 17;
    assert.equal(decode(udp).status, BAD_NOT_TCP);
    const badOffset = Buffer.from(frame);
    badOffset[34 + 12] = 0x20;
    assert.equal(decode(badOffset).status, BAD_TCP_HEADER);
    const arp = Buffer.from(frame);
    arp.writeUInt16BE(0x0806, 12);
    assert.equal(decode(arp).status, BAD_NOT_IP);
    assert.equal(decode(ethernetFrame(v6), LINKTYPE_ETHERNET, 0, 60).status, BAD_TRUNCATED);
    const loop = ethernetFrame({ ...v6, ipv6Extensions: Array.from({ length: 20 }, () => ({ type: 60, length8: 0 })) });
    assert.equal(decode(loop).status, BAD_IP_HEADER);
  });

  test('seeded random mutations never throw', () => {
    let seed = 12345;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const seeds = [ethernetFrame(v4), ethernetFrame(v6), ethernetFrame({ ...v6, ipv6Extensions: [{ type: 0, length8: 2 }] })];
    const out = new DecodedPacket();
    for (let i = 0; i < 50_000; i++) {
      const frame = Buffer.from(seeds[i % seeds.length]);
      const flips = 1 + Math.floor(random() * 6);
      for (let f = 0; f < flips; f++) frame[Math.floor(random() * frame.length)] = Math.floor(random() * 256);
      const caplen = Math.floor(random() * (frame.length + 1));
      const status = decodeFrame(frame, 0, caplen, [0, 1, 101, 113, 276, 228, 229, 108][i % 8], out);
      assert.ok(status >= 0 && status <= 7);
      if (status === DECODE_OK) assert.ok(out.tcpOffset + 20 <= caplen);
    }
  });
});

describe('describeRecords', () => {
  test('flags: opening SYN, FIN and RST (the flow store compresses early at the last two)', () => {
    const frames = [
      ethernetFrame({ ...v4, flags: 0x02 }), // SYN
      ethernetFrame({ ...v4, flags: 0x12 }), // SYN-ACK: not an opening SYN
      ethernetFrame({ ...v4, flags: 0x11 }), // FIN-ACK
      ethernetFrame({ ...v6, flags: 0x14 }), // RST-ACK
      ethernetFrame({ ...v4, flags: 0x10 }), // ACK
    ];
    const d = describeRecords(batchOf(frames.map((frame) => ({ frame }))), LINKTYPE_ETHERNET);
    const flags = frames.map((_, i) => d[i * DESCRIPTION_WORDS + D_FLAGS] & (FLAG_OPENING_SYN | FLAG_FIN | FLAG_RST));
    assert.deepEqual(flags, [FLAG_OPENING_SYN, 0, FLAG_FIN, FLAG_RST, 0]);
  });
});
