// The staging directory: where files are written before they appear whole in
// the datadir. An uploader beside the daemon (M-Lab's pusher, or any built on
// inotify) ships every file it hears closed after a write or moved in under
// the datadir, so nothing may be written there but finished files: a buffered
// file is an unnamed file in the staging directory until it is linked to its
// name, and a stream file grows there until it is moved in at its end
// (native/file_jobs.cc). The directory must be on the datadir's filesystem
// (a link or a rename cannot cross filesystems) and outside it; by default it
// is `.<datadir name>.staging` beside the datadir, which is outside what
// pusher watches (<directory>/<datatype>).
import { accessSync, constants as fsConstants, existsSync, readFileSync, rmdirSync, statSync, unlinkSync, writeFileSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { NativeAddon } from '../native/addon.js';
import { errorWords, PacketHeadersError } from '../errors.js';
import { DIR_MODE } from './flowfile.js';
import { dayFiles, entries, TEMPORARY_NAME } from './leftovers.js';
import { makeDirectory, type DirectoryOwner } from './outputlayout.js';

/** The UUIDs of the connections a run named and remembered at its stop, one a line, for the next run. */
const NAMED_CONNECTIONS = 'named-connections';

export function defaultStagingDir(datadir: string): string {
  const absolute = resolve(datadir);
  return join(dirname(absolute), `.${basename(absolute) || 'root'}.staging`);
}

export interface StagingChoice {
  /** The staging directory, or null: files are then made in their day's directory (docs/output.md). */
  dir: string | null;
  /** This run made it: removeStagingDir takes it away again at the end, when it is empty. */
  made: boolean;
  /** Why the default could not be used, for one log line. */
  problem: string | null;
}

/**
 * Makes and checks the staging directory: `requested` (-stagingdir), or the
 * default. A requested one that cannot be used is a start-up error; the
 * default that cannot be used leaves the daemon without one, said once.
 * `owner`: the user the daemon will run as (-user), who must be able to write
 * in it (a directory made now is given to it).
 */
export function chooseStagingDir(datadir: string, requested: string, owner: DirectoryOwner | null = null): StagingChoice {
  const dir = requested === '' ? defaultStagingDir(datadir) : resolve(requested);
  const made = !existsSync(dir);
  const problem = unusable(dir, datadir, owner);
  if (problem === null) return { dir, made, problem: null };
  if (requested !== '') throw new PacketHeadersError('PH_ERR_STAGING', `cannot use "${requested}" as -stagingdir: ${problem}`);
  return { dir: null, made: false, problem: `${dir}: ${problem}` };
}

/**
 * At the end of a run that made the staging directory (a -read into a new
 * datadir, say): it goes again with its empty day directories; a file in it
 * (which no clean stop leaves) keeps it. Errors are ignored.
 */
export function removeStagingDir(dir: string): void {
  const emptyTree = (path: string): boolean => {
    let empty = true;
    for (const entry of entries(path)) {
      if (!entry.isDirectory() || !emptyTree(join(path, entry.name))) empty = false;
    }
    if (!empty) return false;
    try {
      rmdirSync(path);
      return true;
    } catch {
      return false;
    }
  };
  emptyTree(dir);
}

function unusable(dir: string, datadir: string, owner: DirectoryOwner | null): string | null {
  try {
    makeDirectory(dir, owner);
    accessSync(dir, fsConstants.W_OK | fsConstants.X_OK);
    const st = statSync(dir);
    if (st.dev !== statSync(datadir).dev) return 'it is not on the filesystem of -datadir';
    if (owner !== null && !writableBy(st, owner)) return `user ${owner.uid} (-user) cannot write in it`;
  } catch (error) {
    return errorWords(error);
  }
  return null;
}

/** Whether the mode bits let `owner` write in a directory (its primary group only: supplementary groups and ACLs are not looked at). */
function writableBy(st: Stats, owner: DirectoryOwner): boolean {
  if (st.uid === owner.uid) return (st.mode & 0o300) === 0o300;
  if (st.gid === owner.gid) return (st.mode & 0o030) === 0o030;
  return (st.mode & 0o003) === 0o003;
}

export interface StagedLeftovers {
  /** Stream files published into the datadir, under their own name or a numbered one. */
  published: number;
  /** Of them, published under a numbered name (their own was taken). */
  numbered: number;
  /** Removed: temporary files, and stream files without one complete gzip member. */
  removed: number;
  /** Files that could not be published or removed (left where they are). */
  failed: number;
}

/**
 * What an earlier run left in the staging directory, at start-up: its stream
 * files (a crash or kill -9 before their end) are cut to their last complete
 * gzip member and published, as that run would have at their end; its
 * temporary files are removed. `<staging>/YYYY/MM/DD/` only; no symbolic link
 * is followed.
 */
export function publishStagedLeftovers(stagingDir: string, datadir: string, addon: Pick<NativeAddon, 'publishStaged'>, log: (line: string) => void): StagedLeftovers {
  const result: StagedLeftovers = { published: 0, numbered: 0, removed: 0, failed: 0 };
  for (const { day, name } of dayFiles(stagingDir)) {
    const from = join(stagingDir, day, name);
    try {
      if (TEMPORARY_NAME.test(name)) {
        unlinkSync(from);
        result.removed++;
        continue;
      }
      const [numbered, cut] = addon.publishStaged(from, join(datadir, day, name), DIR_MODE);
      if (numbered < 0) {
        result.removed++;
        continue;
      }
      result.published++;
      if (numbered > 0) result.numbered++;
      if (cut > 0 || numbered > 0) log(`published ${from} from an earlier run${cut > 0 ? ` (a partial gzip member of ${cut} bytes cut off)` : ''}${numbered > 0 ? ` as number ${numbered}: its name was taken` : ''}`);
    } catch (error) {
      result.failed++;
      log(`cannot publish ${from} left by an earlier run: ${errorWords(error)}`);
    }
  }
  return result;
}


/** At a clean stop: the UUIDs of the connections this run named that may go on after it. */
export function saveNamedConnections(stagingDir: string, uuids: readonly string[]): void {
  if (uuids.length === 0) return;
  try {
    writeFileSync(join(stagingDir, NAMED_CONNECTIONS), `${uuids.join('\n')}\n`, { mode: 0o664 });
  } catch {
    // Without it, the next run names fewer of the connections that go on (docs/output.md).
  }
}

/** At start: what the run before saved (saveNamedConnections), once; none when it did not stop cleanly. */
export function takeNamedConnections(stagingDir: string): string[] {
  const path = join(stagingDir, NAMED_CONNECTIONS);
  try {
    const text = readFileSync(path, 'utf8');
    unlinkSync(path);
    return text.split('\n').filter((l) => l !== '');
  } catch {
    return [];
  }
}
