// One error type for every operator-facing failure. Callers and tests match on
// `code`, never on the message; the message is the one line an operator reads.
export type ErrorCode =
  | 'PH_ERR_FLAG' // a bad flag or flag value (exit 2)
  | 'PH_ERR_INTERFACE' // an interface that does not exist or cannot be captured
  | 'PH_ERR_CAPTURE' // libpcap refused to open or configure a handle
  | 'PH_ERR_DATADIR' // the output directory cannot be created or written
  | 'PH_ERR_STAGING' // the -stagingdir given cannot be used (not writable, another filesystem)
  | 'PH_ERR_LISTEN' // the metrics listener could not bind
  | 'PH_ERR_PRIVILEGE' // dropping privileges failed
  | 'PH_ERR_INDEX'; // the -index database cannot be opened or created

export class PacketHeadersError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PacketHeadersError';
    this.code = code;
  }
}

/** What common system errors mean to an operator, for one-line messages. */
const ERRNO_WORDS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EEXIST: 'it exists and is not a directory',
  ENOTDIR: 'a part of the path is not a directory',
  ENOENT: 'no such file or directory',
  EISDIR: 'it is a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'name too long',
  EMFILE: 'too many open files',
  EIO: 'input/output error',
};

/** A system error as words with its code in brackets ("permission denied (EACCES)"); other errors by their message. */
export function errorWords(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined && ERRNO_WORDS[code] !== undefined) return `${ERRNO_WORDS[code]} (${code})`;
  if (code !== undefined) return code;
  return error instanceof Error ? error.message : String(error);
}
