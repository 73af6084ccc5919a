/**
 * The one error a capture source throws: the file cannot be read as a capture at all (not a pcap or
 * pcapng file, empty, unreadable). Problems inside a readable capture are counted, never thrown.
 */
export class CaptureError extends Error {
  override readonly name = 'CaptureError';
  /** The path (or label) of the capture that could not be read. */
  readonly path: string;

  /** Builds the one-line message `Cannot read capture "<path>": <reason>`. */
  constructor(path: string, reason: string, options?: { cause?: unknown }) {
    super(`Cannot read capture ${JSON.stringify(path)}: ${reason}`, options);
    this.path = path;
  }
}

/** The OS reason of a Node.js system error, without the syscall and path Node appends ("ENOENT: no such file or directory"). */
export function osReason(err: unknown): string {
  if (err instanceof Error) {
    const e = err as NodeJS.ErrnoException;
    let message = e.message.split('\n')[0];
    if (e.syscall) {
      const cut = message.indexOf(`, ${e.syscall}`);
      if (cut > 0) message = message.slice(0, cut);
    }
    return message;
  }
  return String(err);
}
