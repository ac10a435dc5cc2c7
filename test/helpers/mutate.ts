// Seeded generator of malformed frames: valid frames of every shape the
// decoder knows, then truncated, bit-flipped, given bogus lengths or wrapped
// in link types they do not belong to. Shared by the quick test slice and the
// full hardening run.
import { ethernetFrame, ipPacket, type TcpSpec } from './frames.js';

export class SeededRandom {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 1;
  }
  /** xorshift32 in [0, 1). */
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 2 ** 32;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

// Every link type the decoder knows, plus two it does not (802.11, user 0).
const LINK_TYPES = [0, 1, 101, 108, 113, 228, 229, 276, 105, 147];

function templates(): Array<{ frame: Buffer; linkType: number }> {
  const v4: TcpSpec = { src: '10.1.2.3', dst: '10.9.8.7', sport: 40000, dport: 443, payload: Buffer.alloc(40, 0x55) };
  const v6: TcpSpec = { src: 'fd00::1', dst: 'fd00:1::2', sport: 40000, dport: 443, payload: Buffer.alloc(40, 0x55) };
  const sll = (packet: Buffer, ethertype: number) => {
    const h = Buffer.alloc(16);
    h.writeUInt16BE(ethertype, 14);
    return Buffer.concat([h, packet]);
  };
  const sll2 = (packet: Buffer, ethertype: number) => {
    const h = Buffer.alloc(20);
    h.writeUInt16BE(ethertype, 0);
    return Buffer.concat([h, packet]);
  };
  const nullHeader = (packet: Buffer, family: number) => {
    const h = Buffer.alloc(4);
    h.writeUInt32LE(family, 0);
    return Buffer.concat([h, packet]);
  };
  return [
    { frame: ethernetFrame(v4), linkType: 1 },
    { frame: ethernetFrame({ ...v4, ipOptions: Buffer.from([0x94, 4, 0, 0, 1, 1, 1, 0]) }), linkType: 1 },
    { frame: ethernetFrame({ ...v4, vlanTags: 3 }), linkType: 1 },
    { frame: ethernetFrame({ ...v4, tcpOptions: Buffer.from([2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]) }), linkType: 1 },
    { frame: ethernetFrame(v6), linkType: 1 },
    {
      frame: ethernetFrame({ ...v6, ipv6Extensions: [{ type: 0, length8: 1 }, { type: 43, length8: 2 }, { type: 44, length8: 0 }, { type: 60, length8: 0 }] }),
      linkType: 1,
    },
    { frame: ipPacket(v4), linkType: 101 },
    { frame: ipPacket(v6), linkType: 229 },
    { frame: sll(ipPacket(v4), 0x0800), linkType: 113 },
    { frame: sll2(ipPacket(v6), 0x86dd), linkType: 276 },
    { frame: nullHeader(ipPacket(v4), 2), linkType: 0 },
    { frame: nullHeader(ipPacket(v6), 30), linkType: 108 },
  ];
}

export interface MutatedFrame {
  frame: Buffer;
  linkType: number;
}

/** An endless seeded stream of mostly malformed frames. */
export class FrameMutator {
  private readonly random: SeededRandom;
  private readonly templates = templates();
  constructor(seed: number) {
    this.random = new SeededRandom(seed);
  }

  next(): MutatedFrame {
    const r = this.random;
    const t = this.templates[r.int(this.templates.length)];
    const frame = Buffer.from(t.frame);
    let linkType = t.linkType;
    switch (r.int(6)) {
      case 0: // truncated anywhere
        return { frame: frame.subarray(0, r.int(frame.length + 1)), linkType };
      case 1: // random bytes flipped
        for (let i = 1 + r.int(8); i > 0; i--) frame[r.int(frame.length)] = r.int(256);
        break;
      case 2: {
        // bogus IHL, version, IPv6 next-header or extension length near the IP header
        const ipStart = frame.length - t.frame.length + (linkType === 1 ? 14 : 0);
        const at = Math.min(frame.length - 1, Math.max(0, ipStart + r.int(48)));
        frame[at] = r.int(256);
        break;
      }
      case 3: // the frame under the wrong link type
        linkType = LINK_TYPES[r.int(LINK_TYPES.length)];
        break;
      case 4: // random garbage of random length
        return { frame: Buffer.from(Array.from({ length: r.int(120) }, () => r.int(256))), linkType };
      default: // valid, to keep flows in play
        break;
    }
    return { frame, linkType };
  }
}
