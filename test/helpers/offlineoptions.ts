// The daemon's options for an offline run in a test: every default of the
// command line, the given inputs and datadir, and whatever the test changes.
import type { DaemonOptions } from '../../src/daemon.js';

export function offlineOptions(readFiles: string[], datadir: string, extra: Partial<DaemonOptions> = {}): DaemonOptions {
  return {
    interfaces: [],
    readFiles,
    datadir,
    stream: false,
    anonymize: 'none',
    snaplen: 256,
    uuidWaitMs: 5000,
    captureDurationMs: 30000,
    flowTimeoutMs: 30000,
    maxFlows: 0,
    maxHeapBytes: 8e9,
    maxIdleRamBytes: 3e9,
    metricsAddress: null,
    eventSocket: '',
    ...extra,
  };
}
