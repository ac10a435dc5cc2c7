// One error type for every operator-facing failure. Callers and tests match on
// `code`, never on the message; the message is the one line an operator reads.
export type ErrorCode =
  | 'PH_ERR_FLAG' // a bad flag or flag value (exit 2)
  | 'PH_ERR_INTERFACE' // an interface that does not exist or cannot be captured
  | 'PH_ERR_CAPTURE' // libpcap refused to open or configure a handle
  | 'PH_ERR_DATADIR' // the output directory cannot be created or written
  | 'PH_ERR_LISTEN' // the metrics listener could not bind
  | 'PH_ERR_PRIVILEGE'; // dropping privileges failed

export class PacketHeadersError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PacketHeadersError';
    this.code = code;
  }
}
