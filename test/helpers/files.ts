// Files a test finds under a directory.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Every file under dir, at any depth (none if dir is missing). */
export function walkFiles(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => (e.isDirectory() ? walkFiles(join(dir, e.name)) : [join(dir, e.name)]));
}
