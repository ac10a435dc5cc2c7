// IP anonymization (-anonymize.ip; docs/output.md, Content). `netblock` keeps an IPv4 address's /24 and an
// IPv6 address's /48; addresses of this host are never anonymized, so a file
// still says which side was the server. The flow store (native/router.cc)
// decides per flow which endpoints are masked, from the local addresses
// given here, and masks the stored packets.
import { parseAddressWords } from '../decode/flowkey.js';

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

  /** The local addresses as flow-key words, four each (what FlowStore.setAnonymization takes). */
  get localAddressWords(): Int32Array {
    return this.local;
  }
}
