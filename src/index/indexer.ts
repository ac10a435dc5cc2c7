// Brings the flow index up to date with a datadir: files that are new, or
// whose size or mtime changed, are summarized again; rows of files no longer
// there are dropped, so the index describes what is on disk and every path a
// query returns can be opened (by `plot`, say). Rows are committed in
// batches, one transaction each: an interrupt loses at most the batch being
// read, and the next run, finding those files not indexed, reads them.
import { join } from 'node:path';
import { datadirFiles } from './datadirfiles.js';
import type { FlowDb, FlowRow } from './flowdb.js';

/** Files per transaction: small enough that an interrupt loses little, large enough that commits cost nothing. */
export const BATCH_FILES = 500;

/** Files summarized at once. */
const FILES_IN_FLIGHT = 8;

export type Summarize = (file: string) => Promise<Readonly<Record<string, unknown>>>;

export interface UpdateOptions {
  summarize: Summarize;
  /** Stops the update after the current file; what was read so far is committed. */
  signal?: AbortSignal;
  batchFiles?: number;
  /** Called after each committed batch. */
  onBatch?: (progress: UpdateResult) => void;
}

export interface UpdateResult {
  /** Files summarized and written (new or changed). */
  indexed: number;
  unchanged: number;
  /** Rows dropped because their file is gone. */
  removed: number;
  /** Files that vanished or could not be read between the walk and the summary. */
  failed: number;
  interrupted: boolean;
}

export async function updateIndex(db: FlowDb, datadir: string, options: UpdateOptions): Promise<UpdateResult> {
  const batchFiles = options.batchFiles ?? BATCH_FILES;
  // Entries are taken out as their files are found: what is left at the end is gone from the datadir.
  const known = db.stamps();
  const result: UpdateResult = { indexed: 0, unchanged: 0, removed: 0, failed: 0, interrupted: false };
  let batch: FlowRow[] = [];
  const commit = (removed: readonly string[] = []) => {
    db.commit(batch, removed);
    result.indexed += batch.length;
    result.removed += removed.length;
    batch = [];
    options.onBatch?.({ ...result });
  };
  // A few files are read at once, so that reading one overlaps analysing another; they are taken in order.
  const inFlight: Promise<FlowRow | null>[] = [];
  const settleOldest = async () => {
    const row = await inFlight.shift()!;
    if (row === null) result.failed++;
    else batch.push(row);
    if (batch.length >= batchFiles) commit();
  };
  for await (const file of datadirFiles(datadir)) {
    if (options.signal?.aborted === true) {
      result.interrupted = true;
      break;
    }
    const before = known.get(file.path);
    known.delete(file.path);
    if (before !== undefined && before.bytes === file.stamp.bytes && before.mtimeNs === file.stamp.mtimeNs) {
      result.unchanged++;
      continue;
    }
    inFlight.push(
      options.summarize(join(datadir, file.path)).then(
        (summary) => ({ path: file.path, stamp: file.stamp, summary }),
        () => null,
      ),
    );
    if (inFlight.length >= FILES_IN_FLIGHT) await settleOldest();
  }
  while (inFlight.length > 0) await settleOldest();
  // An interrupted walk has not seen every file: nothing can be called gone.
  commit(result.interrupted ? [] : [...known.keys()]);
  return result;
}
