// The connect helper: a process that stays root when the daemon becomes
// another user (-user), so that the daemon can reconnect to a root-owned
// tcp-info event socket. It can do one thing: connect to the one path it was
// started with (its only argument) and hand the connected socket to the
// daemon over the IPC channel. A request carries nothing but a number; it
// reads no byte of the connection. It exits when the channel closes, which
// happens when the daemon exits or dies. It imports nothing but node:net.
import { createConnection, type Socket } from 'node:net';

const path = process.argv[2];
const send = process.send?.bind(process);
if (send === undefined || path === undefined || path === '') process.exit(2);

// Signals meant for the daemon's process group end the daemon, which ends this.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
process.on('disconnect', () => process.exit(0));

process.on('message', (message: unknown) => {
  const id = typeof message === 'object' && message !== null ? (message as { connect?: unknown }).connect : undefined;
  if (typeof id !== 'number' || !Number.isSafeInteger(id)) return;
  const socket: Socket = createConnection({ path });
  // Not reading: bytes read here would be lost to the daemon.
  socket.pause();
  socket.once('error', (error: Error) => {
    socket.destroy();
    send!({ id, error: error.message }, undefined, undefined, () => {});
  });
  socket.once('connect', () => {
    // Node closes this process's copy once the daemon has it.
    send!({ id }, socket, undefined, (error: Error | null) => {
      if (error !== null) socket.destroy();
    });
  });
});
