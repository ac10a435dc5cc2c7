// The daemon's -index thread: summarizes each file the daemon completes and
// writes its row, away from the thread that handles packets. Rows are
// committed once BATCH_FILES are waiting or COMMIT_MS after the first, so a
// busy daemon commits rarely and a quiet one shows its files within a second.
import { parentPort, workerData } from 'node:worker_threads';
import { relative, sep } from 'node:path';
import { fileStamp } from './datadirfiles.js';
import { FlowDb, type FlowRow } from './flowdb.js';
import { summarizeFile } from '../analysis/summarize.js';
import type { FromIndexWorker, IndexWorkerData, ToIndexWorker } from './liveindex.js';

const BATCH_FILES = 200;
const COMMIT_MS = 1000;

const port = parentPort;
if (port === null) throw new Error('indexworker.js runs as a worker thread');
const { database, datadir } = workerData as IndexWorkerData;
const post = (message: FromIndexWorker) => port.postMessage(message);

let db: FlowDb;
try {
  db = new FlowDb(database);
  post({ kind: 'ready' });
} catch (error) {
  post({ kind: 'fatal', message: (error as Error).message });
  process.exit(0);
}

let rows: FlowRow[] = [];
let timer: NodeJS.Timeout | null = null;
/** Files are summarized one at a time, in the order they were completed. */
let work = Promise.resolve();

function commit(): void {
  if (timer !== null) clearTimeout(timer);
  timer = null;
  if (rows.length === 0) return;
  const count = rows.length;
  try {
    db.commit(rows);
    post({ kind: 'committed', files: count });
  } catch (error) {
    post({ kind: 'failed', files: count, message: `cannot write to ${database}: ${(error as Error).message}` });
  }
  rows = [];
}

async function indexFile(path: string): Promise<void> {
  try {
    const stamp = await fileStamp(path);
    if (stamp === null) throw new Error('the file is gone');
    const summary = (await summarizeFile(path)) as unknown as Record<string, unknown>;
    rows.push({ path: relative(datadir, path).split(sep).join('/'), stamp, summary });
  } catch (error) {
    post({ kind: 'failed', files: 1, message: `cannot index ${path}: ${(error as Error).message}` });
    return;
  }
  if (rows.length >= BATCH_FILES) commit();
  else timer ??= setTimeout(commit, COMMIT_MS);
}

port.on('message', (message: ToIndexWorker) => {
  if (message.kind === 'file') {
    work = work.then(() => indexFile(message.path));
  } else {
    work = work.then(() => {
      commit();
      db.close();
      post({ kind: 'closed' });
      port.close();
    });
  }
});
