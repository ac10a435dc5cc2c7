// IP anonymization (-anonymize.ip; docs/output.md, Content). `netblock` keeps an IPv4 address's /24 and an
// IPv6 address's /48; addresses of this host are never anonymized, so a file
// still says which side was the server. This decides which endpoints are
// masked; the flow store (native/router.cc) masks the stored packets.
import { parseAddressWords, type FlowKey } from '../decode/flowkey.js';

export type AnonymizationMode = 'none' | 'netblock';

export class Anonymizer {
  readonly mode: AnonymizationMode;
  /** Local addresses, four words each, IPv4 mapped as in flow keys. */
  private readonly local: Int32Array;

  constructor(mode: AnonymizationMode, localAddresses: readonly string[]) {
    this.mode = mode;
    const words = new Int32Array(localAddresses.length * 4);
    let n = 0;
    for (const a of localAddresses) if (parseAddressWords(a, words, n * 4)) n++;
    this.local = words.subarray(0, n * 4);
  }

  /** Whether the key's endpoint (0 = A, 1 = B) must be anonymized. */
  anonymizesEndpoint(key: FlowKey, endpoint: 0 | 1): boolean {
    if (this.mode === 'none') return false;
    const o = endpoint * 4;
    for (let i = 0; i < this.local.length; i += 4) {
      if (this.local[i] === key[o] && this.local[i + 1] === key[o + 1] && this.local[i + 2] === key[o + 2] && this.local[i + 3] === key[o + 3]) {
        return false;
      }
    }
    return true;
  }
}
