// The flow sources a configuration calls for, picked in this one place:
//  - -read with -events: the file's Open events;
//  - -read without it: a name made from each flow (offlinenaming.ts);
//  - live with -tcpinfo.eventsocket: tcp-info's events, and the kernel's
//    socket table for the connections that existed before this run only
//    (tcp-info announced them to the run before and will not again), with
//    the UUID prefix tcp-info's own UUIDs show;
//  - live without it: the kernel's socket table for every flow.
import type { NativeAddon } from '../native/addon.js';
import type { Config } from '../config/config.js';
import type { Log } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Connector } from './connector.js';
import { EventListSource } from './eventfile.js';
import { EventSocketClient } from './eventsocket.js';
import type { FlowSource } from './flowsource.js';
import { KernelFlowSource } from './kernelsource.js';
import { OfflineNamingSource } from './offlinenaming.js';
import { cookieOfUuid, prefixOfUuid, uuidPrefix } from './uuidprefix.js';

export type SourceConfig = Pick<Config, 'readFiles' | 'eventsFile' | 'eventSocket' | 'uuidPrefixFile' | 'socketPollMs'>;

export interface SourceContext {
  addon: NativeAddon;
  metrics: Metrics;
  log: Log;
  /** How the event socket is connected; default directly (under -user, the connect helper's). */
  connector?: Connector;
  /** UUIDs the run before remembered at its stop (src/saver/staging.ts takeNamedConnections). */
  namedBefore: readonly string[];
}

export function pickFlowSources(config: SourceConfig, context: SourceContext): FlowSource[] {
  if (config.readFiles.length > 0) {
    return [config.eventsFile === '' ? new OfflineNamingSource() : EventListSource.read(config.eventsFile, context.log)];
  }
  const { addon, metrics, log } = context;
  const kernel = new KernelFlowSource({
    prefix: uuidPrefix(config.uuidPrefixFile),
    existingOnly: config.eventSocket !== '',
    namedBefore: new Set(context.namedBefore.map(cookieOfUuid).filter((c): c is string => c !== null)),
    pollMs: config.socketPollMs,
    addon,
    metrics,
    log,
  });
  if (config.eventSocket === '') return [kernel];
  const socket = new EventSocketClient({
    path: config.eventSocket,
    onBadLine: (reason) => metrics.badEvents.labels(reason).inc(),
    onConnectedChange: (connected) => metrics.eventSocketConnected.set(connected ? 1 : 0),
    log,
    connector: context.connector,
  });
  metrics.eventSocketConnected.set(0);
  const tcpinfo: FlowSource = {
    start: (emit) =>
      socket.start((event) => {
        const prefix = event.kind === 'open' ? prefixOfUuid(event.uuid) : null;
        if (prefix !== null) kernel.setPrefix(prefix);
        emit(event);
      }),
    stop: () => socket.stop(),
  };
  return [tcpinfo, kernel];
}
