// One test network and one scratch directory for a test file or a describe
// block: made in before(), and in after() -- whatever the tests did, passed or
// failed -- the TCP servers started through it are stopped, the network
// destroyed (which ends every process started in it) and the directory removed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { createTestNetwork, type TestNetwork } from './netns.js';
import { startTcpServer, type HostPort, type TcpServer } from './tcppeer.js';

export interface NetworkFixture {
  /** Set in before(). */
  readonly net: TestNetwork;
  /** A fresh directory under the system's temporary directory; set in before(). */
  readonly work: string;
  /** Starts a TCP echo server in the server namespace (see startTcpServer); stopped in after(). */
  startServer(listen: readonly HostPort[], opts?: Parameters<typeof startTcpServer>[3]): Promise<TcpServer>;
}

/**
 * Registers the before() and after() hooks of the current suite (call it in a
 * describe body or at the top of a file). setUp, if given, runs in the same
 * before() once the network and directory exist: at the top of a file, a
 * before() of its own is not sure to run after this one.
 */
export function useNetworkFixture(workPrefix: string, setUp?: (fixture: NetworkFixture) => Promise<void>): NetworkFixture {
  let net: TestNetwork | undefined;
  let work: string | undefined;
  const servers: TcpServer[] = [];
  before(async () => {
    work = mkdtempSync(join(tmpdir(), workPrefix));
    net = await createTestNetwork();
    await setUp?.(fixture);
  });
  after(async () => {
    for (const server of servers) await server.stop();
    await net?.destroy();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });
  const fixture: NetworkFixture = {
    get net() {
      if (net === undefined) throw new Error('the test network is made in before()');
      return net;
    },
    get work() {
      if (work === undefined) throw new Error('the scratch directory is made in before()');
      return work;
    },
    async startServer(listen, opts) {
      if (net === undefined) throw new Error('the test network is made in before()');
      const server = await startTcpServer(net, net.serverNs, listen, opts);
      servers.push(server);
      return server;
    },
  };
  return fixture;
}
