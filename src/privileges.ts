// -user: like tcpdump's -Z. Captures (and sockets) are opened as root; then the
// process becomes NAME, with NAME's primary group and supplementary groups, so
// the long-running part of the daemon holds no root privileges.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { PacketHeadersError } from './errors.js';

function idOf(user: string, flag: '-u' | '-g'): number {
  try {
    return Number(execFileSync('id', [flag, user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch {
    throw new PacketHeadersError('PH_ERR_PRIVILEGE', `unknown user "${user}" for flag -user`);
  }
}

/** -user's uid and primary gid (`id`); a PacketHeadersError for an unknown user. */
export function userIds(user: string): { uid: number; gid: number } {
  return { uid: idOf(user, '-u'), gid: idOf(user, '-g') };
}

export function dropPrivileges(user: string, datadir: string): { uid: number; gid: number } {
  const { uid, gid } = userIds(user);
  const posix = process as NodeJS.Process & { initgroups?: (user: string, extraGroup: number) => void };
  if (posix.initgroups === undefined || posix.setgid === undefined || posix.setuid === undefined) {
    throw new PacketHeadersError('PH_ERR_PRIVILEGE', '-user needs a POSIX system');
  }
  try {
    posix.initgroups(user, gid);
    posix.setgid(gid);
    posix.setuid(uid);
  } catch (error) {
    throw new PacketHeadersError('PH_ERR_PRIVILEGE', `cannot become user "${user}" (-user): ${(error as Error).message}`);
  }
  try {
    accessSync(datadir, constants.W_OK);
  } catch {
    throw new PacketHeadersError('PH_ERR_PRIVILEGE', `user "${user}" (-user) cannot write to -datadir "${datadir}"`);
  }
  return { uid, gid };
}
