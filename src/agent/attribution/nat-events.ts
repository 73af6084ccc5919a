/**
 * Address translations from the kernel's connection tracker, so that a flow the host has NATed
 * (a container's connection masqueraded on the uplink) can be traced back to the socket that made it.
 *
 * `conntrack -E -e NEW` (Debian's conntrack, netlink events; needs CAP_NET_ADMIN) prints each new
 * connection with its original and reply tuples; when the reply tuple is not the original one
 * reversed, the kernel translates it, and the packets leave as the reply tuple reversed.
 */
import { spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { spawnLocal, type ProgramChild, type SpawnProgram } from '../privilege/spawner.js';

/** One direction of a connection: protocol, source and destination. */
export interface Tuple {
  protocol: number;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
}

/** A translated connection: as the process sent it, and as it goes on the wire after translation. */
export interface NatMapping {
  original: Tuple;
  translated: Tuple;
}

/**
 * Parses a line of `conntrack -E` (e.g. `[NEW] tcp 6 120 SYN_SENT src=10.91.0.2 dst=10.82.0.2
 * sport=36070 dport=8080 [UNREPLIED] src=10.82.0.2 dst=10.82.0.1 sport=8080 dport=36070`); null
 * for other lines, other protocols and connections that are not translated.
 */
export function parseNatEvent(line: string): NatMapping | null {
  const m = /^\s*\[NEW\]\s+(tcp|udp)\s+(\d+)\s.*?src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)\s.*?src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)/.exec(line);
  if (m === null) return null;
  const protocol = Number(m[2]);
  const original = { protocol, src: m[3], dst: m[4], srcPort: Number(m[5]), dstPort: Number(m[6]) };
  const reply = { src: m[7], dst: m[8], srcPort: Number(m[9]), dstPort: Number(m[10]) };
  const translated = { protocol, src: reply.dst, srcPort: reply.dstPort, dst: reply.src, dstPort: reply.srcPort };
  const same =
    translated.src === original.src && translated.srcPort === original.srcPort && translated.dst === original.dst && translated.dstPort === original.dstPort;
  return same ? null : { original, translated };
}

let setprivChecked: boolean | null = null;

/** Whether setpriv knows --pdeathsig (util-linux 2.33 and later; Debian 12 has 2.38). */
function hasSetprivPdeathsig(): boolean {
  if (setprivChecked === null) {
    const help = spawnSync('setpriv', ['--help'], { encoding: 'utf8' });
    setprivChecked = help.status === 0 && /--pdeathsig/.test(help.stdout);
  }
  return setprivChecked;
}

export class NatEvents {
  private constructor(private readonly child: ProgramChild) {}

  /**
   * Starts conntrack; rejects with a reason when it cannot run (not installed, no privileges).
   * `spawnProgram`: through the privileged helper (which asks for the death signal itself).
   */
  static async start(onMapping: (mapping: NatMapping) => void, program = 'conntrack', spawnProgram: SpawnProgram | null = null): Promise<NatEvents> {
    // setpriv (util-linux) asks the kernel for SIGTERM to conntrack when the agent dies, however it
    // dies: conntrack would otherwise live on until it next writes into the closed pipe.
    const withDeathSignal = spawnProgram === null && hasSetprivPdeathsig();
    const argv = withDeathSignal ? ['setpriv', '--pdeathsig', 'TERM', '--', program, '-E', '-e', 'NEW'] : [program, '-E', '-e', 'NEW'];
    const child = spawnProgram !== null ? await spawnProgram('conntrack', argv.slice(1)) : spawnLocal('conntrack', argv.slice(1), argv[0]);
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-2048)));
    await new Promise<void>((resolve, reject) => {
      child.once('error', (error: NodeJS.ErrnoException) =>
        reject(new Error(error.code === 'ENOENT' ? `${argv[0]} is not installed: apt-get install ${argv[0] === 'setpriv' ? 'util-linux' : 'conntrack'}` : `cannot start conntrack: ${error.message}`)),
      );
      child.once('exit', (code: number | null) => {
        const last = stderr.trim().split('\n').at(-1) ?? '';
        // setpriv's exec failure: the program itself is missing.
        reject(new Error(code === 127 || /No such file/.test(last) ? `${program} is not installed: apt-get install conntrack` : `conntrack stopped (exit code ${code}): ${last}`));
      });
      // conntrack prints nothing when it is ready; an early exit (no privileges) comes within moments.
      setTimeout(resolve, 300);
    });
    child.removeAllListeners('exit');
    createInterface({ input: child.stdout }).on('line', (line) => {
      const mapping = parseNatEvent(line);
      if (mapping !== null) onMapping(mapping);
    });
    return new NatEvents(child);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}
