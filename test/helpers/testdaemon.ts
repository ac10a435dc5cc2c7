// The daemon run offline in a test: every default of the command line, the
// given inputs and datadir, whatever the test changes, no metrics listener,
// and the flows named by the given Open events (else by the naming rule).
import { parseConfig, type Config } from '../../src/config/config.js';
import { Daemon } from '../../src/daemon.js';
import { EventListSource } from '../../src/flowevents/eventfile.js';
import type { FlowOpenEvent } from '../../src/flowevents/types.js';
import type { Log } from '../../src/log.js';

function offlineConfig(readFiles: string[], datadir: string, extra: Partial<Config> = {}): Config {
  const defaults = parseConfig([], {});
  if (defaults === 'help') throw new Error('no arguments cannot ask for help');
  return { ...defaults, readFiles, datadir, ...extra };
}

export interface TestRun {
  config?: Partial<Config>;
  /** The flows' names; absent: offline naming (as without -events). */
  events?: FlowOpenEvent[];
  log?: Log;
  statusLogMs?: number;
}

/** Starts the daemon on `readFiles` (none: live, per run.config). */
export function startTestDaemon(readFiles: string[], datadir: string, run: TestRun = {}): Promise<Daemon> {
  return Daemon.start(offlineConfig(readFiles, datadir, run.config), {
    log: run.log ?? (() => {}),
    serveMetrics: false,
    statusLogMs: run.statusLogMs,
    flowSources: run.events === undefined ? undefined : [new EventListSource(run.events)],
  });
}
