/**
 * Live OSPF snooping on an interface (`--from if:NAME`): tcpdump captures IP protocol 89 on it and
 * writes pcap to a pipe, which is read as it arrives into a link-state database, for a set time or
 * until stopped. Only what is flooded on that link while listening is heard (docs/topo.md): on a
 * LAN, about two thirds of the area's LSAs until every router has refreshed its own (30 minutes,
 * RFC 2328 §12.4 LSRefreshTime).
 *
 * tcpdump and not a capture of our own: it opens the interface with the privileges it needs, drops
 * them (-Z), and is in every Debian; OSPF is a few packets a second, so the pipe costs nothing.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { openCaptureStream } from '../../capture/index.js';
import { IssueCounter } from '../../common/issue-counter.js';
import { collectOspf, type OspfCapture } from './ospf-capture.js';

export interface ListenOptions {
  /** How long to listen, ms. */
  durationMs: number;
  /** Stops listening early (Ctrl-C); what was heard is kept. */
  signal?: AbortSignal;
  /** Called once tcpdump listens. */
  onListening?: () => void;
}

/** An interface name as Linux allows it (at most 15 bytes, no slash or space). */
const INTERFACE = /^[A-Za-z0-9_.:@-]{1,15}$/;

/** Listens on `interfaceName` and returns the database it heard; errors name what is wrong in one line. */
export async function listenOspf(interfaceName: string, options: ListenOptions): Promise<OspfCapture> {
  if (!INTERFACE.test(interfaceName)) throw new RangeError(`Cannot listen on ${JSON.stringify(interfaceName)}: not an interface name`);
  const child = spawn('tcpdump', ['-i', interfaceName, '-U', '--immediate-mode', '-s', '65535', '-w', '-', 'ip proto 89'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let listening = false;
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    if (!listening && /listening on/.test(stderr)) {
      listening = true;
      options.onListening?.();
    }
  });
  const spawned = once(child, 'spawn').then(
    () => null,
    (error: NodeJS.ErrnoException) => error,
  );
  const failure = await spawned;
  if (failure) {
    throw new RangeError(failure.code === 'ENOENT' ? 'Cannot listen on an interface without tcpdump: apt-get install tcpdump' : `Cannot start tcpdump: ${failure.message}`);
  }
  const stop = (): void => void child.kill('SIGTERM');
  const timer = setTimeout(stop, options.durationMs);
  options.signal?.addEventListener('abort', stop, { once: true });
  // If this process ends first, tcpdump goes with it.
  process.once('exit', stop);
  const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  try {
    const issues = new IssueCounter();
    const source = await openCaptureStream(child.stdout, issues, undefined, `tcpdump on ${interfaceName}`).catch(async (error: Error) => {
      await exited;
      throw new RangeError(`Cannot listen on ${interfaceName}: ${complaint(stderr, interfaceName) || error.message}`);
    });
    const heard = await collectOspf(source, issues);
    const [code, signal] = await exited;
    if (!listening && code !== 0 && signal === null) throw new RangeError(`Cannot listen on ${interfaceName}: ${complaint(stderr, interfaceName) || `tcpdump exited with ${code}`}`);
    return heard;
  } finally {
    clearTimeout(timer);
    process.removeListener('exit', stop);
    options.signal?.removeEventListener('abort', stop);
    stop();
  }
}

/** tcpdump's first complaint, without its name and the interface's ("tcpdump: eth9: No such device exists"). */
function complaint(text: string, interfaceName: string): string {
  const line = text.trim().split('\n').find((l) => l.startsWith('tcpdump: ') && !/listening on/.test(l)) ?? '';
  return line.replace(/^tcpdump: /, '').replace(`${interfaceName}: `, '');
}
