// Which interfaces to capture on, and the BPF filter that keeps only TCP to or
// from this host's own addresses.
import { PacketHeadersError } from '../errors.js';
import type { InterfaceInfo } from './addon.js';

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

/** `tcp and (ip host A or ip6 host B …)` over the non-loopback addresses; plain `tcp` when there are none. */
export function buildFilter(interfaces: readonly InterfaceInfo[]): string {
  const hosts: string[] = [];
  for (const i of interfaces) {
    if (i.loopback) continue;
    for (const address of i.addresses) {
      hosts.push(address.includes(':') ? `ip6 host ${address}` : `ip host ${address}`);
    }
  }
  const unique = [...new Set(hosts)];
  return unique.length === 0 ? 'tcp' : `tcp and (${unique.join(' or ')})`;
}
