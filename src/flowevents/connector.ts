// How the eventsocket client gets its connections. Directly, normally; through
// the connect helper (connecthelper.ts) once the daemon has given up root
// (-user), because tcp-info's socket is usually root's.
import * as net from 'node:net';

/** Resolves with a connected socket to `path`, or rejects with why not. */
export type Connector = (path: string) => Promise<net.Socket>;

export const directConnect: Connector = (path) =>
  new Promise((resolve, reject) => {
    const socket = net.createConnection({ path });
    const failed = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.once('error', failed);
    socket.once('connect', () => {
      socket.off('error', failed);
      resolve(socket);
    });
  });
