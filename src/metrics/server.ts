// The Prometheus endpoint: GET /metrics on -prometheusx.listen-address.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { PacketHeadersError } from '../errors.js';

/** Splits "host:port", ":port" or "[v6]:port" into its parts (host '' = every address). */
export function splitListenAddress(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]*)\]|([^:]*)):(\d{1,5})$/.exec(address);
  const port = match === null ? NaN : Number(match[3]);
  if (match === null || port > 65535) {
    throw new PacketHeadersError('PH_ERR_LISTEN', `invalid listen address "${address}" for flag -prometheusx.listen-address`);
  }
  return { host: match[1] ?? match[2], port };
}

export async function startMetricsServer(address: string, registry: Registry): Promise<Server> {
  const { host, port } = splitListenAddress(address);
  const server = createServer((request, response) => {
    if (request.method === 'GET' && (request.url === '/metrics' || request.url?.startsWith('/metrics?'))) {
      registry.metrics().then(
        (text) => {
          response.writeHead(200, { 'Content-Type': registry.contentType });
          response.end(text);
        },
        (error: unknown) => {
          response.writeHead(500, { 'Content-Type': 'text/plain' });
          response.end(`${String(error)}\n`);
        },
      );
      return;
    }
    response.writeHead(404, { 'Content-Type': 'text/plain' });
    response.end('not found; metrics are at /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new PacketHeadersError('PH_ERR_LISTEN', `cannot listen on ${address} (-prometheusx.listen-address): ${error.code ?? error.message}`)),
    );
    server.listen({ host: host === '' ? undefined : host, port }, resolve);
  });
  return server;
}

export function boundPort(server: Server): number {
  return (server.address() as AddressInfo).port;
}
