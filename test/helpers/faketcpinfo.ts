// A stand-in for tcp-info's event server in integration tests: it announces
// connections (as the TCP peer reports them) as Open events.
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { AcceptEvent } from './tcppeer.js';

export class FakeTcpInfo {
  readonly path: string;
  private readonly server: Server;
  private readonly clients = new Set<Socket>();
  constructor(dir: string) {
    this.path = join(dir, 'events.sock');
    this.server = createServer((socket) => {
      this.clients.add(socket);
      socket.on('close', () => this.clients.delete(socket));
      socket.on('error', () => {});
    });
  }
  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.path, resolve));
  }
  get connected(): number {
    return this.clients.size;
  }
  /** Drops every client connection, as a restarting tcp-info would. */
  dropClients(): void {
    for (const c of this.clients) c.destroy();
  }
  announce(a: AcceptEvent, uuid: string): void {
    const line = JSON.stringify({
      Event: 0,
      Timestamp: new Date().toISOString(),
      UUID: uuid,
      ID: { SPort: a.lport, DPort: a.rport, SrcIP: a.local, DstIP: a.remote, Interface: 0, Cookie: parseInt(a.cookie, 16) },
    });
    for (const c of this.clients) c.write(`${line}\n`);
  }
  close(): Promise<void> {
    for (const c of this.clients) c.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

