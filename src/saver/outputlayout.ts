// Where a flow's file goes: `<datadir>/YYYY/MM/DD/<name>.pcap.gz`, the day
// the flow was announced (UTC), and in stream mode where it grows until its
// end (the same path under the staging directory, src/saver/staging.ts).
//
// An uploader watching the datadir recursively watches a new directory only
// after it hears of its creation, and misses a file written into it before
// then; so each day's directory is made ahead: today's and tomorrow's at
// start and every few minutes after, and any other day's (a flow announced
// with an older timestamp) when its flow is named, well before its file is
// written at the flow's end.
import { chownSync, mkdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { DIR_MODE } from './flowfile.js';

const DAY_MS = 24 * 60 * 60 * 1000;

export interface FileTarget {
  /** Where the file is published. */
  path: string;
  /** Where a stream file grows until its end: `path`, or its place under the staging directory. */
  writePath: string;
}

/** Who the directories the daemon makes belong to: -user's, while it still runs as root. */
export interface DirectoryOwner {
  uid: number;
  gid: number;
}

export class OutputLayout {
  private readonly datadir: string;
  private readonly stagingDir: string | null;
  private readonly owner: DirectoryOwner | null;
  /** Day directories (relative) made or found by this run. */
  private readonly days = new Set<string>();

  constructor(datadir: string, stagingDir: string | null, owner: DirectoryOwner | null = null) {
    this.datadir = datadir;
    this.stagingDir = stagingDir;
    this.owner = owner;
  }

  /** The file named `name` of a flow announced at `dayMs`; its day's directory is made if this run has not made it. */
  target(name: string, dayMs: number): FileTarget {
    const day = this.ensureDay(dayMs);
    const file = join(day, `${name}.pcap.gz`);
    return {
      path: join(this.datadir, file),
      writePath: this.stagingDir === null ? join(this.datadir, file) : join(this.stagingDir, file),
    };
  }

  /** Today's and tomorrow's directories (UTC), so that midnight finds tomorrow's made. */
  prepareAhead(nowMs: number): void {
    this.ensureDay(nowMs);
    this.ensureDay(nowMs + DAY_MS);
  }

  /** YYYY/MM/DD of `ms`, made under the datadir unless made already. */
  private ensureDay(ms: number): string {
    const day = datePath(ms);
    if (!this.days.has(day)) {
      try {
        makeDirectory(join(this.datadir, day), this.owner);
        this.days.add(day);
      } catch {
        // The write will fail and be counted with its reason (permission, disk full).
      }
    }
    return day;
  }
}

/**
 * mkdir -p with mode 0775; the directories it made are given to `owner` (the
 * daemon, started as root, makes them for the user it will run as).
 */
export function makeDirectory(dir: string, owner: DirectoryOwner | null): void {
  const first = mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  if (first === undefined || owner === null) return;
  const made = relative(first, dir);
  let path = first;
  chownSync(path, owner.uid, owner.gid);
  for (const part of made === '' ? [] : made.split(sep)) {
    path = join(path, part);
    chownSync(path, owner.uid, owner.gid);
  }
}

/** YYYY/MM/DD of a moment, in UTC. */
export function datePath(timestampMs: number): string {
  const d = new Date(timestampMs);
  const mm = String(d.getUTCMonth() + 1).padStart(2, '0');
  const dd = String(d.getUTCDate()).padStart(2, '0');
  return join(String(d.getUTCFullYear()).padStart(4, '0'), mm, dd);
}
