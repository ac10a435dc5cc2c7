// An uploader as M-Lab's pusher works, for integration tests: inotifywait
// (inotify-tools) watches the datadir recursively for IN_CLOSE_WRITE and
// IN_MOVED_TO, adding each new directory as it appears; every file it hears
// of is copied to an archive under the same relative name at once and then
// deleted from the datadir. What it could not open, and any name it heard of
// twice, is kept for the test to assert on.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { LineCollector } from './processes.js';
import { waitFor } from './wait.js';

export interface Announcement {
  event: string;
  /** Relative to the datadir. */
  name: string;
}

export class InotifyUploader {
  readonly announcements: Announcement[] = [];
  /** Names heard of that could not be opened (no such file). */
  readonly unopenable: string[] = [];
  /** Names heard of a second time (after being shipped once). */
  readonly twice: string[] = [];
  private readonly child: ChildProcess;
  private readonly stderr: LineCollector;
  private readonly datadir: string;
  private readonly archive: string;
  private readonly shipped = new Set<string>();

  private constructor(datadir: string, archive: string, ship: boolean) {
    this.datadir = datadir;
    this.archive = archive;
    this.child = spawn('inotifywait', ['-m', '-r', '-e', 'close_write,moved_to', '--format', '%e|%w%f', datadir], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.stderr = new LineCollector(this.child.stderr!);
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.heard(line, ship));
  }

  /** Starts watching `datadir` (which must exist); resolves once every watch is set up. */
  static async start(datadir: string, archive: string, ship = true): Promise<InotifyUploader> {
    const uploader = new InotifyUploader(datadir, archive, ship);
    await waitFor(() => uploader.stderr.lines.some((l) => l.includes('Watches established')) || uploader.child.exitCode !== null, 10_000, 'inotifywait watching');
    if (uploader.child.exitCode !== null) throw new Error(`inotifywait: ${uploader.stderr.text()}`);
    return uploader;
  }

  /** Names shipped, relative to the datadir, sorted. */
  get archived(): string[] {
    return [...this.shipped].sort();
  }

  stop(): void {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
  }

  private heard(line: string, ship: boolean): void {
    const bar = line.indexOf('|');
    if (bar < 0) return;
    const path = line.slice(bar + 1);
    const name = relative(this.datadir, path);
    this.announcements.push({ event: line.slice(0, bar), name });
    if (this.shipped.has(name)) this.twice.push(name);
    if (!existsSync(path)) {
      this.unopenable.push(name);
      return;
    }
    this.shipped.add(name);
    if (!ship) return;
    const to = join(this.archive, name);
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(path, to);
    unlinkSync(path);
  }
}
