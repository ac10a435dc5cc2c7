// Which interfaces to capture on, and the BPF filter that keeps only TCP to or
// from this host's own addresses.
import { PacketHeadersError } from '../errors.js';
import type { InterfaceInfo } from '../native/addon.js';

/** The requested interfaces, or every interface that is up when none is requested. */
export function selectInterfaces(requested: readonly string[], available: readonly InterfaceInfo[]): InterfaceInfo[] {
  if (requested.length === 0) return available.filter((i) => i.up);
  const byName = new Map(available.map((i) => [i.name, i]));
  return [...new Set(requested)].map((name) => {
    const info = byName.get(name);
    if (info === undefined) {
      const known = available.map((i) => i.name).join(', ');
      throw new PacketHeadersError('PH_ERR_INTERFACE', `unknown interface "${name}" for flag -interface (known: ${known})`);
    }
    return info;
  });
}

/**
 * libpcap's `tcp` primitive only looks at the IPv6 header's own next-header
 * field, so it rejects TCP behind IPv6 extension headers. This lets such
 * packets through too (any IPv6 packet whose first next header is not TCP,
 * UDP or ICMPv6); the decoder follows the chain and counts what is not TCP.
 */
export const TCP_FILTER = '(tcp or (ip6 and ip6[6] != 6 and ip6[6] != 17 and ip6[6] != 58))';

/** `TCP and (ip host A or ip6 host B …)` over the non-loopback addresses; TCP alone when there are none. */
export function buildFilter(interfaces: readonly InterfaceInfo[]): string {
  const hosts: string[] = [];
  for (const i of interfaces) {
    if (i.loopback) continue;
    for (const address of i.addresses) {
      hosts.push(address.includes(':') ? `ip6 host ${address}` : `ip host ${address}`);
    }
  }
  const unique = [...new Set(hosts)];
  return unique.length === 0 ? TCP_FILTER : `${TCP_FILTER} and (${unique.join(' or ')})`;
}
