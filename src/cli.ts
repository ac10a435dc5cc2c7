// The command line: flags → daemon, signals → clean shutdown, errors → one
// line and an exit code (2 for bad flags, 1 for start-up failures, and with
// -read 1 after writing every flow when a file was not read to its end).
import { basename } from 'node:path';
import { parseConfig, usage, type Config } from './config/config.js';
import { formatDuration } from './config/units.js';
import { Daemon } from './daemon.js';
import { PacketHeadersError } from './errors.js';
import { incompleteInputLine } from './capture/inputreport.js';
import { stderrLog, type Log } from './log.js';
import { ConnectHelper } from './flowevents/connecthelper.js';
import { dropPrivileges } from './privileges.js';
import { endQuietlyWhenOutputCloses, findSubcommand, subcommandList } from './tools/subcommands.js';

export async function main(argv: string[], log: Log = stderrLog): Promise<number> {
  const tool = findSubcommand(argv[0]);
  if (tool !== undefined) {
    endQuietlyWhenOutputCloses();
    return tool.run(argv.slice(1));
  }
  const program = basename(process.argv[1] ?? 'packet-headers').replace(/\.js$/, '');
  let config: Config;
  try {
    const parsed = parseConfig(argv, process.env);
    if (parsed === 'help') {
      process.stdout.write(usage(program, subcommandList()));
      return 0;
    }
    config = parsed;
  } catch (error) {
    if (error instanceof PacketHeadersError) {
      process.stderr.write(`${program}: ${error.message}\n`);
      return 2;
    }
    throw error;
  }

  // Files 0664 and directories 0775, whatever umask the daemon was started with.
  process.umask(0o002);

  // Under -user, tcp-info's socket (root's, usually) could no longer be
  // reconnected once the daemon is NAME: a helper that stays root connects
  // it instead. It is started before anything else is opened, so it holds
  // nothing but its IPC channel.
  const helper = config.user !== '' && config.eventSocket !== '' && config.readFiles.length === 0 ? new ConnectHelper(config.eventSocket, log) : null;
  try {
    return await run(program, config, log, helper);
  } finally {
    helper?.close();
  }
}

async function run(program: string, config: Config, log: Log, helper: ConnectHelper | null): Promise<number> {
  // -read: SIGTERM or SIGINT stops the reading at once (there is nothing to
  // wait for, unlike live capture) and every flow read so far is written as
  // at the end of the files; a second signal exits at once. The handlers are
  // in place before the daemon starts, which logs that the reading began: a
  // signal sent on that line must not find the default action (death).
  const offline = config.readFiles.length > 0;
  let running: Daemon | null = null;
  let interrupted: NodeJS.Signals | null = null;
  const onOfflineSignal = (signal: NodeJS.Signals) => {
    if (interrupted !== null) {
      if (running !== null) exitAtOnce(running, signal, log);
      log(`${signal} again: exiting at once`);
      process.exit(1);
    }
    interrupted = signal;
    log(`${signal}: reading stopped; writing every flow read so far`);
    // Errors surface where the run awaits the same stop below.
    running?.stop().catch(() => {});
  };
  const removeOfflineHandlers = () => {
    process.off('SIGTERM', onOfflineSignal);
    process.off('SIGINT', onOfflineSignal);
  };
  if (offline) {
    process.on('SIGTERM', onOfflineSignal);
    process.on('SIGINT', onOfflineSignal);
  }

  let daemon: Daemon;
  try {
    daemon = await Daemon.start(config, { log, eventSocketConnector: helper?.connect });
    running = daemon;
  } catch (error) {
    removeOfflineHandlers();
    if (error instanceof PacketHeadersError || (error as { code?: string }).code === 'PH_ERR_CAPTURE') {
      process.stderr.write(`${program}: ${(error as Error).message}\n`);
      return 1;
    }
    throw error;
  }

  if (config.user !== '') {
    try {
      const { uid, gid } = dropPrivileges(config.user, config.datadir);
      const kept = helper === null ? '' : `; the event socket is connected by a helper that stays root (pid ${helper.pid})`;
      log(`running as user ${config.user} (uid ${uid}, gid ${gid})${kept}`);
    } catch (error) {
      removeOfflineHandlers();
      await daemon.stop();
      process.stderr.write(`${program}: ${(error as Error).message}\n`);
      return 1;
    }
  }

  if (offline) {
    // Offline: the run ends when every file has been read. Every flow still
    // open is written at the end, which can take as long as the reading: both
    // times are logged. A file cut short or damaged is read up to the fault,
    // and the others on; once every flow is written, one line per such file
    // says what was lost, and the exit code is 1 so that scripts notice.
    // A signal that came while the daemon was starting stops it now.
    if (interrupted !== null) daemon.stop().catch(() => {});
    try {
      const started = performance.now();
      await daemon.captureEnded();
      const readMs = performance.now() - started;
      const openFlows = daemon.demuxer.activeFlows;
      await daemon.stop();
      const writeMs = performance.now() - started - readMs;
      const incomplete = daemon.inputReports().filter((r) => r.problem !== null);
      for (const report of incomplete) log(incompleteInputLine(report));
      const note = incomplete.length > 0 ? ` (${incomplete.length} of ${config.readFiles.length} not to their end, see above)` : '';
      const read = interrupted === null ? `${config.readFiles.length} file(s) read${note}` : `interrupted by ${interrupted}, reading stopped${note}`;
      log(`done: ${read} in ${readMs.toFixed(0)} ms, then ${openFlows} open flows written in ${writeMs.toFixed(0)} ms`);
      return incomplete.length > 0 ? 1 : 0;
    } finally {
      removeOfflineHandlers();
    }
  }


  return new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) exitAtOnce(daemon, signal, log);
      signalled = true;
      log(`${signal}: capturing ${formatDuration(config.sigtermWaitMs)} more (-sigtermwait), then writing every flow and exiting`);
      setTimeout(() => {
        const flows = daemon.demuxer.activeFlows;
        const filesBefore = daemon.filesWritten;
        const started = performance.now();
        daemon.stop().then(
          () => {
            // Many open flows have nothing to save (sockets idle since start-up, flows past
            // -captureduration whose file is written already): count files, not flows.
            const files = daemon.filesWritten - filesBefore;
            log(`stopped: ${files} files written in ${Math.round(performance.now() - started)} ms for the ${flows} flows still open (the others had nothing left to save); exiting`);
            resolve(0);
          },
          (error: unknown) => {
            log(`shutdown failed: ${String(error)}`);
            resolve(1);
          },
        );
      }, config.sigtermWaitMs);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/** How long a second signal waits for the flow store's threads to finish the write each is doing. */
const ABORT_WAIT_MS = 1000;

/**
 * A second signal: exit now, losing the flows not yet written. The store's
 * threads first finish the file each is writing (milliseconds), so no
 * temporary file is left unless a write hangs past ABORT_WAIT_MS; the next
 * start removes any that is (src/saver/leftovers.ts).
 */
function exitAtOnce(daemon: Daemon, signal: NodeJS.Signals, log: Log): never {
  const clean = daemon.abortWrites(ABORT_WAIT_MS);
  const left = clean ? '' : ` (a file was still being written after ${ABORT_WAIT_MS} ms; its temporary file is removed at the next start)`;
  log(`${signal} again: exiting at once; flows not yet written are lost${left}`);
  process.exit(1);
}
